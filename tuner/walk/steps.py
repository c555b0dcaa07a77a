"""Each step of ``tune run`` as a function from the walk's context to an
:class:`Outcome`: the step's typed result (what the next step takes) and its
:class:`~tuner.walk.state.StepRecord` (what is saved and shown).

A record keeps the step's key numbers (``summary``), its result as a dict
(``result``, read back into the typed result by :data:`LOADERS` when the walk
resumes) and the files it wrote. Nothing here imports the walker: the walker
calls these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from tuner.checks import check_init, check_loss, overfit_small
from tuner.diagnose import DiagnoseResult, RunCurves, diagnose_and_save
from tuner.experiment import Experiment
from tuner.findings import CheckResult, Finding
from tuner.lr_range import LRRangeResult, lr_range
from tuner.search import SearchResult, fine_space, open_storage, search
from tuner.search.result import describe_failures
from tuner.train import TrainResult, train_and_save
from tuner.transfer.compare import DEFAULT_EPOCHS, TRANSFER_NAMES, TransferResult, compare_strategies
from tuner.transfer.verdict import SCRATCH, STRATEGIES
from tuner.walk.adjust import Adjustment, adjust_space
from tuner.walk.budget import Budget
from tuner.walk.epochs import EpochPlan
from tuner.walk.state import StepRecord

STUDY_PREFIX = "run"
# Share of the remaining budget each search may take (the rest keeps the later steps possible).
SEARCH_SHARE = {"coarse": 0.35, "fine": 0.5}
MIN_FINE_TRIALS = 3

# The numbers of each sanity check worth a line in the walk's summary (the full
# metrics stay in the step's result and its own JSON file).
KEY_METRICS = {
    "check-init": ("std_factor", "std_drift", "trainable_parameters"),
    "check-loss": ("loss", "log_num_classes", "label_entropy"),
    "overfit-small": ("samples", "lr", "steps", "final_loss", "final_acc"),
}

# (kind, step, payload): "start" (None), "done" (the StepRecord) or "progress" ((done, total, status)).
OnEvent = Callable[[str, str, Any], None]
T = TypeVar("T")


@dataclass(frozen=True)
class WalkSettings:
    """How the walk searches: ``tune run``'s search flags.

    ``trials`` and ``epochs`` are the coarse search's (each fine search runs
    half as many trials, at least 3, of 3x the coarse length); ``space`` are
    ``--space`` flags reshaping the coarse space (the fine spaces narrow within
    it); ``pruner`` and ``jobs`` apply to every search. ``epoch_budget`` bounds
    the epochs the walk trains, split among its steps
    (:func:`tuner.walk.epochs.plan_epochs`); ``trials`` then only caps the counts.
    """

    trials: int | None = None
    epochs: int | None = None
    space: tuple[str, ...] = ()
    pruner: str | None = None
    jobs: int = 1
    epoch_budget: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """What identifies the walk (``jobs`` only changes how fast it goes); the
        epoch budget only when there is one, so walks saved before it existed resume."""
        settings: dict[str, Any] = {"trials": self.trials, "epochs": self.epochs,
                                    "space": list(self.space), "pruner": self.pruner}
        if self.epoch_budget is not None:
            settings["epoch_budget"] = self.epoch_budget
        return settings

    def fine_trials(self) -> int | None:
        return None if self.trials is None else max(MIN_FINE_TRIALS, self.trials // 2)

    def check(self, exp: Experiment) -> None:
        """Refuse settings no search could use, before the walk writes anything."""
        from tuner.search.driver import check_args, coarse_space

        check_args("coarse", self.trials, None, self.epochs, self.jobs, self.pruner,
                   epoch_budget=self.epoch_budget)
        coarse_space(exp, list(self.space))


@dataclass
class StepContext:
    """What every step of one walk shares."""

    exp: Experiment
    folder: Path
    run_dir: Path
    budget: Budget
    settings: WalkSettings = field(default_factory=WalkSettings)
    emit: OnEvent = lambda kind, step, payload: None
    epochs: EpochPlan | None = None  # the split of --epoch-budget, when there is one

    def progress(self, step: str) -> Callable[..., None]:
        """``report(done, total, status)`` for the step's own progress callback."""
        return lambda done, total, status="": self.emit("progress", step, (done, total, status))


