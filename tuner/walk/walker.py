"""``tune run``: the whole procedure, step by step, each result feeding the next.

check-init → check-loss → overfit-small (a failed sanity check stops the walk
unless ``force``) → with ``--pretrained``, transfer (``tune transfer``'s four
strategies; the later steps train within its verdict) → lr-range → coarse search centred on it → fine search →
train the best configuration for the full budget → diagnose → adjust the
space to the diagnosis → fine search again, for ``rounds`` rounds or until a
good fit.

With ``--epoch-budget`` the epochs are split among the steps before the walk
starts (:mod:`tuner.walk.epochs`): each search and retraining gets its share
plus what the steps before it left, and the walk stops when a later round no
longer fits.

Each step hands the next its typed result (an ``LRRangeResult`` to the
coarse search, a ``SearchResult`` to train-best, a ``DiagnoseResult`` to the
adjustment). Every step's record is saved as it completes
(:mod:`tuner.walk.state`), with the walk's recipe, so running the same walk
again continues where it stopped (a saved step is read back into its typed
result); a changed task file starts it over. Searches are named studies in
``out``'s storage: ``tune best``/``tune diagnose`` open them too.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from tuner.errors import TuneError
from tuner.experiment import Experiment
from tuner.outdir import out_dir
from tuner.walk import steps as S
from tuner.walk.budget import Budget, BudgetSpent
from tuner.walk.epochs import EpochPlan, plan_epochs
from tuner.walk.result import WalkResult
from tuner.walk.state import WalkState
from tuner.walk.steps import OnEvent, Outcome, StepContext, WalkSettings

RUN_DIR = "run"
SANITY = ("check-init", "check-loss", "overfit-small")
T = TypeVar("T")


def walk(exp: Experiment, out: str | Path, *, rounds: int = 2, budget_minutes: float | None = None,
         force: bool = False, restart: bool = False, until: str | None = None,
         settings: WalkSettings | None = None, on_event: OnEvent | None = None) -> WalkResult:
    """Walk the procedure on ``exp``; resumable; bounded by ``budget_minutes``.

    Args:
        exp: The prepared experiment (its recipe's ``--hp`` values stay fixed throughout).
        out: ``--out``: studies, the report, and ``run/`` with each step's files.
        rounds: Diagnose-adjust-search rounds after the first fine search.
        budget_minutes: Bound on the whole walk (earlier sessions of it included).
        force: Go on after a failed sanity check.
        restart: Forget a saved walk in ``out`` and start over.
        until: Stop after this step (e.g. ``overfit-small`` for the checks only).
        settings: The searches' trials, epochs, space, pruner and workers, and the
            walk's epoch budget.
        on_event: ``(kind, step, payload)`` callbacks for progress display.
    """
    settings = settings or WalkSettings()
    if rounds < 0:
        raise TuneError(f"--rounds {rounds}: must be 0 or more")
    if budget_minutes is not None and not budget_minutes > 0:
        raise TuneError(f"--budget {budget_minutes}: must be a positive number of minutes")
    names = step_names(rounds, transfer=S.wants_transfer(exp, settings))
    if until is not None and until not in names:
        raise TuneError(f"--until {until}: no such step", f"steps of this walk: {', '.join(names)}")
    settings.check(exp)
    epochs = epoch_plan(exp, settings, rounds)
    folder = out_dir(out)
    run_dir = folder / RUN_DIR
    saved_settings = settings.to_dict()
    if epochs is not None:  # the rounds shape the budget's split: resuming with others would re-split it
        saved_settings["rounds"] = rounds
    state = WalkState.open(run_dir, exp.recipe, saved_settings, restart)
    if state.reset:
        _forget_studies(folder)
    ctx = StepContext(exp, folder, run_dir, Budget(budget_minutes and budget_minutes * 60,
                                                   state.elapsed), settings,
                      on_event or (lambda kind, step, payload: None), epochs)
    if epochs is not None:
        ctx.emit("plan", "epoch-budget", epochs)
    walker = Walker(ctx, state, force, until)
    from tuner.walk.report import write_report

    try:
        walker.run_all(rounds)
    except (BudgetSpent, _Until) as stop:
        walker.stopped = walker.stopped or ("budget spent" if isinstance(stop, BudgetSpent) else
                                            f"stopped after {until} (--until)")
    result = WalkResult(state.steps, walker.best, walker.epochs_spent(), stopped=walker.stopped,
                        resumed=walker.resumed, sanity_failed=walker.sanity_failed, note=state.note,
                        epoch_budget=None if epochs is None else
                        {"split": epochs.to_dict(),
                         "spent": spent_by_part(state.steps, state.interrupted)})
    final = walker.ctx.exp  # within the transfer verdict, when there was one
    if walker.best:
        from tuner.walk.report import train_command

        result.command = train_command(final, walker.best["params"])
    result.report = str(write_report(result, final, folder))
    return result


class _Until(Exception):
    pass


def epoch_plan(exp: Experiment, settings: WalkSettings, rounds: int) -> EpochPlan | None:
    """The split of ``settings.epoch_budget`` for this walk (None without one).

    Raises:
        TuneError: the budget is too small for one trial of each search and a retraining.
    """
    if settings.epoch_budget is None:
        return None
    from tuner.search.driver import COARSE_EPOCHS, FINE_FACTOR
    from tuner.transfer.compare import DEFAULT_EPOCHS
    from tuner.transfer.verdict import STRATEGIES

    coarse = settings.epochs or COARSE_EPOCHS
    transfer = len(STRATEGIES) * DEFAULT_EPOCHS if S.wants_transfer(exp, settings) else 0
    return plan_epochs(settings.epoch_budget, rounds=rounds, coarse_epochs=coarse, transfer=transfer,
                       retrain_epochs=S.final_epochs(exp.params.epochs, coarse * FINE_FACTOR, 1))


# Which part of the epoch budget each step spends (the rest are the later rounds).
PARTS = {"transfer": "transfer", "search-coarse": "coarse", "search-fine": "fine",
         "train-best": "retrain"}


def spent_by_part(steps: list[Any], interrupted: dict[str, int] | None = None) -> dict[str, int]:
    """Epochs each part of the budget spent (the keys of :meth:`EpochPlan.to_dict`), and the
    total: the finished steps', and those of attempts Ctrl-C stopped (``interrupted``)."""
    spent = {part: 0 for part in ("transfer", "coarse", "fine", "retrain", "later_rounds")}
    trained = [(s.step, int(s.summary.get("epochs_spent", 0))) for s in steps]
    for step, epochs in trained + list((interrupted or {}).items()):
        spent[PARTS.get(step, "later_rounds")] += epochs
    spent["total"] = sum(spent.values())
    return spent


def step_names(rounds: int, transfer: bool = False) -> list[str]:
    """Every step a walk of ``rounds`` rounds can take, in order (``transfer``: with
    the transfer step of a walk from pretrained weights)."""
    names = [*SANITY, *(["transfer"] if transfer else []), "lr-range", "search-coarse",
             "search-fine", "train-best", "diagnose"]
    for n in range(2, rounds + 2):
        names += [f"adjust-{n}", f"search-fine-{n}", f"train-best-{n}", f"diagnose-{n}"]
    return names


class Walker:
    """The order of one walk's steps, with the bookkeeping around each."""

    def __init__(self, ctx: StepContext, state: WalkState, force: bool, until: str | None) -> None:
        self.ctx, self.state, self.force, self.until = ctx, state, force, until
        self.stopped: str | None = None
        self.best: dict[str, Any] | None = None
        self.resumed: list[str] = []
        self.sanity_failed = False

    def step(self, name: str, kind: str, body: Callable[[], Outcome[T]]) -> T:
        """Run ``body`` for step ``name``, or read its saved result back (typed by ``kind``)."""
        done = self.state.get(name)
        if done is not None:
            self.resumed.append(name)
            value = S.LOADERS[kind](done.result)
        else:
            self.ctx.budget.check()
            self.ctx.emit("start", name, None)
            started = time.perf_counter()
            try:
                outcome = body()
            except S.StepInterrupted as stop:  # it runs again from its start: count what it trained
                self.state.add_interrupted(name, stop.epochs)
                raise
            done, value = outcome.record, outcome.value
            done.seconds = time.perf_counter() - started
            self.state.add(done)
        self.ctx.emit("done", name, done)
        if name == self.until:
            raise _Until
        return value

    def epochs_spent(self) -> int:
        return spent_by_part(self.state.steps, self.state.interrupted)["total"]

    def allowance(self, part: str) -> int | None:
        """Epochs the first round's ``part`` (coarse, fine, retrain) may train: its
        share and what the steps before it left; None without an epoch budget."""
        plan = self.ctx.epochs
        return None if plan is None else plan.target(part) - self.epochs_spent()

    def run_all(self, rounds: int) -> None:
        ctx = self.ctx
        for name in SANITY:
            resumed = self.state.get(name) is not None
            check = self.step(name, "sanity", lambda name=name: S.sanity(ctx, name))
            if check.verdict == "fail" and not self.force:
                worst_finding = next((f for f in check.findings if f.severity == "fail"), None)
                why = f"{worst_finding.code}: {worst_finding.message}" if worst_finding else ""
                self.stopped = f"sanity check {name} failed: {why}".strip()
                if resumed:
                    self.stopped += (" (saved from an earlier run: fix the task file and run again, "
                                     "which re-runs the checks it changed; --restart runs every "
                                     "step again; --force goes on regardless)")
                self.sanity_failed = True
                return
        if S.wants_transfer(ctx.exp, ctx.settings):
            verdict = self.step("transfer", "transfer", lambda: S.transfer_step(ctx))
            ctx = self.ctx = dataclasses.replace(ctx, exp=S.within_verdict(ctx.exp, verdict))
        lr = self.step("lr-range", "lr-range", lambda: S.lr_range_step(ctx))
        coarse = self.step("search-coarse", "search", lambda: S.search_step(
            ctx, "search-coarse", "coarse", centre=lr, epoch_budget=self.allowance("coarse")))
        fine = self.step("search-fine", "search", lambda: S.search_step(
            ctx, "search-fine", "fine", from_study=coarse.study, epoch_budget=self.allowance("fine")))
        found = fine if fine.best else coarse
        epoch_factor = 1
        diagnosis = self.train_and_diagnose("", found, epoch_factor, lambda: self.allowance("retrain"))
        for round_no in range(2, rounds + 2):
            if diagnosis.codes == ["good-fit"]:
                return
            if "not-learning" in diagnosis.codes:
                self.stopped = ("the best configuration learned nothing (not-learning): no search "
                                "range fixes that; run the sanity checks (tune check-init, "
                                "check-loss, overfit-small)")
                return
            tag = f"-{round_no}"
            last, seen = found, diagnosis
            adjusted = self.step(f"adjust{tag}", "adjust", lambda: S.adjust_step(
                ctx, f"adjust{tag}", seen, last))
            epoch_factor *= adjusted[0].epoch_factor
            search_epochs = None
            if self.state.get(f"search-fine{tag}") is None:  # (a saved one ran within its share)
                search_epochs = self.round_allowance(round_no, rounds, adjusted[1], epoch_factor)
                if search_epochs == 0:
                    return
            found = self.step(f"search-fine{tag}", "search", lambda: S.search_step(
                ctx, f"search-fine{tag}", "fine", from_study=last.study, adjusted=adjusted,
                epoch_budget=search_epochs))
            if not found.best:
                return
            diagnosis = self.train_and_diagnose(tag, found, epoch_factor, self.left)

    def round_allowance(self, round_no: int, rounds: int, trial_epochs: int,
                        epoch_factor: int) -> int | None:
        """The epochs a later round's fine search may train: the round's share of what is
        left less its retraining, at least one trial; 0 (and ``stopped`` set) when not
        even one trial and a retraining epoch fit; None without an epoch budget."""
        plan = self.ctx.epochs
        if plan is None:
            return None
        spent = self.epochs_spent()
        share = plan.round_share(spent, rounds + 2 - round_no)
        if share < trial_epochs + 1:
            self.stopped = (f"epoch budget spent: {spent} of {plan.budget} epochs trained, too few "
                            f"left for round {round_no} (a fine trial of {trial_epochs} epochs and "
                            "a retraining)")
            return 0
        retrain = S.final_epochs(self.ctx.exp.params.epochs, trial_epochs, epoch_factor)
        return max(trial_epochs, share - retrain)

    def left(self) -> int | None:
        """Epochs left in the budget (None without one)."""
        plan = self.ctx.epochs
        return None if plan is None else plan.budget - self.epochs_spent()

    def train_and_diagnose(self, tag: str, found: Any, epoch_factor: int,
                           allowance: Callable[[], int | None]) -> Any:
        """Retrain the search's best for the full budget (at most ``allowance()``
        epochs, asked when the retraining starts), diagnose it, keep the better model."""
        ctx = self.ctx
        trained = self.step(f"train-best{tag}", "train-best", lambda: S.train_best_step(
            ctx, f"train-best{tag}", found, epoch_factor, allowance()))
        reference = (found.best or {}).get("value")
        diagnosis = self.step(f"diagnose{tag}", "diagnose", lambda: S.diagnose_step(
            ctx, f"diagnose{tag}", trained, reference))
        self.best = S.better(self.best, f"train-best{tag}", trained)
        return diagnosis


def _forget_studies(folder: Path) -> None:
    """Delete the studies an earlier walk made, so a walk that starts over starts clean."""
    import optuna

    from tuner.search import open_storage
    from tuner.search.storage import journal_path

    if not journal_path(folder).exists():
        return
    storage = open_storage(folder)
    for summary in storage.get_all_studies():
        if summary.study_name.startswith(f"{S.STUDY_PREFIX}-"):
            optuna.delete_study(study_name=summary.study_name, storage=storage)
