"""BUG: the inputs were zeroed by a preprocessing mistake: every sample is identical."""
from zoo_data import blobs, mlp


def build_model(hp):
    return mlp([64, 64])


def load_data():
    (xt, yt), (xv, yv) = blobs()
    return (xt * 0, yt), (xv * 0, yv)
