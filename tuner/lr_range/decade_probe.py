"""The decade probe: a few LRs a decade apart, each trained briefly from the
same initial weights, classified by what the loss did.

This is the coarse look before the range test: it answers "which decade is
sane at all" with real (if short) training, so a range-test suggestion in an
exploding decade can be caught.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from torch import nn

from tuner.data import Data, stratified_indices
from tuner.engine import Trainer, endless_batches, evaluate
from tuner.lr_range.sweep import SYNC_EVERY, preserved, sweep_params
from tuner.params import TrainParams

PROBE_LRS: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
PROBE_ITERS = 100
PROBE_WEIGHT_DECAY = 1e-4
# A drop of the training loss smaller than this share of where it started is "flat".
FLAT_DROP = 0.05
# The loss is measured on this many training samples (all of them when fewer):
# the same fixed samples before and after, so drops compare like with like.
EVAL_SAMPLES = 2048

Outcome = Literal["exploded", "flat", "drops"]


@dataclass
class ProbeRow:
    """What ``iters`` steps at ``lr`` did to the training loss.

    ``drop`` is the relative drop ``(start - end) / start``: positive when the
    loss fell, negative when it rose, ``None`` when it became NaN/inf.
    """

    lr: float
    outcome: Outcome
    drop: float | None
    start_loss: float = math.nan
    end_loss: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "outcome": self.outcome, "drop": self.drop}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ProbeRow":
        return ProbeRow(float(d["lr"]), d["outcome"], None if d.get("drop") is None else float(d["drop"]))


def classify(start: float, end: float) -> tuple[Outcome, float | None]:
    """``exploded`` (NaN/inf, or ended above the start), ``flat`` (fell by less
    than :data:`FLAT_DROP`), else ``drops``; with the relative drop."""
    if not (math.isfinite(start) and math.isfinite(end)):
        return "exploded", None
    drop = (start - end) / start if start > 0 else 0.0
    if end > start:
        return "exploded", drop
    return ("flat" if drop < FLAT_DROP else "drops"), drop


def probe_params(params: TrainParams, weight_decay_set: bool) -> TrainParams:
    """The task's optimizer, constant LR, and a small weight decay unless one was chosen."""
    params = sweep_params(params)
    return params if weight_decay_set else params.replace(weight_decay=PROBE_WEIGHT_DECAY)


def eval_subset(data: Data, seed: int) -> Data:
    """A fixed, class-balanced part of the training data to measure the loss on."""
    if len(data) <= EVAL_SAMPLES:
        return data
    return data.subset(stratified_indices(data.labels(), EVAL_SAMPLES, seed))


def decade_probe(model: nn.Module, data: Data, params: TrainParams, *, loss_fn: Callable,
                 device: torch.device, lrs: tuple[float, ...] = PROBE_LRS,
                 iters: int = PROBE_ITERS, seed: int = 0,
                 on_step: Callable[[int, int], None] | None = None) -> list[ProbeRow]:
    """Train ``iters`` steps at each LR from ``model``'s current weights (restored
    before each LR and at the end), on the same batches, and classify each.

    ``on_step(done, total)`` counts steps over all LRs.
    """
    measure = eval_subset(data, seed)
    start, _ = evaluate(model, measure, loss_fn, device)
    rows: list[ProbeRow] = []
    for n, lr in enumerate(lrs):
        trainer = Trainer(model, params.replace(lr=lr), loss_fn=loss_fn, device=device,
                          steps_per_epoch=1, total_steps=iters)
        with preserved(model, trainer.optimizer):
            model.train()
            batches = endless_batches(data, params.batch_size, torch.Generator().manual_seed(seed), device)
            pending: list[torch.Tensor] = []
            finite = True
            for i in range(iters):
                pending.append(trainer.step(*next(batches))[0])
                if len(pending) == SYNC_EVERY or i == iters - 1:
                    finite = bool(torch.isfinite(torch.stack(pending)).all())
                    pending.clear()
                    if on_step is not None:
                        on_step(n * iters + i + 1, len(lrs) * iters)
                    if not finite:
                        break  # NaN/inf: no need to train further at this LR
            end = evaluate(model, measure, loss_fn, device)[0] if finite else math.nan
        outcome, drop = classify(start, end)
        rows.append(ProbeRow(lr, outcome, drop, start, end))
    if on_step is not None:
        on_step(len(lrs) * iters, len(lrs) * iters)
    return rows
