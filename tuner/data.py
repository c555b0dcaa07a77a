"""Training data as the engine sees it: batching, normalisation, subsets.

Two shapes of data, one interface:

* :class:`TensorData` holds ``x`` and ``y`` in memory. Batches are taken by
  indexing with a shuffled permutation: no per-sample Python, no per-epoch
  copy of the data set. It lives on the training device once moved there.
* :class:`DatasetData` wraps a ``torch.utils.data.Dataset`` and batches it
  through a ``DataLoader`` (so per-sample transforms and augmentation work).

Neither ends an epoch on a batch of one sample (65 samples in batches of 64):
that lone sample joins the batch before it (a batch of 65). BatchNorm cannot
train on one sample ("Expected more than 1 value per channel"), and merging,
unlike dropping it as ``drop_last`` would, keeps every sample in every epoch,
so an epoch's loss and accuracy cover the whole training set and
overfit-small's subset is what it trains on. It changes one batch per epoch,
so it costs nothing in the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler, Subset

Batch = tuple[torch.Tensor, torch.Tensor]
BatchTransform = Callable[[torch.Tensor], torch.Tensor]


def batch_bounds(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each batch of ``n`` samples, a last lone sample joined
    to the batch before it (see the module docstring)."""
    for start in range(0, n, batch_size):
        stop = start + batch_size
        if stop == n - 1 and batch_size > 1:
            yield start, n
            return
        yield start, min(stop, n)


def batch_count(n: int, batch_size: int) -> int:
    """How many batches :func:`batch_bounds` makes of ``n`` samples."""
    count = -(-n // batch_size)
    return count - 1 if count > 1 and n % batch_size == 1 else count


@dataclass
class TensorData:
    """In-memory inputs ``x`` (N, ...) and integer labels ``y`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def labels(self) -> torch.Tensor:
        return self.y.cpu()

    def subset(self, indices: torch.Tensor) -> "TensorData":
        idx = indices.to(self.x.device)
        return TensorData(self.x[idx], self.y[idx])

    def to(self, device: torch.device) -> "TensorData":
        return TensorData(self.x.to(device), self.y.to(device))

    def map_x(self, fn: BatchTransform) -> "TensorData":
        return TensorData(fn(self.x), self.y)

    def batches(self, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                device: torch.device | None = None) -> Iterator[Batch]:
        x, y = self.x, self.y
        if device is not None and x.device != device:
            x, y = x.to(device), y.to(device)
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(x.device)
            for start, stop in batch_bounds(n, batch_size):
                idx = order[start:stop]
                yield x[idx], y[idx]
        else:
            for start, stop in batch_bounds(n, batch_size):
                yield x[start:stop], y[start:stop]


@dataclass
class DatasetData:
    """A map-style Dataset of ``(x, y)`` pairs, with an optional batch transform."""

    dataset: Dataset
    transform: BatchTransform | None = None
    _labels: torch.Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def labels(self) -> torch.Tensor:
        """All labels, read once (from ``.targets`` when the Dataset has it)."""
        if self._labels is None:
            targets = getattr(self.dataset, "targets", None)
            if targets is not None and len(targets) == len(self):
                self._labels = torch.as_tensor(np.asarray(targets))
            else:
                self._labels = torch.as_tensor([int(self.dataset[i][1]) for i in range(len(self))])
        return self._labels

    def subset(self, indices: torch.Tensor) -> "DatasetData":
        idx = indices.tolist()
        sub = DatasetData(Subset(self.dataset, idx), self.transform)
        if self._labels is not None:
            sub._labels = self._labels[indices]
        return sub

    def to(self, device: torch.device) -> "DatasetData":
        return self  # batches move to the device as they are drawn

    def map_x(self, fn: BatchTransform) -> "DatasetData":
        inner = self.transform
        return DatasetData(self.dataset, fn if inner is None else (lambda x: fn(inner(x))),
                           self._labels)

    def batches(self, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                device: torch.device | None = None) -> Iterator[Batch]:
        n = len(self)
        order: Sampler[int] = (RandomSampler(self.dataset, generator=generator) if shuffle
                               else SequentialSampler(self.dataset))  # what shuffle= would use
        loader = DataLoader(self.dataset, batch_sampler=_MergedLastBatches(order, n, batch_size),
                            num_workers=0, pin_memory=device is not None and device.type == "cuda")
        for xb, yb in loader:
            if device is not None:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, yb


class _MergedLastBatches(Sampler[list[int]]):
    """Index batches from ``order`` as :func:`batch_bounds` cuts them."""

    def __init__(self, order: Sampler[int], n: int, batch_size: int) -> None:
        self.order, self.n, self.batch_size = order, n, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.order)
        for start, stop in batch_bounds(len(indices), self.batch_size):
            yield indices[start:stop]

    def __len__(self) -> int:
        return batch_count(self.n, self.batch_size)


Data = Union[TensorData, DatasetData]


def first_batch(data: Data, batch_size: int, device: torch.device | None = None) -> Batch:
    """The first ``batch_size`` samples, unshuffled."""
    return next(iter(data.batches(batch_size, shuffle=False, device=device)))


# --- normalisation -----------------------------------------------------------

def channel_axes(x: torch.Tensor) -> tuple[int, ...]:
    """Axes to reduce for per-channel statistics: all but dim 1 (the channel or
    feature axis); for 1-D samples, all of them."""
    return (0,) if x.dim() <= 2 else (0,) + tuple(range(2, x.dim()))


@dataclass(frozen=True)
class Normalizer:
    """Per-channel ``(x - mean) / std``, with statistics from the training split."""

    mean: torch.Tensor
    std: torch.Tensor

    @staticmethod
    def fit(data: Data, max_samples: int = 50_000) -> "Normalizer":
        if isinstance(data, TensorData):
            x = data.x[:max_samples].double()
        else:
            chunks, seen = [], 0
            for xb, _ in data.batches(512, shuffle=False):
                chunks.append(xb.double())
                seen += len(xb)
                if seen >= max_samples:
                    break
            x = torch.cat(chunks)
        axes = channel_axes(x)
        mean = x.mean(dim=axes, keepdim=True)[0]
        std = x.std(dim=axes, keepdim=True)[0]
        # A constant channel has std 0: leave its scale alone rather than divide by 0.
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        return Normalizer(mean.float(), std.float())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


# --- subsets and splits --------------------------------------------------------

def stratified_indices(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` indices drawn so that every class keeps its share (at least one each)."""
    y = labels.cpu().numpy()
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    n = min(n, len(y))
    quota = np.maximum(1, np.floor(counts / len(y) * n)).astype(int)
    # Hand out what rounding left, largest classes first.
    for i in np.argsort(-counts):
        if quota.sum() >= n:
            break
        quota[i] += 1
    picks = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]
    return torch.as_tensor(np.sort(np.concatenate(picks)))


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices with the class proportions of ``labels``."""
    y = labels.cpu().numpy()
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val.append(idx[:k])
        train.append(idx[k:])
    return torch.as_tensor(np.sort(np.concatenate(train))), torch.as_tensor(np.sort(np.concatenate(val)))
