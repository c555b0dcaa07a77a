"""Running trials of a stored study: sampler, pruner, the trial budget, Ctrl-C.

The same loop runs in this process (``--jobs 1``) and in each worker process
(``--jobs N``, or several machines sharing ``--storage``). Everything a worker
needs is in a :class:`Plan`, which is picklable; the sampler and pruner are
rebuilt from it, since Optuna does not store them.

``--trials`` is the study's total: a worker claims a new trial only while
finished plus running trials are fewer than the total. ``--epoch-budget`` is
the study's total of epochs trained (every trial counts what it ran: pruned,
failed, interrupted and lost ones too): a worker claims a new trial only while
the epochs already trained, plus the whole length of every running trial (a
running trial holds its full ``epochs`` until it ends, since it may not be
pruned), plus the new trial's length fit in the budget; when they fit only
once a running trial ends early, it waits for that. So the budget is not
exceeded (one exception: a worker frozen long enough for its trial to be
reclaimed may finish the epoch it was in when it wakes, one uncounted epoch),
and a study that stops leaves less than one trial's length of it unused. A
trial that failed before finishing an epoch counts one (:func:`trial_epochs`). These checks and the trial's creation happen under one lock: a file
lock beside a journal or SQLite file, an advisory lock on PostgreSQL, so
parallel workers on any number of machines never overshoot. On other servers
(MySQL, Redis), and on PostgreSQL if the lock cannot be had within
:data:`LOCK_WAIT_SECONDS`, two workers may each start one last trial at the
same moment: at most one extra trial (and its epochs) per extra worker.

Every trial holds a lease (:mod:`tuner.search.lease`): the claiming worker
first reclaims trials whose worker is gone (killed, out of memory, a lost
machine): each is marked failed with ``reason`` ``worker lost (host, pid,
last heartbeat)``, ``lost`` and, when its configuration is queued again
(once: a retry that is lost too is not retried), ``interrupted``, so it is
redone rather than counted, like a trial stopped by Ctrl-C. A worker that
finds the total reached only by trials still running waits for them to end
or lapse instead of leaving the study short.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from tuner.search.lease import (HEARTBEAT_SECONDS, Heartbeat, StaleTrial, Worker, find_stale,
                                rdb_of, start_lease, this_worker)
from tuner.search.space import SearchSpace
from tuner.search.storage import (describe_storage, is_server_url, journal_path, open_storage,
                                  sync_storage)

if TYPE_CHECKING:  # training needs torch; reading a study (tune best, diagnose) must not
    from tuner.experiment import Experiment
    from tuner.search.objective import TrialOutcome

PRUNERS = ("auto", "median", "hyperband", "asha", "none")
FINE_STARTUP = 3  # random trials before TPE models the fine space (after the enqueued best)
LOCK_WAIT_SECONDS = 30.0  # then claim without PostgreSQL's lock (risking one extra trial)


@dataclass(frozen=True)
class Plan:
    """One search run, as data a worker process can rebuild everything from."""

    study_name: str
    out: str
    url: str | None
    mode: str
    space: dict[str, Any]
    epochs: int
    trials: int | None  # the study's total; None: no cap on the count (a budget bounds it)
    deadline: float | None
    seed: int
    pruner: str
    jobs: int = 1
    heartbeat: int = HEARTBEAT_SECONDS
    epoch_budget: int | None = None  # the study's total of epochs trained; None: no budget

    @property
    def shared(self) -> bool:
        """Whether other processes are expected to run this study at the same time."""
        return self.jobs > 1 or is_server_url(self.url)

    def done(self, counts: "Counts") -> bool:
        """Whether a study with ``counts`` is finished: its total of trials reached,
        or too little of its epoch budget left for one more trial even if every
        running trial stopped now."""
        if self.trials is not None and counts.finished >= self.trials:
            return True
        return self.epoch_budget is not None and counts.epochs + self.epochs > self.epoch_budget

    def may_start(self, counts: "Counts") -> bool:
        """Whether one more trial fits beside the running ones: by count, and by
        budget with every running trial holding its full length."""
        if self.trials is not None and counts.finished + counts.running >= self.trials:
            return False
        return self.epoch_budget is None or \
            counts.committed(self.epochs) + self.epochs <= self.epoch_budget


def derive_seed(seed: int, worker: int, existing: int, *, process: Worker | None = None) -> int:
    """A sampler seed per (run seed, worker, trials already in the study), and per
    process (``host``, ``pid``) when one is given: with ``--jobs 1`` on a file
    storage none is, so the same ``--seed`` repeats; every worker of a shared
    study passes its own, so no two workers on any machines sample alike."""
    entropy = [seed, worker, existing]
    if process is not None:
        entropy += [zlib.crc32(process.host.encode()), process.pid]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def make_sampler(plan: Plan, *, worker: int, existing: int) -> Any:
    """Coarse: independent random sampling (it beats a grid when few parameters
    matter). Fine: multivariate TPE, with a constant liar so parallel workers
    spread out instead of sampling the same point."""
    import optuna

    seed = derive_seed(plan.seed, worker, existing,
                       process=this_worker() if plan.shared else None)
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
    """Trials of a study by how they ended; ``interrupted`` ones (Ctrl-C) and
    ``lost`` ones (their worker died) are redone, not counted as trials.

    ``epochs`` counts every epoch trained, by every trial (interrupted and lost
    ones included: they were trained), of which ``running_epochs`` by trials
    still running.
    """

    completed: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    lost: int = 0
    running: int = 0
    waiting: int = 0
    epochs: int = 0
    running_epochs: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.pruned + self.failed

    def committed(self, epochs_per_trial: int) -> int:
        """Epochs spent or held: every running trial holds its full length."""
        return self.epochs - self.running_epochs + self.running * epochs_per_trial


def is_failure(t: Any) -> bool:
    """Whether trial ``t`` failed for its own reasons (its model or data, a diverged
    loss), as opposed to an interrupted or lost trial, which is redone."""
    from optuna.trial import TrialState

    return t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")


def trial_epochs(t: Any) -> int:
    """Epochs a trial counts: what it recorded when it ended, else (still
    running, or its worker lost) the epochs it reported. A trial that failed
    before finishing an epoch (its model does not build, its first batch
    raises) counts one: it cost compute too, and a budgeted search whose
    every trial fails at once must still use its budget up and stop."""
    from optuna.trial import TrialState

    recorded = t.user_attrs.get("epochs")
    spent = int(recorded) if recorded is not None else len(t.intermediate_values)
    if spent == 0 and is_failure(t):
        return 1
    return spent


def count_trials(trials: list[Any]) -> Counts:
    from optuna.trial import TrialState

    c = Counts()
    for t in trials:
        spent = trial_epochs(t)
        c.epochs += spent
        if t.state == TrialState.RUNNING:
            c.running_epochs += spent
        if t.state == TrialState.COMPLETE:
            c.completed += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif is_failure(t):
            c.failed += 1
        elif t.state == TrialState.FAIL:
            if t.user_attrs.get("lost"):
                c.lost += 1
            else:
                c.interrupted += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
        elif t.state == TrialState.WAITING:
            c.waiting += 1
    return c


@contextlib.contextmanager
def budget_lock(plan: Plan, storage: Any) -> Iterator[None]:
    """Hold the study's lock around counting and creating a trial: a file lock
    beside a file storage, an advisory lock on PostgreSQL, none otherwise."""
    if plan.url is None:
        target: Path | None = journal_path(plan.out)
    elif "://" not in plan.url:
        target = Path(plan.url)
    elif plan.url.startswith("sqlite:///"):
        target = Path(plan.url[len("sqlite:///"):])
    else:
        target = None
    if target is None:
        rdb = rdb_of(storage)
        if rdb is not None and rdb.engine.name == "postgresql":
            with _advisory_lock(rdb.engine, plan.study_name, storage):
                yield
        else:
            yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the journal's own lock still keeps the file sound
        yield
        return
    fd = os.open(str(target) + ".budget.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def _advisory_lock(engine: Any, study_name: str, storage: Any) -> Iterator[None]:
    """PostgreSQL's transaction-scoped advisory lock on the study's name, held on
    a connection of its own. The server frees it when the transaction ends or
    its connection drops (a killed worker never holds it). After
    :data:`LOCK_WAIT_SECONDS` of waiting the claim goes on without it."""
    from sqlalchemy import text

    key = int.from_bytes(hashlib.sha256(f"tune:{study_name}".encode()).digest()[:8], "big", signed=True)
    lock = text("SELECT pg_try_advisory_xact_lock(:k)")

    def acquire() -> Any:
        conn = engine.connect()
        try:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while not conn.execute(lock, {"k": key}).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
        except BaseException:
            conn.close()
            raise
        return conn

    conn = getattr(storage, "call", lambda fn: fn())(acquire)  # retried while the server is away
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a dropped connection has freed the lock already
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.close()


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


def claim_trial(study: Any, plan: Plan, *, me: Worker | None = None) -> Any | None:
    """A new trial, leased to this worker, if the study's total is not reached,
    its epoch budget has room for one more trial (and time is left), else None.

    Stale trials are reclaimed first. While the total or the budget is reached
    only by counting trials still running elsewhere (at their full length),
    this waits (polling) for them to finish or lapse, so a lost one is redone
    here rather than left undone, and epochs a pruned trial did not use go to
    a new trial.
    """
    me = me or this_worker()
    storage = study._storage
    while plan.deadline is None or time.time() < plan.deadline:
        with budget_lock(plan, storage):
            trials = study.get_trials(deepcopy=False)
            stale = find_stale(storage, study._study_id, trials, interval=plan.heartbeat, me=me,
                               call=getattr(storage, "call", None))
            if stale and reclaim(study, stale):
                trials = study.get_trials(deepcopy=False)
            counts = count_trials(trials)
            if plan.done(counts):
                return None
            if plan.may_start(counts):
                trial = study.ask()
                start_lease(storage, trial._trial_id, plan.heartbeat, me)
                return trial
        time.sleep(wait_seconds(plan.heartbeat))
    return None


def wait_seconds(heartbeat: float) -> float:
    """How often a waiting worker looks again: often enough to reclaim a lapsed
    lease within a third of a heartbeat, at most every 2 s."""
    return min(2.0, max(0.2, heartbeat / 3))


def reclaim(study: Any, stale: list[StaleTrial]) -> list[int]:
    """Mark each stale trial failed (``reason`` ``worker lost (...)``, ``lost``)
    and queue its configuration again, once; returns the numbers reclaimed here.

    The reason is written before the trial is failed (a storage refuses to
    change a finished trial); whichever worker's FAIL the storage accepts
    first queues the retry, so a trial is retried at most once even when two
    machines reclaim it at the same moment.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, done = study._storage, []
    for s in stale:
        t = s.trial
        retry = t.user_attrs.get("retry_cause") != "lost"  # a lost retry is not retried again
        reason = s.reason if retry else f"{s.reason}; it was the retry of lost trial " \
                                        f"{t.user_attrs.get('retry_of')}, so it is not retried again"
        try:
            storage.set_trial_user_attr(t._trial_id, "reason", reason)
            storage.set_trial_user_attr(t._trial_id, "lost", True)
            if retry:
                storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # its worker finished it, or another worker reclaimed it
            continue
        if retry:
            study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number, "retry_cause": "lost"})
        done.append(t.number)
    return done


