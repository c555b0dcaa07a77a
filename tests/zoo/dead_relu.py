"""BUG: hidden biases start at -10, so every ReLU outputs 0 for every input."""
from torch import nn

from zoo_data import blobs, mlp


def build_model(hp):
    model = mlp([64, 64])
    for m in list(model.modules())[1:-1]:
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, -10.0)
    return model


def load_data():
    return blobs()
