"""What ``tune run`` returns: every step's record, the best configuration, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuner.findings import worst
from tuner.walk.state import StepRecord


@dataclass
class WalkResult:
    """The walk so far: every step's record, the best configuration, the report."""

    steps: list[StepRecord]
    best: dict[str, Any] | None
    epochs_spent: int
    report: str | None = None
    stopped: str | None = None  # why the walk ended before its last round, if it did
    resumed: list[str] = field(default_factory=list)  # steps reused from an earlier run
    sanity_failed: bool = False  # a failed sanity check stopped the walk
    note: str | None = None  # why saved steps were dropped (a changed task file)
    command: str | None = None  # the tune train command line of the best configuration
    # With --epoch-budget: {"split": EpochPlan.to_dict(), "spent": epochs by the same parts + total}
    epoch_budget: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        """The worst step verdict (a walk stopped by a failed check has that step last)."""
        return worst(s.verdict for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.public() for s in self.steps], "best": self.best,
                "epochs_spent": self.epochs_spent, "report": self.report, "verdict": self.verdict,
                "stopped": self.stopped, "resumed": self.resumed, "note": self.note,
                "command": self.command, "epoch_budget": self.epoch_budget}