OnOutcome = Callable[["TrialOutcome"], None]


def run_worker(exp: Experiment, plan: Plan, *, worker: int = 0, storage: Any = None,
               on_outcome: OnOutcome | None = None) -> list[TrialOutcome]:
    """Run trials of ``plan``'s study until its total, budget or deadline is reached.

    Every storage call is retried while the server is unreachable, for up to a
    minute (:mod:`tuner.search.reconnect`); each trial's lease is renewed every
    ``plan.heartbeat`` seconds while it trains.

    Raises:
        KeyboardInterrupt: Ctrl-C, after the running trial has been marked as
            interrupted and queued again.
        StorageLost: the storage stayed unreachable; the running trial is left
            to be reclaimed.
    """
    from tuner.search.objective import run_trial
    from tuner.search.reconnect import retrying, skipping_connection_errors

    # In-process callers pass the storage they opened: opening a journal replays it.
    raw = storage if storage is not None else open_storage(plan.out, plan.url)
    patient = retrying(raw, describe=describe_storage(plan.out, plan.url), url=plan.url)
    study = load_study(plan, patient, worker=worker)
    space = SearchSpace.from_dict(plan.space)
    me = this_worker()
    outcomes: list[TrialOutcome] = []
    try:
        while (trial := claim_trial(study, plan, me=me)) is not None:
            with Heartbeat(raw, trial._trial_id, plan.heartbeat) as lease:
                outcome = run_trial(exp, study, trial, space, plan.epochs, lease=lease)
            sync_storage(raw)
            outcomes.append(outcome)
            if on_outcome is not None:
                with skipping_connection_errors():  # progress read through a storage that is away
                    on_outcome(outcome)
    finally:
        with contextlib.suppress(OSError):  # a journal on a vanished disk: the error above says more
            sync_storage(raw, force=True)
    return outcomes
