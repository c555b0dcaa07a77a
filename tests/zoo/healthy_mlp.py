"""HEALTHY: a plain two-hidden-layer MLP with PyTorch's default initialisation."""
from zoo_data import blobs, mlp


def build_model(hp):
    return mlp([hp.int("width", 16, 256, log=True, default=64)] * 2)


def load_data():
    return blobs()
