"""HEALTHY: a deep (8 hidden layers) ReLU net with Kaiming-normal init: the scale holds."""
from torch import nn

from zoo_data import blobs, mlp


def build_model(hp):
    model = mlp([128] * 8)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def load_data():
    return blobs()