@dataclass
class Outcome(Generic[T]):
    """A finished step: its typed result and its record."""

    value: T
    record: StepRecord


def sanity(ctx: StepContext, name: str) -> Outcome[CheckResult]:
    folder = ctx.run_dir / name
    if name == "check-init":
        result = check_init(ctx.exp, out=folder)
    elif name == "check-loss":
        result = check_loss(ctx.exp, out=folder)
    else:
        bar = ctx.progress(name)
        result = overfit_small(ctx.exp, out=folder,
                               on_step=lambda done, total, lr: bar(done, total, f"lr {lr:.3g}"))
    worst = next((f for f in result.findings if f.severity == result.verdict), None)
    summary = {"findings": [f.code for f in result.findings],
               **{k: result.metrics[k] for k in KEY_METRICS[name] if k in result.metrics}}
    if worst is not None and result.verdict != "pass":
        summary["reason"] = f"{worst.code}: {worst.message}"
    return Outcome(result, StepRecord(name, result.verdict, 0.0, summary, list(result.files),
                                      result.to_dict(), notes_of(result.findings)))


def notes_of(findings: list[Finding]) -> list[dict[str, Any]]:
    """The findings worth showing with a step: its warnings and failures."""
    return [f.to_dict() for f in findings if f.severity in ("warn", "fail")]


def wants_transfer(exp: Experiment, settings: WalkSettings) -> bool:
    """Whether the walk compares transfer strategies: it starts from pretrained weights
    and leaves ``freeze``, ``backbone_lr`` and ``probe_epochs`` to the comparison."""
    named = {arg.partition("=")[0].strip() for arg in settings.space}
    return (exp.recipe.pretrained is not None
            and not any(n in exp.fixed or n in named for n in TRANSFER_NAMES))


def transfer_step(ctx: StepContext) -> Outcome[TransferResult]:
    """``tune transfer`` on the walk's experiment: the strategy the later steps search within."""
    bar = ctx.progress("transfer")
    runs, epochs = len(STRATEGIES), DEFAULT_EPOCHS
    done: dict[str, int] = {}

    def on_epoch(strategy: str, rec: Any) -> None:
        done[strategy] = rec.epoch
        bar(sum(done.values()), runs * epochs, f"{strategy} val_acc {rec.val_acc:.4f}")

    result = compare_strategies(ctx.exp, ctx.run_dir / "transfer", epochs=epochs, on_epoch=on_epoch)
    acc = result.best_val_acc()
    summary = {"strategy": result.verdict, "hp": result.hp, "similarity": result.similarity.score,
               "samples_per_class": result.samples_per_class, **acc,
               "epochs_spent": sum(len(r.history.epochs) for r in result.strategies)}
    notes = [Finding("transfer", "info", result.advice).to_dict()]
    return Outcome(result, StepRecord("transfer", "pass", 0.0, summary, list(result.files),
                                      result.to_dict(), notes))


def within_verdict(exp: Experiment, result: TransferResult) -> Experiment:
    """The experiment the later steps run: trained from scratch, or with the verdict's
    ``--hp`` values fixed (the searches then tune the rest within that strategy)."""
    return exp.without_weights() if result.verdict == SCRATCH else exp.with_hp(result.hp)


def lr_range_step(ctx: StepContext) -> Outcome[LRRangeResult]:
    bar = ctx.progress("lr-range")
    result = lr_range(ctx.exp, out=ctx.run_dir / "lr-range",
                      on_progress=lambda phase, done, total: bar(done, total, phase))
    verdict = "warn" if result.warnings else "pass"
    summary = {"suggested_lr": result.suggested_lr, "range": list(result.range),
               "spread_decades": result.spread_decades, "warnings": list(result.warnings)}
    notes = notes_of([Finding("lr-range", "warn", w) for w in result.warnings])
    return Outcome(result, StepRecord("lr-range", verdict, 0.0, summary, list(result.files),
                                      result.to_dict(), notes))


