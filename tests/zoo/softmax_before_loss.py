"""BUG: the model ends in a softmax, and the loss is cross-entropy (which applies its own)."""
from torch import nn

from zoo_data import blobs, mlp


def build_model(hp):
    return nn.Sequential(mlp([64, 64]), nn.Softmax(dim=1))


def load_data():
    return blobs()
