"""BUG: raw-unit inputs (mean ~200, std ~50), never normalised."""
from zoo_data import blobs, mlp


def build_model(hp):
    return mlp([64, 64])


def load_data():
    (xt, yt), (xv, yv) = blobs()
    return (xt * 50 + 200, yt), (xv * 50 + 200, yv)
