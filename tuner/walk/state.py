"""The walk's memory: which steps are done, with their results, in ``<out>/run/state.json``.

Saved after every step (atomically), so an interrupted ``tune run`` continues
from the last completed step when the same command runs again. A walk started
with other settings (task, hyperparameters, seed) is not silently mixed with
this one: resuming it is refused unless ``restart`` is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import TuneError
from tuner.outdir import load_json, out_dir, save_json

STATE_FILE = "state.json"


@dataclass
class StepRecord:
    """One completed step.

    ``summary`` holds the step's key numbers (what the report and ``--json``
    show); ``result`` the step's full ``to_dict()`` (what later steps read);
    ``files`` what it wrote.
    """

    step: str
    verdict: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The ``--json`` form: ``{step, verdict, seconds, ...summary, files}``."""
        return {"step": self.step, "verdict": self.verdict, "seconds": round(self.seconds, 2),
                **self.summary, "files": self.files}


@dataclass
class WalkState:
    folder: Path
    config: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)

    @staticmethod
    def open(folder: Path, config: dict[str, Any], restart: bool = False) -> "WalkState":
        """The saved walk for ``config`` in ``folder``, or a new one."""
        path = folder / STATE_FILE
        if restart or not path.exists():
            return WalkState(folder, config)
        saved = load_json(path)
        if saved.get("config") != config:
            raise TuneError(f"{folder} holds a walk started with other settings "
                            f"({describe_difference(saved.get('config') or {}, config)})",
                            "rerun with the same flags to resume it, add --restart to start over, "
                            "or choose another --out")
        steps = [StepRecord(**s) for s in saved.get("steps", [])]
        return WalkState(folder, config, steps)

    def get(self, step: str) -> StepRecord | None:
        return next((s for s in self.steps if s.step == step), None)

    @property
    def elapsed(self) -> float:
        return sum(s.seconds for s in self.steps)

    def add(self, record: StepRecord) -> None:
        self.steps = [s for s in self.steps if s.step != record.step] + [record]
        out_dir(self.folder)
        save_json(self.folder / STATE_FILE, {"config": self.config,
                                             "steps": [vars(s) for s in self.steps]})


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys[:2])
