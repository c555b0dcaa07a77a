"""Chance level: what a model that learned nothing scores on a task.

A model that ignores its input does best by predicting the training labels'
shares for every sample: its accuracy is the share of the most frequent class
(``1/C`` when the classes are balanced) and its cross-entropy the entropy of
the labels (``log C`` when balanced). Learning curves mean little without
this baseline: an accuracy of 0.8 is chance on data that is 80% one class, and
a loss of 2.3 is chance with ten balanced classes. ``tune diagnose`` reads it
to tell a run that learned nothing from one that learned too little.

Every run tune trains records its task's chance level in its history
(``History.chance``; ``history.json`` and each search trial's
``user_attrs["history"]`` carry it as ``"chance"``). Curves from elsewhere may
lack it: ``tune diagnose --classes`` then supplies it.

This module does not import torch at load time: reading a study must stay light.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

# A class absent from the training labels still gets this pseudo-count, so that
# predicting the shares never puts probability 0 on a validation label.
PSEUDO_COUNT = 0.5


@dataclass(frozen=True)
class Chance:
    """Each curve's value for a model that predicts the training labels' shares.

    ``train_loss``/``val_loss`` are ``None`` when the task's loss could not be
    evaluated on such a prediction (a loss that does not take class scores).
    """

    classes: int
    train_acc: float
    val_acc: float
    train_loss: float | None
    val_loss: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: Any) -> "Chance | None":
        """The chance level recorded in a history, or ``None`` when it is missing or malformed."""
        if not isinstance(d, dict):
            return None
        try:
            losses = [None if d.get(k) is None else float(d[k]) for k in ("train_loss", "val_loss")]
            chance = Chance(int(d["classes"]), float(d["train_acc"]), float(d["val_acc"]), *losses)
        except (KeyError, TypeError, ValueError):
            return None
        return chance if chance.classes >= 1 else None

    @staticmethod
    def of_shares(shares: Sequence[float]) -> "Chance":
        """Chance for labels with these class shares (counts work too), the same in
        training and validation, under cross-entropy: ``--classes`` for curves from elsewhere."""
        total = float(sum(shares))
        p = [s / total for s in shares]
        entropy = -sum(q * math.log(q) for q in p if q > 0)
        return Chance(len(p), max(p), max(p), entropy, entropy)

    @staticmethod
    def uniform(classes: int) -> "Chance":
        """``classes`` balanced classes: accuracy ``1/C``, cross-entropy ``log C``."""
        return Chance.of_shares([1.0] * classes)


def measure_chance(train_labels: Any, val_labels: Any, classes: int,
                   loss_fn: Callable[[Any, Any], Any]) -> Chance:
    """The chance level of a task, with its own loss function.

    The constant prediction is the log of the training labels' shares (as
    logits); its accuracy on each split is that split's share of the most
    frequent training class, and its loss is ``loss_fn`` evaluated on it, one
    call per class (so a task with many samples costs ``classes`` tiny calls).
    """
    import torch

    train_counts = torch.bincount(train_labels.long().cpu(), minlength=classes).double()
    val_counts = torch.bincount(val_labels.long().cpu(), minlength=classes).double()
    top = int(train_counts.argmax())
    shares = (train_counts + PSEUDO_COUNT) / (train_counts.sum() + PSEUDO_COUNT * classes)
    logits = shares.log().float().unsqueeze(0)

    def loss_on(counts: Any) -> float | None:
        total = 0.0
        try:
            with torch.no_grad():
                for c in torch.nonzero(counts).flatten().tolist():
                    value = loss_fn(logits, torch.tensor([c]))
                    total += float(value) * float(counts[c])
        except Exception:  # a loss that does not take class scores: chance loss unknown
            return None
        mean = total / float(counts.sum())
        return mean if math.isfinite(mean) else None

    return Chance(classes, float(train_counts[top] / train_counts.sum()),
                  float(val_counts[top] / val_counts.sum()), loss_on(train_counts), loss_on(val_counts))
