"""``tune overfit-small`` (step 2): can the model memorise a small subset?

A model that cannot drive the training loss to ~0 on a hundred samples has a
bug, whatever its hyperparameters. So: a stratified subset, read once into
memory (which freezes any augmentation), every ``nn.Dropout`` at p=0, weight
decay 0 and a constant LR, trained through the one engine
(:class:`~tuner.engine.Trainer`) until training accuracy reaches 99% with the
loss clearly down, or a step cap. Several LRs are tried before failing, so an
unlucky LR is never reported as a bug. A failure says which symptom it saw:
the loss floors far above zero while accuracy rises, accuracy stays at
chance, or the loss becomes NaN.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from tuner.augment import Augmentation
from tuner.checks.labels import label_stats
from tuner.checks.loss import looks_like_probabilities
from tuner.checks.overfit_findings import LOSS_DROP, TARGET_ACC, Attempt, failure_findings
from tuner.checks.sampling import materialise
from tuner.checks.init import nothing_trainable
from tuner.data import TensorData, batch_count, stratified_indices
from tuner.engine import Trainer, endless_batches, evaluate, untrainable
from tuner.errors import TuneError
from tuner.experiment import Built, Experiment
from tuner.findings import CheckResult, Finding
from tuner.params import TrainParams

DEFAULT_SAMPLES = 100
DEFAULT_MAX_STEPS = 400
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)

OnStep = Callable[[int, int, float], None]


# First guesses that memorise almost any small net, per optimizer.
GOOD_GUESSES = {"adam": (1e-3, 1e-2), "adamw": (1e-3, 1e-2), "sgd": (0.1, 0.01)}
MAX_LRS = 4
# An attempt stops early when its loss has not improved by 1% for this share
# of the step cap (at least PLATEAU_MIN steps): more of the same will not help.
PLATEAU_SHARE, PLATEAU_MIN, PLATEAU_GAIN = 0.25, 50, 0.01
# Once accuracy has reached the target, a healthy cross-entropy falls fast;
# still above the bar this many steps later, it has hit a floor.
FLOOR_STEPS = 50
# Measure the subset after whole passes over it, at least this many steps apart.
MEASURE_EVERY = 5


def candidate_lrs(params: TrainParams) -> list[float]:
    """The configured LR first, then the optimizer's good first guesses, then a
    decade either side of the configured one; at most 4, none within a
    quarter decade of another."""
    lrs = [params.lr, *GOOD_GUESSES.get(params.optimizer, ()), params.lr * 10, params.lr / 10]
    unique: list[float] = []
    for lr in (float(f"{v:.3g}") for v in lrs):  # 3e-4 * 10 is 0.0029999999999999996
        if all(abs(math.log10(lr / u)) > 0.25 for u in unique):
            unique.append(lr)
    return unique[:MAX_LRS]


def disable_dropout(model: nn.Module) -> int:
    """Set every dropout module's p to 0; returns how many there were."""
    found = [m for m in model.modules() if isinstance(m, DROPOUTS)]
    for m in found:
        m.p = 0.0
    return len(found)


