"""The walk's time bound (``tune run --budget MINUTES``), earlier sessions included."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class BudgetSpent(Exception):
    """The budget ran out before the next step could start."""


@dataclass
class Budget:
    """``seconds`` in all (None: unbounded), of which ``used_before`` went to earlier
    sessions of the same walk."""

    seconds: float | None
    used_before: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - self.used_before - (time.monotonic() - self.started)

    def check(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise BudgetSpent

    def share(self, fraction: float) -> float | None:
        """Seconds a step may take: ``fraction`` of what is left (at least one)."""
        left = self.remaining()
        return None if left is None else max(1.0, left * fraction)
