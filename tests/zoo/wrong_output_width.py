"""BUG: four classes, but the last layer has three outputs."""
from zoo_data import blobs, mlp


def build_model(hp):
    return mlp([64], out=3)


def load_data():
    return blobs()
