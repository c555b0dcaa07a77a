"""The decade probe: LRs a decade apart, each trained from the same initial
weights for as many steps as a coarse-search trial takes, classified by what
the loss did.

The probe measures what the suggestion is for: which LR trains best over the
short runs the coarse search will make (:data:`HORIZON_EPOCHS` epochs). The
horizon matters: the best LR for 24 steps is not the best for 1500 (more
steps favour a smaller LR; a task whose loss sits on a plateau for a hundred
steps shows nothing in a hundred). :func:`probe` runs the decades, extends them
a decade at a time past an end that trains best, then adds the half decades
either side of the best, so the optimum is bracketed at half-decade spacing.
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
# The probe trains each LR for the steps of this many epochs: the length of a coarse
# search trial (tuner.search.driver.COARSE_EPOCHS), the runs its suggestion centres.
HORIZON_EPOCHS = 3
# ... but at most this many steps, so that lr-range stays affordable on large data
# (where 3 epochs are long; the suggestion is then for a shorter run: a warning says so).
MAX_PROBE_ITERS = 2000
# The probe extends past its ends no further than the range test sweeps.
MIN_PROBE_LR, MAX_PROBE_LR = 1e-7, 10.0
HALF_DECADE = 10 ** 0.5
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


def horizon_steps(n_train: int, batch_size: int, epochs: float = HORIZON_EPOCHS) -> int:
    """Training steps in ``epochs`` epochs of ``n_train`` samples (at least 1)."""
    return max(1, math.ceil(n_train / batch_size) * math.ceil(epochs))


def probe_iters_for(n_train: int, batch_size: int, epochs: float = HORIZON_EPOCHS) -> int:
    """The probe's steps per LR: a coarse trial's steps, capped at MAX_PROBE_ITERS."""
    return min(horizon_steps(n_train, batch_size, epochs), MAX_PROBE_ITERS)


def probe_params(params: TrainParams, weight_decay_set: bool) -> TrainParams:
    """The task's optimizer, constant LR, and a small weight decay unless one was chosen."""
    params = sweep_params(params)
    return params if weight_decay_set else params.replace(weight_decay=PROBE_WEIGHT_DECAY)


def eval_subset(data: Data, seed: int) -> Data:
    """A fixed, class-balanced part of the training data to measure the loss on."""
    if len(data) <= EVAL_SAMPLES:
        return data
    return data.subset(stratified_indices(data.labels(), EVAL_SAMPLES, seed))


def measure_start(model: nn.Module, data: Data, *, loss_fn: Callable, device: torch.device,
                  seed: int) -> tuple[Data, float]:
    """The probe's measuring subset of ``data`` and ``model``'s loss on it now."""
    measure = eval_subset(data, seed)
    return measure, evaluate(model, measure, loss_fn, device)[0]


def decade_probe(model: nn.Module, data: Data, params: TrainParams, *, loss_fn: Callable,
                 device: torch.device, lrs: tuple[float, ...] = PROBE_LRS,
                 iters: int = 100, seed: int = 0,
                 on_step: Callable[[int, int], None] | None = None,
                 baseline: tuple[Data, float] | None = None) -> list[ProbeRow]:
    """Train ``iters`` steps at each LR from ``model``'s current weights (restored
    before each LR and at the end), on the same batches, and classify each.

    ``on_step(done, total)`` counts steps over all LRs. ``baseline``: the data the
    loss is measured on and the starting loss there, when already measured (the
    weights every LR starts from do not change between calls).
    """
    measure, start = baseline or measure_start(model, data, loss_fn=loss_fn, device=device, seed=seed)
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


def best_row(rows: list[ProbeRow]) -> ProbeRow | None:
    """The LR whose loss dropped and ended lowest; when none dropped, the flat one
    that came closest (lowered the loss most); ``None`` when no loss fell at all.

    A task whose loss sits on a plateau may drop at one LR between two decades and
    at neither decade: the probe then still knows where to look.
    """
    drops = [r for r in rows if r.outcome == "drops"]
    if not drops:
        drops = [r for r in rows if r.outcome == "flat" and (r.drop or 0.0) > 0]
    return min(drops, key=lambda r: r.end_loss) if drops else None


def _probed(rows: list[ProbeRow], lr: float) -> bool:
    return any(abs(math.log10(r.lr / lr)) < 0.1 for r in rows)


def probe(model: nn.Module, data: Data, params: TrainParams, *, loss_fn: Callable,
          device: torch.device, lrs: tuple[float, ...] = PROBE_LRS, iters: int = 100,
          seed: int = 0, on_step: Callable[[int, int], None] | None = None) -> list[ProbeRow]:
    """The decade probe, extended and refined around its best LR.

    After ``lrs``, while the best LR (:func:`best_row`) is the largest or smallest
    probed, the next decade beyond it is probed too (within MIN_PROBE_LR..MAX_PROBE_LR);
    then the LRs half a decade either side of the best.
    Every LR starts from the same weights and sees the same batches; the rows come
    back from the largest LR to the smallest. ``on_step(done, total)`` counts steps;
    ``total`` grows when the probe extends.
    """
    rows: list[ProbeRow] = []
    done = 0
    baseline = measure_start(model, data, loss_fn=loss_fn, device=device, seed=seed)

    def run(new: list[float], planned: int) -> None:
        nonlocal done
        total = done + planned * iters

        def step(k: int, _: int) -> None:
            if on_step is not None:
                on_step(done + k, total)

        rows.extend(decade_probe(model, data, params, loss_fn=loss_fn, device=device,
                                 lrs=tuple(new), iters=iters, seed=seed, on_step=step,
                                 baseline=baseline))
        done += len(new) * iters

    run(list(lrs), len(lrs) + 2)
    while (best := best_row(rows)) is not None:
        ordered = sorted(r.lr for r in rows)
        beyond = (best.lr * 10 if best.lr == ordered[-1] else
                  best.lr / 10 if best.lr == ordered[0] else None)
        if beyond is None or not MIN_PROBE_LR <= beyond <= MAX_PROBE_LR or _probed(rows, beyond):
            break
        run([beyond], 3)
    best = best_row(rows)
    if best is not None:
        halves = [lr for lr in (best.lr * HALF_DECADE, best.lr / HALF_DECADE)
                  if MIN_PROBE_LR <= lr <= MAX_PROBE_LR and not _probed(rows, lr)]
        if halves:
            run(halves, len(halves))
    if on_step is not None:
        on_step(done, done)
    return sorted(rows, key=lambda r: -r.lr)
