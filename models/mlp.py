"""A multi-layer perceptron: Flatten, then ``depth`` x (Linear, ReLU, Dropout), then a Linear head.

Dropout off is an ``nn.Identity`` in its place, so the weights' names do not depend on it."""

from __future__ import annotations

import math

from torch import nn

from models.shape import declare_shape
from models.init import declare_init, initialise


def build_mlp(hp, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    width, depth, dropout = declare_shape(hp, width=(32, 1024, 256), depth=(1, 4, 2))
    scheme, scale = declare_init(hp)

    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        # Identity where dropout is off keeps the layers' names (their indices) the same at
        # any dropout, so pretrained weights load whatever dropout a search tries.
        layers += [nn.Linear(fan_in, width), nn.ReLU(), nn.Dropout(dropout) if dropout > 0 else nn.Identity()]
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    model = nn.Sequential(*layers)
    initialise(model, scheme, scale)
    return model