def search_step(ctx: StepContext, name: str, mode: str, *, centre: LRRangeResult | None = None,
                from_study: str | None = None, adjusted: tuple[Adjustment, int] | None = None,
                epoch_budget: int | None = None) -> Outcome[SearchResult]:
    """A coarse search (its LR range centred on ``centre``) or a fine one narrowed from
    ``from_study`` (in ``adjusted``'s space and epochs per trial, when given), within
    ``epoch_budget`` epochs when given."""
    study = f"{STUDY_PREFIX}-{name.removeprefix('search-')}"
    s = ctx.settings
    space, epochs = (adjusted[0].space, adjusted[1]) if adjusted is not None else (None, None)
    bar = ctx.progress(name)

    def on_trial(p: Any) -> None:
        best = "" if p.best_value is None else f"best val_acc {p.best_value:.4f}"
        if p.epoch_budget is None:
            bar(p.done, p.total, best)
        else:  # the budget runs out, not the count: the bar fills with epochs
            bar(p.epochs_spent, p.epoch_budget, f"{p.done} trials · {best}".strip(" ·"))

    coarse = mode == "coarse"
    result = search(ctx.exp, study_name=study, out=ctx.folder, mode=mode, from_study=from_study,
                    space=space, epochs=s.epochs if coarse else epochs, lr_range=centre,
                    space_args=list(s.space) if coarse else None,
                    trials=s.trials if coarse else s.fine_trials(), pruner=s.pruner, jobs=s.jobs,
                    timeout=ctx.budget.share(SEARCH_SHARE[mode]), on_trial=on_trial,
                    epoch_budget=epoch_budget)
    if result.interrupted:
        raise KeyboardInterrupt
    best = result.best or {}
    verdict = "fail" if not best else "warn" if result.warnings else "pass"
    summary = {"study": result.study, "trials": result.trials, "completed": result.completed,
               "pruned": result.pruned, "failed": result.failed, "best_value": best.get("value"),
               "epochs_per_trial": result.epochs, "epochs_spent": result.epochs_spent,
               "epoch_budget": result.epoch_budget, "warnings": [w.code for w in result.warnings]}
    failed = [Finding("trials-failed", "warn", line) for line in describe_failures(result.failures)]
    return Outcome(result, StepRecord(name, verdict, 0.0, summary, list(result.files),
                                      result.to_dict(), notes_of(failed + result.warnings)))


def adjust_step(ctx: StepContext, name: str, diagnosis: DiagnoseResult,
                last: SearchResult) -> Outcome[tuple[Adjustment, int]]:
    """The next fine space (shifted by the diagnosis) and its epochs per trial."""
    space, _ = fine_space(open_storage(ctx.folder), last.study)
    adj = adjust_space(space, diagnosis.codes, ctx.exp.declared, fixed=ctx.exp.fixed,
                       train_fixed=ctx.exp.params.to_dict())
    epochs = last.epochs * adj.epoch_factor
    summary = {"codes": diagnosis.codes, "changes": adj.changes, "epoch_factor": adj.epoch_factor,
               "epochs_per_trial": epochs, "warnings": [f.code for f in adj.findings]}
    return Outcome((adj, epochs), StepRecord(name, "warn" if adj.findings else "pass", 0.0, summary,
                                             [], {**adj.to_dict(), "epochs": epochs},
                                             [Finding("adjusted", "info", c).to_dict() for c in adj.changes]
                                             + notes_of(adj.findings)))


class StepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a step that trains outside a study (a retraining): ``epochs`` it
    trained, which the walk's epoch budget counts although the step runs again."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs


