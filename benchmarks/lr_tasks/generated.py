"""Generated data and models for the harder cases of ``benchmarks/lr_suggestion.py``.

Everything is made by code with fixed seeds (no downloads), so every run of
the benchmark sees the same samples:

* ``shapes``: 16x16 grey images of eight shapes (disk, ring, square, frame,
  triangle, plus, cross, two bars) at random positions and sizes, on a random
  brightness gradient, with strong pixel noise; a CNN takes several epochs
  to separate the outlines from the filled shapes.
* ``gratings``: 3x16x16 colour images of sinusoidal gratings, eight classes
  (four orientations x two frequencies) with random phase, colour and
  contrast, buried in noise.
* ``spirals``: five interleaved 2-D spiral arms with noise, which a network
  needs depth to carve up;
* ``tabular``: the benchmark's scikit-learn ``make_classification`` set.

Each generator returns ``((x_train, y_train), (x_val, y_val))`` as tensors,
normalised with the training statistics, and is cached per process (task
files import this module once, then every ``prepare`` reuses the arrays).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

Split = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _tensors(x: np.ndarray, y: np.ndarray, n_train: int, channel_axes: tuple[int, ...]) -> Split:
    xt, xv = x[:n_train], x[n_train:]
    mean = xt.mean(axis=channel_axes, keepdims=True)
    std = xt.std(axis=channel_axes, keepdims=True) + 1e-6
    to = lambda a, b: (torch.tensor((a - mean) / std, dtype=torch.float32),
                       torch.tensor(b, dtype=torch.long))
    return to(xt, y[:n_train]), to(xv, y[n_train:])


def _shape_mask(kind: int, size: int, cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # rotated coordinates
    d = np.hypot(dx, dy)
    w = max(1.0, r / 3)  # stroke width
    if kind == 0:  # disk
        return d <= r
    if kind == 1:  # ring
        return (d <= r) & (d >= r - w)
    if kind == 2:  # filled square
        return (np.abs(u) <= r * 0.8) & (np.abs(v) <= r * 0.8)
    if kind == 3:  # square frame
        inside = (np.abs(u) <= r * 0.8) & (np.abs(v) <= r * 0.8)
        return inside & ~((np.abs(u) <= r * 0.8 - w) & (np.abs(v) <= r * 0.8 - w))
    if kind == 4:  # triangle
        return (v <= r * 0.6) & (v >= -r + 2 * np.abs(u) * 0.9)
    if kind == 5:  # plus
        return ((np.abs(u) <= w / 2 + 0.3) & (np.abs(v) <= r)) | ((np.abs(v) <= w / 2 + 0.3) & (np.abs(u) <= r))
    if kind == 6:  # diagonal cross
        a, b = (u + v) / np.sqrt(2), (u - v) / np.sqrt(2)
        return ((np.abs(a) <= w / 2 + 0.3) & (np.abs(b) <= r)) | ((np.abs(b) <= w / 2 + 0.3) & (np.abs(a) <= r))
    # two parallel bars
    return (np.abs(np.abs(v) - r / 2) <= w / 2 + 0.3) & (np.abs(u) <= r)


@lru_cache(maxsize=None)
def shapes(n_train: int = 4000, n_val: int = 1000, size: int = 16, noise: float = 0.45,
           seed: int = 0) -> Split:
    """Eight noisy shapes on 1x16x16 images (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val
    y = rng.integers(0, 8, n)
    x = np.empty((n, 1, size, size), dtype=np.float64)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        r = rng.uniform(3.0, 6.0)
        cy, cx = rng.uniform(r, size - 1 - r, 2) if r < size / 2 - 1 else (size / 2, size / 2)
        mask = _shape_mask(int(y[i]), size, cy, cx, r, rng.uniform(0, np.pi / 2))
        gy, gx = rng.normal(0, 0.5, 2)
        background = gy * yy + gx * xx
        contrast = rng.uniform(0.7, 1.3) * rng.choice([-1.0, 1.0])
        x[i, 0] = background + contrast * mask + rng.normal(0, noise, (size, size))
    return _tensors(x, y, n_train, (0, 2, 3))


@lru_cache(maxsize=None)
def gratings(n_train: int = 4000, n_val: int = 1000, size: int = 16, noise: float = 2.0,
             seed: int = 1) -> Split:
    """Eight classes of noisy colour gratings on 3x16x16 images (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val
    y = rng.integers(0, 8, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    x = np.empty((n, 3, size, size), dtype=np.float64)
    for i in range(n):
        angle = (y[i] % 4) * np.pi / 4 + rng.normal(0, 0.12)
        freq = (0.35 if y[i] < 4 else 0.7) * rng.uniform(0.85, 1.15)
        wave = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
        colour = rng.uniform(0.3, 1.0, 3) * rng.uniform(0.5, 1.2)
        x[i] = colour[:, None, None] * wave + rng.normal(0, noise, (3, size, size))
    return _tensors(x, y, n_train, (0, 2, 3))


@lru_cache(maxsize=None)
def spirals(n_train: int = 8000, n_val: int = 2000, arms: int = 5, noise: float = 0.25,
            seed: int = 2) -> Split:
    """Five interleaved 2-D spiral arms (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val
    y = rng.integers(0, arms, n)
    t = rng.uniform(0.3, 1.0, n) ** 0.5 * 3 * np.pi
    phase = 2 * np.pi * y / arms
    radius = t / (3 * np.pi) * 4
    x = np.stack([radius * np.cos(t + phase), radius * np.sin(t + phase)], axis=1)
    x += rng.normal(0, noise, x.shape)
    return _tensors(x, y, n_train, (0,))


@lru_cache(maxsize=None)
def tabular(n: int = 3000, n_val: int = 600) -> Split:
    """The benchmark's 20-feature, 5-class tabular set (scikit-learn's make_classification,
    random_state 0), its last ``n_val`` rows held out for validation."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=20, n_informative=10, n_classes=5,
                               n_clusters_per_class=2, random_state=0)
    return _tensors(x, y, n - n_val, (0,))


def cnn(channels: int, classes: int, *, batchnorm: bool, width: int = 16) -> nn.Module:
    """Four 3x3 conv layers (two 2x2 poolings), optionally with BatchNorm, then a Linear head."""
    def block(cin: int, cout: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(cout))
        return layers + [nn.ReLU()]

    return nn.Sequential(*block(channels, width), *block(width, width), nn.MaxPool2d(2),
                         *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * width * 4 * 4, classes))


def mlp(inputs: int, classes: int, *, depth: int, width: int, batchnorm: bool = False,
        dropout: float = 0.0) -> nn.Module:
    """``depth`` x (Linear, [BatchNorm], ReLU, [Dropout]) and a Linear head; PyTorch's default init."""
    layers: list[nn.Module] = []
    fan_in = inputs
    for _ in range(depth):
        layers.append(nn.Linear(fan_in, width, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, classes))
    return nn.Sequential(*layers)