def overfit_small(exp: Experiment, samples: int = DEFAULT_SAMPLES, out: str | Path | None = None,
                  on_step: OnStep | None = None, *, max_steps: int = DEFAULT_MAX_STEPS) -> CheckResult:
    """Memorise ``samples`` stratified training samples; pass when training
    accuracy reaches 99% and the loss falls below 30% of its starting value.

    Args:
        exp: The prepared experiment; each LR starts from the same seeded init.
        samples: Size of the stratified subset (at least one sample per class).
        out: Folder for ``overfit_small.png`` (loss and accuracy curves) and
            ``overfit_small.json``; ``None`` writes nothing.
        on_step: ``on_step(done, total, lr)`` each time the subset is measured
            (every few steps); the i-th LR's steps count from ``i * max_steps``
            and ``total`` is ``max_steps`` times the number of LRs.
        max_steps: Step cap per LR; the LRs tried are :func:`candidate_lrs`, in
            order, up to the first that succeeds.

    Returns:
        A :class:`CheckResult`; metrics hold ``samples``, ``lr`` and ``steps``
        of the run that succeeded (or of the best one), ``initial_loss``,
        ``final_loss``, ``final_acc``, ``chance_acc`` and every ``attempts`` row.
    """
    if samples < 1 or max_steps < 1:
        raise TuneError(f"overfit-small needs samples >= 1 and max_steps >= 1, got {samples} and {max_steps}")
    idx = stratified_indices(exp.train.labels(), samples, exp.seed)
    subset = materialise(exp.train, idx, exp.device)
    chance = label_stats(subset.y, exp.task.num_classes).majority_share
    batch_size = min(exp.params.batch_size, len(subset))
    lrs = candidate_lrs(exp.params)
    total = max_steps * len(lrs)
    attempts: list[Attempt] = []
    first = exp.build()
    why = untrainable(first.model)
    if why is not None:  # no optimizer would take it: the finding check-init gives, not a crash
        return _untrainable_result(exp, why, len(subset), batch_size, max_steps, chance, out)
    for i, lr in enumerate(lrs):
        built = first if i == 0 else exp.build()
        model = built.model
        dropouts = disable_dropout(model)
        # Progress counts each LR as a slot of max_steps, so it only moves forward.
        report = None if on_step is None else (lambda step, lr=lr, i=i: on_step(i * max_steps + step, total, lr))
        attempt = train_subset(exp, built, subset, lr, batch_size, max_steps, report)
        attempts.append(attempt)
        if attempt.success:
            break

    best = pick_best(attempts)
    findings: list[Finding] = []
    augmentation = Augmentation.from_values(exp.params)
    if not augmentation.is_identity():
        findings.append(Finding(
            "augmentation-off", "info",
            f"trained without the augmentation set ({augmentation.describe()}): memorising a few "
            "samples is the question here, so augmentation and regularisation are off", ""))
    if best.success:
        if best.lr != lrs[0]:
            findings.append(Finding(
                "overfit-lr", "info",
                f"the configured LR {lrs[0]:g} did not memorise the subset ({attempts[0].steps} steps); "
                f"{best.lr:g} did in {best.steps}",
                f"an LR near {best.lr:g} trains this model; tune lr-range finds a good one"))
    else:
        findings += failure_findings(subset, attempts, best, chance, max_steps, seed=exp.seed)

    metrics = {"samples": len(subset), "batch_size": batch_size, "max_steps": max_steps,
               "chance_acc": chance, "dropout_layers_disabled": dropouts, "passed": best.success,
               "augmentation_disabled": augmentation.describe(),
               "lr": best.lr, "steps": best.steps, "initial_loss": best.initial_loss,
               "final_loss": best.final_loss, "final_acc": best.final_acc,
               "lrs_tried": [a.lr for a in attempts], "attempts": [a.to_dict() for a in attempts]}
    result = CheckResult("overfit-small", findings, metrics)
    if out is not None:
        from tuner.checks.overfit_plot import plot_overfit

        title = f"overfit-small: {exp.recipe.task.label()} ({len(subset)} samples)"
        result.save(out, "overfit_small", plot=lambda png: plot_overfit(attempts, png, title=title))
    return result


def _untrainable_result(exp: Experiment, why: str, samples: int, batch_size: int, max_steps: int,
                        chance: float, out: str | Path | None) -> CheckResult:
    """The ``no-trainable-parameters`` failure, with the usual metrics (nothing tried)."""
    metrics = {"samples": samples, "batch_size": batch_size, "max_steps": max_steps,
               "chance_acc": chance, "dropout_layers_disabled": 0, "passed": False, "lr": None,
               "steps": 0, "initial_loss": None, "final_loss": None, "final_acc": None,
               "lrs_tried": [], "attempts": []}
    result = CheckResult("overfit-small", [nothing_trainable(why)], metrics)
    if out is not None:
        result.save(out, "overfit_small")
    return result


