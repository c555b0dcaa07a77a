"""BUG: a filtering mistake left only one class in the training split."""
from zoo_data import blobs, mlp

num_classes = 4


def build_model(hp):
    return mlp([64])


def load_data():
    (xt, yt), val = blobs()
    keep = yt == 2
    return (xt[keep], yt[keep]), val
