"""A multi-layer perceptron: Flatten, then ``depth`` x (Linear, ReLU, Dropout), then a Linear head."""

from __future__ import annotations

import math

from torch import nn

from models.init import declare_init, initialise


def build_mlp(hp, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    width = hp.int("width", 32, 1024, log=True, default=256, role="capacity")
    depth = hp.int("depth", 1, 4, default=2, role="capacity")
    dropout = hp.float("dropout", 0.0, 0.5, default=0.0, role="regularization")
    scheme, scale = declare_init(hp)

    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    model = nn.Sequential(*layers)
    initialise(model, scheme, scale)
    return model
