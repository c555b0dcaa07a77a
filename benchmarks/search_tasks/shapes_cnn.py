"""A search task where short trials mislead: a small CNN on noisy generated shapes.

A task file of ``benchmarks/search_efficiency.py``. The images are
``benchmarks/lr_tasks/generated.py``'s ``shapes`` (eight shapes, outlines and
filled, at random positions, sizes and contrasts on a random gradient, in
strong pixel noise; fixed seed, no downloads), 2500 for training and 1000 for
validation: few enough that a CNN needs several epochs to separate the
outlines from the filled shapes, so a 1-3 epoch ranking favours fast starters.

The model declares its ``width`` (capacity) and ``dropout`` (regularisation);
the samples are images, so the default space searches augmentation too.
"""

import sys
from pathlib import Path

from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lr_tasks"))
from generated import shapes  # noqa: E402

num_classes = 8


def build_model(hp) -> nn.Module:
    width = hp.int("width", 8, 32, log=True, default=16, role="capacity")
    dropout = hp.float("dropout", 0.0, 0.5, default=0.0, role="regularization")

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]

    return nn.Sequential(*block(1, width), *block(width, width), nn.MaxPool2d(2),   # 16 -> 8
                         *block(width, 2 * width), nn.MaxPool2d(2),                  # 8 -> 4
                         nn.Flatten(), nn.Dropout(dropout),
                         nn.Linear(2 * width * 4 * 4, num_classes))


def load_data():
    return shapes(n_train=2500, n_val=1000)
