"""Seeded samples of training data for the checks.

Data files are often sorted by class, so the checks never look at "the first
batch": they draw a random one with the run's seed (the same seed, the same
sample). A Dataset-based split is read once, through its transform, into
memory, which also freezes any random augmentation for the check.
"""

from __future__ import annotations

import torch

from tuner.data import Batch, Data, TensorData


def random_indices(n_total: int, n: int, seed: int) -> torch.Tensor:
    """``n`` distinct indices in ``[0, n_total)``, drawn with ``seed``, in drawn order."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=generator)[:min(n, n_total)]


def materialise(data: Data, indices: torch.Tensor, device: torch.device | None = None) -> TensorData:
    """The samples at ``indices`` as in-memory tensors (read once, transforms applied)."""
    part = data.subset(indices)
    if isinstance(part, TensorData):
        return part.to(device) if device is not None else part
    xs, ys = [], []
    for xb, yb in part.batches(256, shuffle=False, device=device):
        xs.append(xb)
        ys.append(yb)
    return TensorData(torch.cat(xs), torch.cat(ys).long())


def sample_batch(data: Data, n: int, seed: int, device: torch.device | None = None) -> Batch:
    """A random batch of ``n`` training samples (fewer if the split is smaller)."""
    part = materialise(data, random_indices(len(data), n, seed), device)
    return part.x, part.y


def sample_inputs(data: Data, n: int, seed: int) -> torch.Tensor:
    """Up to ``n`` random inputs; all of them when the split is no larger."""
    if isinstance(data, TensorData) and len(data) <= n:
        return data.x
    return sample_batch(data, n, seed)[0]
