"""A diagnosis as data: codes with evidence and advice, and one verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuner.chance import Chance
from tuner.findings import Severity, Verdict, worst

# The public diagnosis codes, in the order they are reported.
CODES = ("diverged", "lr-too-low", "not-learning", "unstable", "overfitting", "underfitting",
         "still-improving", "good-fit")

# How much each code weighs in the verdict: a run that diverged or ended at chance
# level (lr-too-low, not-learning) failed: its model is no better than guessing (exit 1);
# the others have something to fix but produced a usable model (warn, exit 0);
# a good fit passes.
SEVERITY: dict[str, Severity] = {"diverged": "fail", "lr-too-low": "fail", "not-learning": "fail",
                                 "unstable": "warn", "overfitting": "warn",
                                 "underfitting": "warn", "still-improving": "warn",
                                 "good-fit": "info"}


@dataclass(frozen=True)
class Diagnosis:
    """One code that holds for the curves.

    ``evidence`` holds the numbers the rule compared; ``message`` says them in a
    sentence; ``advice`` is what to change, ending with ``--hp`` flags; ``hp`` is
    the same change as a dict, for scripts (``tune run`` adjusts a whole search
    space instead: see :mod:`tuner.walk.adjust`).
    """

    code: str
    message: str
    evidence: dict[str, Any]
    advice: str
    hp: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "evidence": self.evidence, "advice": self.advice,
                "message": self.message, "severity": self.severity, "hp": self.hp}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Diagnosis":
        return Diagnosis(d["code"], d.get("message", ""), dict(d.get("evidence", {})),
                         d.get("advice", ""), dict(d.get("hp", {})))


@dataclass
class DiagnoseResult:
    """Every diagnosis that holds, the run's summary numbers, and where it came from.

    ``source`` names the curves (a file, or ``study NAME trial N``);
    ``hyperparameters`` are the run's settings when known (they make the
    advice concrete); ``files`` lists what was written (the annotated plot).
    ``chance`` is the task's chance level the curves were judged against and
    ``reference`` the best validation accuracy of other runs of the task, each
    ``None`` when unknown; ``notes`` say what the diagnosis could not judge.
    """

    diagnoses: list[Diagnosis]
    metrics: dict[str, Any]
    source: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    chance: Chance | None = None
    reference: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnoses]

    @property
    def verdict(self) -> Verdict:
        return worst(d.severity for d in self.diagnoses)

    def get(self, code: str) -> Diagnosis | None:
        return next((d for d in self.diagnoses if d.code == code), None)

    def to_dict(self) -> dict[str, Any]:
        return {"diagnoses": [d.to_dict() for d in self.diagnoses], "verdict": self.verdict,
                "codes": self.codes, "metrics": self.metrics, "source": self.source,
                "hyperparameters": self.hyperparameters, "files": self.files,
                "chance": None if self.chance is None else self.chance.to_dict(),
                "reference": self.reference, "notes": self.notes}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "DiagnoseResult":
        return DiagnoseResult([Diagnosis.from_dict(x) for x in d.get("diagnoses", [])],
                              dict(d.get("metrics", {})), d.get("source", ""),
                              dict(d.get("hyperparameters", {})), list(d.get("files", [])),
                              Chance.from_dict(d.get("chance")), d.get("reference"),
                              list(d.get("notes", [])))
