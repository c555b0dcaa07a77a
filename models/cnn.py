"""A small convolutional net: ``depth`` 3x3 conv + ReLU layers of ``width``
channels, halving the resolution after every second layer while it is at
least 4 pixels, then flatten, dropout and a Linear head.

Flattening (rather than global average pooling) keeps where a stroke is,
which matters on small images such as the 8x8 digits."""

from __future__ import annotations

from torch import nn

from models.shape import declare_shape
from models.init import declare_init, initialise
from tuner.errors import TuneError


def build_cnn(hp, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    width, depth, dropout = declare_shape(hp, width=(8, 256, 32), depth=(1, 6, 2))
    scheme, scale = declare_init(hp)
    if len(input_shape) != 3:
        raise TuneError(f"--model cnn needs images (channels, height, width); "
                        f"these samples have shape {tuple(input_shape)}",
                        "use --model mlp for flat features")

    channels, (height, wide) = input_shape[0], input_shape[1:]
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        channels = width
        if i % 2 == 1 and min(height, wide) >= 4:
            layers.append(nn.MaxPool2d(2))
            height, wide = height // 2, wide // 2
    # Identity where dropout is off: the head's name is the same at any dropout.
    layers += [nn.Flatten(), nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
               nn.Linear(channels * height * wide, num_classes)]
    model = nn.Sequential(*layers)
    initialise(model, scheme, scale)
    return model