def train_subset(exp: Experiment, built: Built, subset: TensorData, lr: float, batch_size: int,
                 max_steps: int, report: Callable[[int], None] | None) -> Attempt:
    """Train on ``subset`` with the engine until memorised, diverged, or ``max_steps``.

    The model trains in its parameter groups (a frozen backbone stays frozen) and
    without the training transform: memorising a few samples is the question."""
    model = built.model
    params = exp.params.replace(lr=lr, weight_decay=0.0, schedule="constant", warmup_epochs=0.0,
                                batch_size=batch_size)
    steps_per_epoch = batch_count(len(subset), batch_size)
    trainer = Trainer(model, params, loss_fn=exp.task.loss_fn, device=exp.device, groups=built.groups,
                      steps_per_epoch=steps_per_epoch, total_steps=max_steps)
    attempt = Attempt(lr, trainable=sum(p.numel() for p in model.parameters() if p.requires_grad))
    trainer.begin_epoch(1)  # evaluate() restores the mode it finds; train in train mode whatever the model came in
    attempt.initial_loss, acc = measure(exp, model, subset, batch_size)
    attempt.curve.append((0, attempt.initial_loss, acc))
    if not math.isfinite(attempt.initial_loss):
        attempt.diverged = True
        attempt.final_loss = attempt.initial_loss
        return attempt
    batches = endless_batches(subset, batch_size, torch.Generator().manual_seed(exp.seed), exp.device)
    every = steps_per_epoch * math.ceil(MEASURE_EVERY / steps_per_epoch)
    best_loss, best_step, memorised_at = attempt.initial_loss, 0, None
    patience = max(PLATEAU_MIN, int(PLATEAU_SHARE * max_steps))
    for step in range(1, max_steps + 1):
        trainer.step(*next(batches))
        if step % every and step != max_steps:
            continue
        loss, acc = measure(exp, model, subset, batch_size)
        attempt.steps, attempt.final_loss, attempt.final_acc = step, loss, acc
        attempt.best_acc = max(attempt.best_acc, acc)
        attempt.curve.append((step, loss, acc))
        if report is not None:
            report(step)
        if not math.isfinite(loss):
            attempt.diverged = True
            break
        if acc >= TARGET_ACC:
            if loss <= LOSS_DROP * attempt.initial_loss:
                attempt.success = True
                break
            memorised_at = step if memorised_at is None else memorised_at
            if step - memorised_at >= FLOOR_STEPS:
                break  # accuracy is there, the loss will not follow
        if loss < best_loss * (1 - PLATEAU_GAIN):
            best_loss, best_step = loss, step
        elif step - best_step >= patience:
            break  # a plateau: stuck, not slow
    if not attempt.success:
        attempt.outputs_probabilities, attempt.outputs_constant = look_at_outputs(model, subset)
    return attempt


@torch.no_grad()
def look_at_outputs(model: nn.Module, subset: TensorData) -> tuple[bool, bool]:
    """(rows are probabilities, every sample gets the same output) after training."""
    out = model(subset.x[:256]).float()
    if out.dim() != 2 or not bool(torch.isfinite(out).all()):
        return False, False
    spread = (out - out[0]).abs().max()
    return looks_like_probabilities(out), bool(spread <= 1e-6 * (1 + out.abs().max()))


def measure(exp: Experiment, model: nn.Module, subset: TensorData, batch_size: int) -> tuple[float, float]:
    """Mean loss and accuracy on the subset in train mode, as the optimizer sees it
    (BatchNorm on batch statistics; dropout is off), through the engine's evaluate."""
    return evaluate(model, subset, exp.task.loss_fn, exp.device, train_mode=True, batch_size=batch_size)


def pick_best(attempts: list[Attempt]) -> Attempt:
    """The successful attempt, else the one that got furthest (accuracy, then loss)."""
    for a in attempts:
        if a.success:
            return a
    finite = [a for a in attempts if not a.diverged] or attempts
    return max(finite, key=lambda a: (a.best_acc, -a.final_loss if math.isfinite(a.final_loss) else -math.inf))
