"""A neighbour module: task files can import the modules that sit next to them."""

from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max-pool."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
    )
