"""An example task file: a small CNN on scikit-learn's 8x8 digits.

Run it with any command, for example::

    tune train --task examples/digits_cnn.py --hp channels=32 --hp epochs=10
    tune run --task examples/digits_cnn.py

A task file is a plain Python module. tune needs two functions from it:

* ``build_model(hp)`` returns a fresh ``torch.nn.Module``. Ask ``hp`` for the
  model's own hyperparameters: each call declares one (its range is the search
  space) and returns the value to use now (a ``--hp`` override, the default,
  or, inside ``tune search``, Optuna's suggestion).
* ``load_data()`` returns ``(train, val)``: each either an ``(X, y)`` pair of
  tensors/arrays (fastest: batched by indexing, in memory) or a
  ``torch.utils.data.Dataset`` yielding ``(x, y)`` (batched by a DataLoader).

Optional: ``loss_fn(outputs, targets)`` (default cross-entropy) and
``num_classes`` (default: the largest label + 1).

Training hyperparameters (lr, optimizer, weight_decay, batch_size, epochs, ...)
are tune's, not the task's: do not declare them here.
"""

import numpy as np
import torch
from torch import nn

from helpers import conv_block  # a module next to this file

num_classes = 10


def build_model(hp) -> nn.Module:
    channels = hp.int("channels", 8, 64, log=True, default=16)  # log: try 8, 16, 32, 64 evenly
    dropout = hp.float("dropout", 0.0, 0.5, default=0.1)
    head = hp.choice("head", ["linear", "mlp"], default="linear")
    layers = [conv_block(1, channels), nn.Flatten()]  # 8x8 -> 4x4
    features = channels * 4 * 4
    if head == "mlp":
        layers += [nn.Linear(features, 128), nn.ReLU()]
        features = 128
    layers += [nn.Dropout(dropout), nn.Linear(features, num_classes)]
    return nn.Sequential(*layers)


def load_data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Scale to roughly zero mean, unit variance: task data is not normalised by tune
    # unless you pass --hp normalize=true.
    x = (digits.images.astype(np.float32) - 4.9) / 6.0
    x = torch.from_numpy(x).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(digits.target).long()
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    val, train = order[:360], order[360:]
    return (x[train], y[train]), (x[val], y[val])


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # The default; shown here because you may replace it (e.g. label smoothing).
    return nn.functional.cross_entropy(outputs, targets)
