"""The LR range test: one exponential sweep of the learning rate.

The LR grows geometrically from ``start_lr`` to ``end_lr`` over ``iters``
steps of the shared engine (:class:`tuner.engine.Trainer`). The loss is
smoothed with a bias-corrected exponential moving average, and the sweep stops
when that average rises above ``diverge_factor`` times its best or the loss is
NaN/inf (a NaN is divergence, not a number to skip). Afterwards the model, the
optimizer and every RNG the sweep touched are put back exactly as they were,
in memory: the caller's model is untouched and no temporary file is written.
"""

from __future__ import annotations

import copy
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from tuner.data import Data
from tuner.engine import Trainer, endless_batches
from tuner.params import TrainParams

START_LR = 1e-7
END_LR = 10.0
DIVERGE_FACTOR = 4.0
# The moving average forgets over about a quarter of a decade of LR whatever
# ``iters`` is: long enough to tame batch noise, short enough that the curve
# does not lag decades behind the LR (fastai's fixed 0.98 over 100 steps lags
# by about four decades on an 8-decade sweep).
SMOOTH_DECADES = 0.25
# Losses are read back from the device in chunks: one host sync per chunk,
# not per step (a few extra steps past divergence are harmless: all is restored).
SYNC_EVERY = 8

OnStep = Callable[[int, int], None]


@dataclass
class Sweep:
    """One sweep: the LR and loss of every step it ran.

    ``smoothed`` is the bias-corrected moving average; ``diverged`` says the
    sweep stopped because the loss blew up (``reason`` says how), otherwise it
    reached ``end_lr`` with the loss still under control.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    diverged: bool
    reason: str | None
    start_lr: float
    end_lr: float
    iters: int



def sweep_lrs(start_lr: float, end_lr: float, iters: int) -> list[float]:
    """``iters`` learning rates spaced evenly in log scale, both ends included."""
    ratio = end_lr / start_lr
    return [start_lr * ratio ** (i / max(iters - 1, 1)) for i in range(iters)]


def smoothing_beta(start_lr: float, end_lr: float, iters: int) -> float:
    """EMA factor whose memory spans :data:`SMOOTH_DECADES` of the sweep."""
    per_decade = (iters - 1) / max(math.log10(end_lr / start_lr), 1e-12)
    window = max(1.0, SMOOTH_DECADES * per_decade)
    return 1.0 - 1.0 / window if window > 1 else 0.0


class SmoothedLoss:
    """Bias-corrected exponential moving average, fed one loss at a time.

    Dividing by ``1 - beta**n`` removes the pull towards the zero the average
    starts from, so the first values are already on the loss's scale. A NaN or
    inf loss makes the average NaN/inf: it is never skipped.
    """

    def __init__(self, beta: float) -> None:
        self.beta, self.avg, self.n = beta, 0.0, 0

    def update(self, loss: float) -> float:
        self.n += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        return self.avg / (1 - self.beta ** self.n)


@contextmanager
def preserved(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> Iterator[None]:
    """Restore weights, buffers, train/eval mode, optimizer state and the torch,
    CUDA, NumPy and Python RNGs on exit, all from copies held in memory."""
    weights = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    opt_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    rng = (torch.get_rng_state(), random.getstate(), np.random.get_state(),
           torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    try:
        yield
    finally:
        with torch.no_grad():
            model.load_state_dict(weights)
        for m, mode in zip(model.modules(), modes):
            m.training = mode
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
        torch.set_rng_state(rng[0])
        random.setstate(rng[1])
        np.random.set_state(rng[2])
        if rng[3] is not None:
            torch.cuda.set_rng_state_all(rng[3])


def sweep_params(params: TrainParams) -> TrainParams:
    """The caller's optimizer settings with the schedule off: the sweep owns the LR."""
    return params.replace(schedule="constant", warmup_epochs=0.0)


def range_test(model: nn.Module, data: Data, params: TrainParams, *, loss_fn: Callable,
               device: torch.device, start_lr: float = START_LR, end_lr: float = END_LR,
               iters: int = 100, seed: int = 0, diverge_factor: float = DIVERGE_FACTOR,
               optimizer: torch.optim.Optimizer | None = None,
               on_step: OnStep | None = None) -> Sweep:
    """Sweep the LR on ``model`` with ``params``'s optimizer; restore everything after.

    Args:
        model: Any module already on ``device``; trained during the sweep and
            restored to its exact weights, buffers and modes afterwards.
        data: Training batches (``params.batch_size``), shuffled with ``seed``.
        params: Optimizer, momentum/betas, weight decay, batch size, clipping;
            its schedule is ignored (the sweep sets the LR).
        optimizer: An optimizer of the caller's to sweep with instead of a fresh
            one (its state is restored too); ``None`` builds one from ``params``.
        on_step: ``on_step(done, iters)`` after every chunk of steps.
    """
    params = sweep_params(params)
    lrs = sweep_lrs(start_lr, end_lr, iters)
    beta = smoothing_beta(start_lr, end_lr, iters)
    trainer = Trainer(model, params, loss_fn=loss_fn, device=device, steps_per_epoch=1,
                      total_steps=iters)
    if optimizer is not None:
        trainer.optimizer = optimizer
    losses: list[float] = []
    smoothed: list[float] = []
    reason: str | None = None
    with preserved(model, trainer.optimizer):
        model.train()
        batches = endless_batches(data, params.batch_size, torch.Generator().manual_seed(seed), device)
        pending: list[torch.Tensor] = []
        best, smooth = math.inf, SmoothedLoss(beta)
        for i, lr in enumerate(lrs):
            trainer.set_lr(lr)
            xb, yb = next(batches)
            pending.append(trainer.step(xb, yb)[0])
            if len(pending) < SYNC_EVERY and i < iters - 1:
                continue
            for loss in torch.stack(pending).double().tolist():
                k = len(losses)
                losses.append(loss)
                value = smooth.update(loss)
                smoothed.append(value)
                if not math.isfinite(loss) or not math.isfinite(value):
                    reason = f"the loss became {loss} at lr {lrs[k]:.3g}"
                elif value > diverge_factor * best:
                    reason = (f"the smoothed loss rose above {diverge_factor:g}x its best "
                              f"({best:.3g}) at lr {lrs[k]:.3g}")
                else:
                    best = min(best, value)
                    continue
                break
            pending.clear()
            if on_step is not None:
                on_step(len(losses), iters)
            if reason is not None:
                break
    n = len(losses)
    return Sweep(lrs[:n], losses, smoothed, reason is not None, reason, start_lr, end_lr, iters)
