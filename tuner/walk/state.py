"""The walk's memory: which steps are done, with their results, in ``<out>/run/state.json``.

Saved after every step (atomically), so an interrupted ``tune run`` continues
from the last completed step when the same command runs again. The state keeps
the walk's :class:`~tuner.recipe.Recipe`: a walk started with other settings
(task, hyperparameters, seed) is not silently mixed with this one (resuming it
is refused unless ``restart`` is asked for), and a task file whose source
changed since makes the walk start over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import TuneError
from tuner.outdir import load_json, out_dir, save_json
from tuner.recipe import HASH_CHARS, Recipe

STATE_FILE = "state.json"


@dataclass
class StepRecord:
    """One completed step.

    ``summary`` holds the step's key numbers (what the report and ``--json``
    show); ``result`` the step's full ``to_dict()`` (what later steps read);
    ``files`` what it wrote; ``notes`` every warning or failure the step found,
    as ``{code, severity, message, advice}`` (shown in full on the terminal and
    in the report, so a ``warn`` never comes without its reason).
    """

    step: str
    verdict: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The ``--json`` form: ``{step, verdict, seconds, ...summary, notes, files}``."""
        return {"step": self.step, "verdict": self.verdict, "seconds": round(self.seconds, 2),
                **self.summary, "notes": self.notes, "files": self.files}


@dataclass
class WalkState:
    """The saved walk: what made it (recipe and walk settings) and its finished steps.

    ``note`` says why saved steps were dropped (a changed task file), and
    ``reset`` is set whenever this walk starts over, so that its old studies go too.
    """

    folder: Path
    recipe: Recipe
    settings: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)
    note: str | None = None
    reset: bool = False
    # Epochs trained by attempts of a step that Ctrl-C stopped (by step name): the step
    # runs again from its start, and an epoch budget must still count what they trained.
    interrupted: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def open(folder: Path, recipe: Recipe, settings: dict[str, Any],
             restart: bool = False) -> "WalkState":
        """The saved walk made by ``recipe`` and ``settings`` in ``folder``, or a new one.

        Another task, model, data, fixed hyperparameter, seed or walk setting is
        refused (the fix is ``--restart`` or another ``--out``). The same task
        file with a changed source starts over: the steps the old code ran no
        longer describe the new one (a fixed bug re-runs the check that caught it).
        """
        path = folder / STATE_FILE
        if restart or not path.exists():
            return WalkState(folder, recipe, settings, reset=restart)
        saved = load_json(path)
        if not isinstance(saved, dict) or "recipe" not in saved:
            raise TuneError(f"{folder} holds a walk saved by an older tune (other settings)",
                            "add --restart to start over, or choose another --out")
        old = Recipe.from_dict(saved["recipe"])
        what = old.difference(recipe) or (f"--seed {old.seed} then, {recipe.seed} now"
                                           if old.seed != recipe.seed else None)
        if what is None and saved.get("settings") != settings:
            what = describe_difference(saved.get("settings") or {}, settings)
        if what is not None:
            raise TuneError(f"{folder} holds a walk started with other settings ({what})",
                            "rerun with the same flags to resume it, add --restart to start over, "
                            "or choose another --out")
        steps = [StepRecord(**s) for s in saved.get("steps", [])]
        if old.source_changed(recipe) and steps:
            note = (f"{recipe.task.label()} changed since the saved walk (source "
                    f"{old.task.sha256[:HASH_CHARS]} then, {recipe.task.sha256[:HASH_CHARS]} now): "
                    f"its {len(steps)} finished step(s) run again, from {steps[0].step}")
            return WalkState(folder, recipe, settings, note=note, reset=True)
        interrupted = {str(k): int(v) for k, v in (saved.get("interrupted_epochs") or {}).items()}
        return WalkState(folder, recipe, settings, steps, interrupted=interrupted)

    def get(self, step: str) -> StepRecord | None:
        return next((s for s in self.steps if s.step == step), None)

    @property
    def elapsed(self) -> float:
        return sum(s.seconds for s in self.steps)

    def add(self, record: StepRecord) -> None:
        self.steps = [s for s in self.steps if s.step != record.step] + [record]
        self._save()

    def add_interrupted(self, step: str, epochs: int) -> None:
        """Count ``epochs`` trained by an attempt of ``step`` that Ctrl-C stopped."""
        if epochs > 0:
            self.interrupted[step] = self.interrupted.get(step, 0) + epochs
            self._save()

    def _save(self) -> None:
        out_dir(self.folder)
        save_json(self.folder / STATE_FILE, {"recipe": self.recipe.to_dict(), "settings": self.settings,
                                             "steps": [vars(s) for s in self.steps],
                                             "interrupted_epochs": self.interrupted})


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys[:2])
