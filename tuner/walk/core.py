"""``tune run``: the whole procedure, step by step, each result feeding the next.

check-init → check-loss → overfit-small (a failed sanity check stops the walk
unless ``force``) → lr-range → coarse search centred on it → fine search →
train the best configuration for the full budget → diagnose → adjust the
space to the diagnosis → fine search again, for ``rounds`` rounds or until a
good fit.

Every step's record is saved as it completes (:mod:`tuner.walk.state`), so
running the same walk again continues where it stopped. Searches are named
studies in ``out``'s storage: ``tune best``/``tune diagnose`` open them too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tuner.errors import TuneError
from tuner.experiment import Experiment
from tuner.outdir import out_dir
from tuner.walk.state import StepRecord, WalkState

RUN_DIR = "run"
STUDY_PREFIX = "run"
SANITY = ("check-init", "check-loss", "overfit-small")
# Share of the remaining budget each search may take (the rest keeps the later steps possible).
SEARCH_SHARE = {"coarse": 0.35, "fine": 0.5}

# (kind, step, payload): "start" (None), "done" (the StepRecord) or "progress" ((done, total, status)).
OnEvent = Callable[[str, str, Any], None]


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

    @property
    def verdict(self) -> str:
        """The worst step verdict (a walk stopped by a failed check has that step last)."""
        verdicts = {s.verdict for s in self.steps}
        return "fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.public() for s in self.steps], "best": self.best,
                "epochs_spent": self.epochs_spent, "report": self.report, "verdict": self.verdict,
                "stopped": self.stopped, "resumed": self.resumed}


class BudgetSpent(Exception):
    """The ``budget`` ran out before the next step could start."""


@dataclass
class Budget:
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
        left = self.remaining()
        return None if left is None else max(1.0, left * fraction)


def walk(exp: Experiment, out: str | Path, *, rounds: int = 2, budget_minutes: float | None = None,
         force: bool = False, restart: bool = False, until: str | None = None,
         on_event: OnEvent | None = None) -> WalkResult:
    """Walk the procedure on ``exp``; resumable; bounded by ``budget_minutes``.

    Args:
        exp: The prepared task (its ``--hp`` overrides stay fixed throughout).
        out: ``--out``: studies, the report, and ``run/`` with each step's files.
        rounds: Diagnose-adjust-search rounds after the first fine search.
        budget_minutes: Bound on the whole walk (earlier sessions of it included).
        force: Go on after a failed sanity check.
        restart: Forget a saved walk in ``out`` and start over.
        until: Stop after this step (e.g. ``overfit-small`` for the checks only).
        on_event: ``(kind, step, payload)`` callbacks for progress display.
    """
    if rounds < 0:
        raise TuneError(f"--rounds {rounds}: must be 0 or more")
    if budget_minutes is not None and not budget_minutes > 0:
        raise TuneError(f"--budget {budget_minutes}: must be a positive number of minutes")
    if until is not None and until not in step_names(rounds):
        raise TuneError(f"--until {until}: no such step",
                        f"steps of this walk: {', '.join(step_names(rounds))}")
    folder = out_dir(out)
    run_dir = folder / RUN_DIR
    # What identifies the walk: resuming one with other settings would mix two walks.
    config = {"task": exp.task.spec.describe(), "hp": dict(sorted(exp.overrides.items())),
              "seed": exp.seed}
    state = WalkState.open(run_dir, config, restart)
    if restart:
        _forget_studies(folder)
    steps = Steps(exp, folder, run_dir, state, Budget(budget_minutes and budget_minutes * 60,
                                                      state.elapsed), force, until, on_event)
    from tuner.walk.report import write_report

    try:
        steps.run_all(rounds)
    except (BudgetSpent, _Until) as stop:
        steps.stopped = steps.stopped or ("budget spent" if isinstance(stop, BudgetSpent) else
                                          f"stopped after {until} (--until)")
    result = WalkResult(state.steps, steps.best, steps.epochs_spent(), stopped=steps.stopped,
                        resumed=steps.resumed, sanity_failed=steps.sanity_failed)
    result.report = str(write_report(result, exp, folder))
    return result


class _Until(Exception):
    pass


def step_names(rounds: int) -> list[str]:
    """Every step a walk of ``rounds`` rounds can take, in order."""
    names = [*SANITY, "lr-range", "search-coarse", "search-fine", "train-best", "diagnose"]
    for n in range(2, rounds + 2):
        names += [f"adjust-{n}", f"search-fine-{n}", f"train-best-{n}", f"diagnose-{n}"]
    return names


class Steps:
    """The steps of one walk, sharing the experiment, the folders and the state."""

    def __init__(self, exp: Experiment, folder: Path, run_dir: Path, state: WalkState,
                 budget: Budget, force: bool, until: str | None, on_event: OnEvent | None) -> None:
        self.exp, self.folder, self.run_dir, self.state = exp, folder, run_dir, state
        self.budget, self.force, self.until = budget, force, until
        self.emit = on_event or (lambda kind, step, payload: None)
        self.stopped: str | None = None
        self.best: dict[str, Any] | None = None
        self.resumed: list[str] = []
        self.last_codes: list[str] = []
        self.sanity_failed = False

    # --- the bookkeeping around every step ---------------------------------------
    def step(self, name: str, body: Callable[[], StepRecord]) -> StepRecord:
        done = self.state.get(name)
        if done is not None:
            self.resumed.append(name)
            self.emit("done", name, done)
        else:
            self.budget.check()
            self.emit("start", name, None)
            started = time.perf_counter()
            done = body()
            done.seconds = time.perf_counter() - started
            self.state.add(done)
            self.emit("done", name, done)
        if name == self.until:
            raise _Until
        return done

    def epochs_spent(self) -> int:
        return sum(int(s.summary.get("epochs_spent", 0)) for s in self.state.steps)

    def progress(self, step: str) -> Callable[[int, int, str], None]:
        """``report(done, total, status)`` for the step's own progress callback."""
        return lambda done, total, status="": self.emit("progress", step, (done, total, status))

    # --- the walk ----------------------------------------------------------------
    def run_all(self, rounds: int) -> None:
        from tuner.walk import steps as S

        for name in SANITY:
            rec = self.step(name, lambda name=name: S.sanity(self, name))
            if rec.verdict == "fail" and not self.force:
                self.stopped = f"sanity check {name} failed: {rec.summary.get('reason', '')}".strip()
                self.sanity_failed = True
                return
        lr = self.step("lr-range", lambda: S.lr_range_step(self))
        coarse = self.step("search-coarse", lambda: S.search_step(self, "search-coarse", "coarse",
                                                                 lr_range=lr.result))
        last_study = coarse.summary["study"]
        fine = self.step("search-fine", lambda: S.search_step(self, "search-fine", "fine",
                                                             from_study=last_study))
        search_rec = fine if fine.result.get("best") else coarse
        epochs_factor = 1
        self.train_and_diagnose("", search_rec, epochs_factor)
        for round_no in range(2, rounds + 2):
            codes = self.last_codes
            if codes == ["good-fit"]:
                return
            tag = f"-{round_no}"
            adjusted = self.step(f"adjust{tag}", lambda: S.adjust_step(self, f"adjust{tag}", codes,
                                                                      search_rec))
            epochs_factor *= int(adjusted.summary["epoch_factor"])
            search_rec = self.step(f"search-fine{tag}", lambda: S.search_step(
                self, f"search-fine{tag}", "fine", from_study=search_rec.summary["study"],
                adjusted=adjusted.result))
            if not search_rec.result.get("best"):
                return
            self.train_and_diagnose(tag, search_rec, epochs_factor)

    def train_and_diagnose(self, tag: str, search_rec: StepRecord, epochs_factor: int) -> None:
        """Retrain the search's best for the full budget, diagnose it, keep the better model."""
        from tuner.walk import steps as S

        trained = self.step(f"train-best{tag}", lambda: S.train_best_step(
            self, f"train-best{tag}", search_rec, epochs_factor))
        diag = self.step(f"diagnose{tag}", lambda: S.diagnose_step(self, f"diagnose{tag}", trained))
        self.last_codes = list(diag.summary["codes"])
        self.best = S.better(self.best, trained)


def _forget_studies(folder: Path) -> None:
    """Delete the studies an earlier walk made, so a restarted walk starts clean."""
    import optuna

    from tuner.search import open_storage
    from tuner.search.storage import journal_path

    if not journal_path(folder).exists():
        return
    storage = open_storage(folder)
    for summary in storage.get_all_studies():
        if summary.study_name.startswith(f"{STUDY_PREFIX}-"):
            optuna.delete_study(study_name=summary.study_name, storage=storage)
