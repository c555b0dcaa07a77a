"""What the model is fed: per-channel (per-feature) input statistics.

Shared by check-init (which reports them) and check-loss (which uses them to
trace a NaN loss, or a loss far above log C, back to the inputs).

Statistics are taken per channel for images (dim 1, reduced over batch and
space) and per feature for flat samples, on the training split as the engine
sees it (after ``--hp normalize``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from tuner.checks.sampling import sample_inputs
from tuner.data import Data, TensorData, channel_axes
from tuner.findings import Finding

# In-memory data is cheap to read; a Dataset may decode files, so read fewer.
STATS_SAMPLES, DATASET_STATS_SAMPLES = 4096, 1024
# A normalised feature has mean ~0 and std ~1; these bounds leave room for
# data scaled to [0, 1] or [-1, 1] (fine in practice) but catch raw units.
MEAN_LIMIT = 2.0
STD_HIGH = 4.0
STD_LOW = 0.1
CONSTANT_STD = 1e-6


@dataclass
class InputStats:
    """Per-channel statistics of a sample of training inputs."""

    samples: int
    shape: tuple[int, ...]
    channels: int
    non_finite: int
    non_finite_channels: list[int]
    mean: list[float]
    std: list[float]
    constant: list[int]
    far: list[int]

    @property
    def all_constant(self) -> bool:
        """Every channel holds one value for every sample: no signal at all."""
        return self.channels > 0 and len(self.constant) == self.channels

    @property
    def normalised(self) -> bool:
        return not self.far

    def worst(self) -> int | None:
        """The channel furthest from mean 0, std 1 (among the non-constant ones)."""
        if not self.far:
            return None
        return max(self.far, key=lambda c: max(abs(self.mean[c]), self.std[c], 1 / max(self.std[c], 1e-12)))

    def summary(self) -> dict:
        """The key numbers, for a result's metrics (per-channel lists only when short)."""
        d = asdict(self)
        finite_mean = [m for m in self.mean if math.isfinite(m)]
        finite_std = [s for s in self.std if math.isfinite(s)]
        d["mean_range"] = [min(finite_mean), max(finite_mean)] if finite_mean else None
        d["std_range"] = [min(finite_std), max(finite_std)] if finite_std else None
        if self.channels > 16:
            del d["mean"], d["std"]
        return d


def input_stats(data: Data, seed: int, max_samples: int | None = None) -> InputStats:
    """Statistics of up to ``max_samples`` training inputs drawn at random (seeded)."""
    if max_samples is None:
        max_samples = STATS_SAMPLES if isinstance(data, TensorData) else DATASET_STATS_SAMPLES
    x = sample_inputs(data, max_samples, seed).double()
    finite = torch.isfinite(x)
    axes = channel_axes(x)
    bad = (~finite).sum(dim=axes) if x.dim() > 1 else (~finite).sum().reshape(1)
    non_finite_channels = [int(c) for c in torch.nonzero(bad).flatten()]
    # Statistics over the finite values only, so one NaN does not hide the rest.
    clean = torch.where(finite, x, torch.zeros_like(x))
    count = finite.sum(dim=axes).clamp(min=1)
    mean = clean.sum(dim=axes) / count
    centred = torch.where(finite, x - mean.reshape(shape_for(x)), torch.zeros_like(x))
    std = (centred.pow(2).sum(dim=axes) / (count - 1).clamp(min=1)).sqrt()
    mean_l, std_l = [float(v) for v in mean.flatten()], [float(v) for v in std.flatten()]
    constant = [c for c, s in enumerate(std_l) if s <= CONSTANT_STD * (1 + abs(mean_l[c]))]
    far = [c for c, (m, s) in enumerate(zip(mean_l, std_l))
           if c not in constant and (abs(m) > MEAN_LIMIT or s > STD_HIGH or s < STD_LOW)]
    return InputStats(len(x), tuple(x.shape[1:]), len(mean_l), int((~finite).sum()),
                      non_finite_channels, mean_l, std_l, constant, far)


def shape_for(x: torch.Tensor) -> tuple[int, ...]:
    """The shape that broadcasts per-channel values back over ``x``."""
    return (1, -1) + (1,) * (x.dim() - 2) if x.dim() > 1 else (1,)


def input_findings(stats: InputStats, *, normalize_flag: bool) -> list[Finding]:
    """Findings about the inputs: NaN/inf, no signal, constant features, scale."""
    unit = "channel" if len(stats.shape) > 1 else "feature"
    findings: list[Finding] = []
    if stats.non_finite:
        where = ", ".join(str(c) for c in stats.non_finite_channels[:8])
        findings.append(Finding(
            "inputs-nan", "fail",
            f"{stats.non_finite} NaN/inf input values in {len(stats.non_finite_channels)} {unit}(s) "
            f"({unit} {where}) among {stats.samples} training samples",
            "fix or drop those samples (e.g. impute missing values, then normalise); "
            "a single NaN input turns the loss and every weight NaN"))
    if stats.all_constant:
        findings.append(Finding(
            "inputs-constant", "fail",
            f"every input {unit} is constant across the {stats.samples} samples: the inputs carry "
            "no information about the labels",
            "check the data loading (an all-zero tensor, a wrong column or scaling to 0)"))
    elif stats.constant:
        share = len(stats.constant) / stats.channels
        listed = ", ".join(str(c) for c in stats.constant[:8]) + (" ..." if len(stats.constant) > 8 else "")
        findings.append(Finding(
            "constant-features", "warn" if share >= 0.5 else "info",
            f"{len(stats.constant)} of {stats.channels} input {unit}s are constant ({unit} {listed})",
            "they carry no signal; drop them if that is unexpected"))
    worst = stats.worst()
    if worst is not None:
        findings.append(Finding(
            "inputs-not-normalised", "warn",
            f"{len(stats.far)} of {stats.channels} input {unit}s are far from mean 0, std 1; "
            f"worst: {unit} {worst} has mean {stats.mean[worst]:.3g}, std {stats.std[worst]:.3g}",
            "normalise each input " + unit + " with the training split's statistics, "
            "x = (x - mean) / std" + ("" if normalize_flag else
                                      " (--hp normalize=true makes tune do it)")))
    return findings
