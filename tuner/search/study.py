"""Running trials of a stored study: sampler, pruner, the trial budget, Ctrl-C.

The same loop runs in this process (``--jobs 1``) and in each worker process
(``--jobs N``, or several machines sharing ``--storage``). Everything a worker
needs is in a :class:`Plan`, which is picklable; the sampler and pruner are
rebuilt from it, since Optuna does not store them.

``--trials`` is the study's total: a worker claims a new trial only while
finished plus running trials are fewer than the total. On a local journal or
SQLite file that check and the trial's creation happen under one file lock,
so parallel workers never overshoot; on a server storage two machines may
each start one last trial at the same moment.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from tuner.search.space import SearchSpace
from tuner.search.storage import journal_path, open_storage, sync_storage

if TYPE_CHECKING:  # training needs torch; reading a study (tune best, diagnose) must not
    from tuner.experiment import Experiment
    from tuner.search.objective import TrialOutcome

PRUNERS = ("auto", "median", "hyperband", "asha", "none")
FINE_STARTUP = 3  # random trials before TPE models the fine space (after the enqueued best)


@dataclass(frozen=True)
class Plan:
    """One search run, as data a worker process can rebuild everything from."""

    study_name: str
    out: str
    url: str | None
    mode: str
    space: dict[str, Any]
    epochs: int
    trials: int
    deadline: float | None
    seed: int
    pruner: str
    jobs: int = 1


def derive_seed(seed: int, worker: int, existing: int) -> int:
    """A sampler seed per (run seed, worker, trials already in the study): repeatable
    for ``--jobs 1``, different for each worker and for each resumed run."""
    return int(np.random.SeedSequence([seed, worker, existing]).generate_state(1)[0])


def make_sampler(plan: Plan, *, worker: int, existing: int) -> Any:
    """Coarse: independent random sampling (it beats a grid when few parameters
    matter). Fine: multivariate TPE, with a constant liar so parallel workers
    spread out instead of sampling the same point."""
    import optuna

    seed = derive_seed(plan.seed, worker, existing)
    if plan.mode == "coarse":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=FINE_STARTUP + 1,
                                          multivariate=True, group=True, constant_liar=True)


def make_pruner(name: str, mode: str, epochs: int) -> Any:
    """The pruner that stops hopeless trials from their per-epoch validation accuracy.

    ``auto`` (= ``asha``): asynchronous successive halving, the building block
    of Hyperband. After 1, 3, 9, ... epochs a trial goes on only if its
    accuracy is in the top third of the trials that got that far; the first
    trials always go on. On the demo it halves the epochs a coarse-then-fine
    search trains, at equal accuracy (``benchmarks/search_efficiency.py``).
    ``median`` stops a trial below the median of finished trials at the same
    epoch (gentler), ``hyperband`` runs several halving brackets, ``none``
    never prunes.
    """
    import optuna

    p = optuna.pruners
    if name in ("auto", "asha"):
        return p.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "median":
        return p.MedianPruner(n_startup_trials=5 if mode == "coarse" else FINE_STARTUP)
    if name == "hyperband":
        return p.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    return p.NopPruner()


@dataclass
class Counts:
    """Trials of a study by how they ended; ``interrupted`` ones are redone, not counted."""

    completed: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    running: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.pruned + self.failed


def count_trials(trials: list[Any]) -> Counts:
    from optuna.trial import TrialState

    c = Counts()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            c.completed += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.FAIL:
            if t.user_attrs.get("interrupted"):
                c.interrupted += 1
            else:
                c.failed += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
    return c


@contextlib.contextmanager
def budget_lock(out: str, url: str | None) -> Iterator[None]:
    """Hold an exclusive file lock beside a file storage (no-op for servers)."""
    if url is None:
        target: Path | None = journal_path(out)
    elif "://" not in url:
        target = Path(url)
    elif url.startswith("sqlite:///"):
        target = Path(url[len("sqlite:///"):])
    else:
        target = None
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the journal's own lock still keeps the file sound
        target = None
    if target is None:
        yield
        return
    fd = os.open(str(target) + ".budget.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def load_study(plan: Plan, storage: Any, *, worker: int) -> Any:
    """The plan's study in ``storage`` with this worker's sampler and the plan's pruner
    (judging trials within their strata: :mod:`tuner.search.pruning`)."""
    import optuna

    from tuner.search.pruning import stratify

    study_id = storage.get_study_id_from_name(plan.study_name)
    existing = len(storage.get_all_trials(study_id, deepcopy=False))
    return optuna.load_study(study_name=plan.study_name, storage=storage,
                             sampler=make_sampler(plan, worker=worker, existing=existing),
                             pruner=stratify(make_pruner(plan.pruner, plan.mode, plan.epochs),
                                             plan.space))


def claim_trial(study: Any, plan: Plan) -> Any | None:
    """A new trial if the study's total is not reached (and time is left), else None."""
    if plan.deadline is not None and time.time() >= plan.deadline:
        return None
    with budget_lock(plan.out, plan.url):
        counts = count_trials(study.get_trials(deepcopy=False))
        if counts.finished + counts.running >= plan.trials:
            return None
        return study.ask()


OnOutcome = Callable[["TrialOutcome"], None]


def run_worker(exp: Experiment, plan: Plan, *, worker: int = 0, storage: Any = None,
               on_outcome: OnOutcome | None = None) -> list[TrialOutcome]:
    """Run trials of ``plan``'s study until its total or deadline is reached.

    Ctrl-C (``KeyboardInterrupt``) propagates after the running trial has been
    marked as interrupted and queued again.
    """
    from tuner.search.objective import run_trial

    # In-process callers pass the storage they opened: opening a journal replays it.
    storage = storage if storage is not None else open_storage(plan.out, plan.url)
    study = load_study(plan, storage, worker=worker)
    space = SearchSpace.from_dict(plan.space)
    outcomes: list[TrialOutcome] = []
    try:
        while (trial := claim_trial(study, plan)) is not None:
            outcome = run_trial(exp, study, trial, space, plan.epochs)
            sync_storage(storage)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    finally:
        sync_storage(storage, force=True)
    return outcomes
