"""A range-test curve as drawn (LR and smoothed loss per step), and the median
over repeats. A leaf: the result and its plot both read it."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any


@dataclass
class Curve:
    """One sweep as drawn: LR and smoothed loss per step."""

    lr: list[float]
    loss: list[float]
    diverged: bool

    def to_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "loss": self.loss, "diverged": self.diverged}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Curve":
        return Curve([float(v) for v in d["lr"]],
                     [math.nan if v is None else float(v) for v in d["loss"]], bool(d.get("diverged")))


def median_curve(curves: list[Curve]) -> Curve:
    """The median smoothed loss over the repeats, step by step, while all of them ran."""
    n = min((len(c.loss) for c in curves), default=0)
    lrs = curves[0].lr[:n] if curves else []
    loss = []
    for i in range(n):
        values = [c.loss[i] for c in curves if math.isfinite(c.loss[i])]
        loss.append(statistics.median(values) if values else math.nan)
    return Curve(lrs, loss, all(c.diverged for c in curves))
