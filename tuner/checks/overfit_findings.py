"""overfit-small: one attempt's record, the pass criterion, and what a failure means.

The failures are told apart by their symptom, because each points at a
different kind of bug:

* ``loss-nan``: the loss became NaN/inf at every LR tried;
* ``softmax-before-loss`` / ``loss-floor``: accuracy rises but the loss floors
  far above zero (a softmax before cross-entropy is the classic cause);
* ``accuracy-at-chance``: accuracy never leaves chance level (inputs carry no
  signal, a dead network, nothing trainable);
* ``cannot-overfit``: it learns, but too slowly or not enough to memorise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from tuner.checks.inputs import input_stats
from tuner.data import TensorData
from tuner.findings import Finding

TARGET_ACC = 0.99
# "The loss clearly down": at most this share of the loss before training.
LOSS_DROP = 0.3
# Accuracy "rises" (nearly memorised) past this share of the way from chance to
# 100%, which tells a loss floor from a lack of capacity; it "stays
# at chance" below the second share.
RISING, AT_CHANCE = 0.9, 0.1


@dataclass
class Attempt:
    """One training run of the subset at one LR; ``curve`` holds (step, loss, accuracy)."""

    lr: float
    steps: int = 0
    initial_loss: float = float("nan")
    final_loss: float = float("nan")
    final_acc: float = 0.0
    best_acc: float = 0.0
    diverged: bool = False
    success: bool = False
    # What the model looked like at the end: for telling failures apart.
    trainable: int = 0
    outputs_probabilities: bool = False
    outputs_constant: bool = False
    curve: list[tuple[int, float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failure_findings(subset: TensorData, attempts: list[Attempt], best: Attempt, chance: float,
                     max_steps: int, *, seed: int) -> list[Finding]:
    """The one finding that names how memorising the subset failed."""
    tried = ", ".join(f"{a.lr:g}" for a in attempts)
    if all(a.diverged for a in attempts):
        at_start = all(not math.isfinite(a.initial_loss) for a in attempts)
        when = ("already before training (NaN inputs, or an overflow in forward or the loss)"
                if at_start else f"during training at every LR tried ({tried})")
        return [Finding("loss-nan", "fail", f"the loss became NaN/inf {when}",
                        "run check-loss to trace it to the inputs, outputs or loss; if it appears only "
                        "after some steps, look for log(0) or division by 0 and clip the gradients")]
    summary = (f"LRs tried: {tried}, at most {max_steps} steps each; best, lr {best.lr:g} after "
               f"{best.steps} steps: training accuracy {best.best_acc:.0%} (chance {chance:.0%}), "
               f"loss {best.initial_loss:.3g} → {best.final_loss:.3g}")
    rising = best.best_acc >= chance + RISING * (1 - chance)
    if rising and best.final_loss > LOSS_DROP * best.initial_loss:
        if best.outputs_probabilities:
            return [Finding(
                "softmax-before-loss", "fail",
                f"the loss floors far above zero while accuracy rises; the model outputs "
                f"probabilities, not logits ({summary})",
                "remove the softmax at the end of the model: cross-entropy applies its own; with "
                "two softmaxes the loss cannot go below log(e + C - 1) - 1 and the gradients vanish")]
        return [Finding(
            "loss-floor", "fail", f"the loss floors far above zero while accuracy rises ({summary})",
            "something bounds the loss from below: a softmax/sigmoid before the loss, label "
            "smoothing, a clamp, or a loss that does not fit the outputs")]
    if best.best_acc <= chance + AT_CHANCE * (1 - chance):
        cause, advice = at_chance_diagnosis(subset, best, seed)
        return [Finding("accuracy-at-chance", "fail",
                        f"training accuracy stays at chance: {cause} ({summary})", advice)]
    return [Finding(
        "cannot-overfit", "fail", f"the model does not memorise {len(subset)} samples ({summary})",
        "a healthy model memorises a small subset: check that inputs and labels are paired "
        "correctly, give it more capacity, or more steps (--max-steps)")]


def at_chance_diagnosis(subset: TensorData, best: Attempt, seed: int) -> tuple[str, str]:
    """(the likely cause, what to do) when accuracy stays at chance."""
    if best.trainable == 0:
        return ("the model has nothing trainable",
                "unfreeze the parameters (requires_grad=True) and build layers as module attributes")
    # The same rule (and tolerance) as check-init's inputs-constant finding.
    if len(subset) > 1 and input_stats(subset, seed).all_constant:
        return ("every input is identical, so the inputs carry no signal",
                "fix the data loading: the inputs are all the same (all zero?)")
    if best.outputs_constant:
        return ("the network outputs the same thing for every input (a dead network)",
                "run check-init: dead ReLUs or a cut gradient path leave the output independent of the input")
    return ("the inputs seem to carry no signal about the labels",
            "check that inputs and labels line up (not shuffled separately), and run check-init")
