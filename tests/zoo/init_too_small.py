"""BUG: a deep ReLU net initialised with std 0.01: activations vanish with depth."""
from torch import nn

from zoo_data import blobs, mlp


def build_model(hp):
    model = mlp([256] * 6)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    return model


def load_data():
    return blobs()