def train_best_step(ctx: StepContext, name: str, found: SearchResult, epoch_factor: int,
                    max_epochs: int | None = None) -> Outcome[TrainResult]:
    """Retrain the search's best for :func:`final_epochs` (at most ``max_epochs``: the
    epoch budget's allowance)."""
    params = dict(found.best["params"])
    epochs = final_epochs(ctx.exp.params.epochs, found.epochs, epoch_factor)
    if max_epochs is not None:
        epochs = max(1, min(epochs, max_epochs))
    params["epochs"] = epochs
    if "schedule" not in ctx.exp.fixed:
        # A long final run anneals, so the weights it saves are its settled best, not a
        # snapshot of a noisy plateau (the trials compared configurations; this one is kept).
        params["schedule"] = "cosine"
    exp = ctx.exp.with_hp(params)
    bar = ctx.progress(name)
    trained = [0]

    def on_epoch(rec: Any) -> None:
        trained[0] = rec.epoch
        bar(rec.epoch, epochs, f"val_acc {rec.val_acc:.4f}")

    try:
        result = train_and_save(exp, ctx.run_dir / name, on_epoch=on_epoch)
    except KeyboardInterrupt as stop:
        raise StepInterrupted(trained[0]) from stop
    h = result.history
    summary = {k: v for k, v in result.to_dict().items() if k not in ("hyperparameters", "files", "pretrained")}
    summary.update(epochs_spent=len(h.epochs), from_trial=found.best.get("trial"), study=found.study)
    notes = notes_of([Finding("diverged", "fail", h.reason or "the training loss became NaN",
                              f"its files are in {result.folder}")] if h.diverged else [])
    return Outcome(result, StepRecord(name, "fail" if h.diverged else "pass", 0.0, summary,
                                      result.files, {**result.to_dict(), "history": h.to_dict()},
                                      notes))


def final_epochs(configured: int, epochs_per_trial: int, factor: int) -> int:
    """The full budget of a final training: the configured epochs (times the rounds'
    still-improving factor), and at least twice the trials' length.

    ``epochs_per_trial`` already carries the factor (the adjusted search trains
    longer), so it is not multiplied again.
    """
    return max(configured * factor, 2 * epochs_per_trial)


def diagnose_step(ctx: StepContext, name: str, trained: TrainResult,
                  reference: float | None = None) -> Outcome[DiagnoseResult]:
    """Diagnose the retrained best against chance and ``reference`` (what the search's
    trials reached)."""
    run = RunCurves(trained.history, trained.hyperparameters, ctx.exp.declared, reference)
    result = diagnose_and_save(run, ctx.run_dir / name, source=name)
    summary = {"codes": result.codes, "advice": {d.code: d.advice for d in result.diagnoses}}
    # Every diagnosis, good-fit included: what the curves say is the step's whole point.
    notes = [Finding(d.code, d.severity, d.message, d.advice).to_dict() for d in result.diagnoses]
    return Outcome(result, StepRecord(name, result.verdict, 0.0, summary, list(result.files),
                                      result.to_dict(), notes))


def _load_adjustment(d: dict[str, Any]) -> tuple[Adjustment, int]:
    return Adjustment.from_dict(d), int(d["epochs"])


# How a saved step's ``result`` becomes its typed result again, by step kind.
LOADERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "sanity": CheckResult.from_dict,
    "lr-range": LRRangeResult.from_dict,
    "search": SearchResult.from_dict,
    "adjust": _load_adjustment,
    "train-best": TrainResult.from_dict,
    "diagnose": DiagnoseResult.from_dict,
    "transfer": TransferResult.from_dict,
}


def better(best: dict[str, Any] | None, name: str, trained: TrainResult) -> dict[str, Any]:
    """The better of the best so far and this training, by the validation accuracy
    of the weights its checkpoint keeps (its best epoch)."""
    acc = trained.history.best_val_acc
    if best is not None and (acc != acc or best["val_acc"] >= acc):
        return best
    return {"params": trained.hyperparameters, "val_acc": acc, "step": name,
            "model": next((f for f in trained.files if f.endswith("model.pt")), None)}
