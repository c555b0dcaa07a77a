"""Data shared by the bug-zoo task files: well separated Gaussian blobs.

Deterministic (fixed seeds), normalised per feature unless a broken task
undoes it on purpose, small enough for every check to run in well under a
second.
"""

import numpy as np
import torch

DIM, CLASSES = 16, 4


def blobs(n_train=400, n_val=100, dim=DIM, classes=CLASSES, weights=None, seed=0):
    """``((x_train, y_train), (x_val, y_val))``: one Gaussian cloud per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 1.5

    def draw(n):
        y = rng.choice(classes, size=n, p=weights)
        return centres[y] + rng.normal(size=(n, dim)), y

    (xt, yt), (xv, yv) = draw(n_train), draw(n_val)
    mean, std = xt.mean(axis=0), xt.std(axis=0)
    xt, xv = (xt - mean) / std, (xv - mean) / std
    as_t = lambda x, y: (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long))
    return as_t(xt, yt), as_t(xv, yv)


def mlp(widths, *, out=CLASSES, act=torch.nn.ReLU):
    """Linear + activation for each width, then a Linear head (PyTorch's default init)."""
    layers, fan_in = [], DIM
    for w in widths:
        layers += [torch.nn.Linear(fan_in, w), act()]
        fan_in = w
    layers.append(torch.nn.Linear(fan_in, out))
    return torch.nn.Sequential(*layers)


def normal_init(model, std):
    """Every Linear weight drawn from N(0, std^2), biases zero: one fixed scale for all layers."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=std)
            torch.nn.init.zeros_(m.bias)
    return model
