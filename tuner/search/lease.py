"""Leases on running trials: which worker runs a trial, and proof that it still does.

A worker that starts a trial records itself on it (user attribute ``worker``:
``{"host", "pid"}``; system attribute ``tune:lease``: its heartbeat interval,
its start time and its PID namespace) and renews a heartbeat every
``interval`` seconds from a thread while the trial trains:

* on an RDB storage (PostgreSQL, MySQL, SQLite), Optuna's own heartbeat,
  ``RDBStorage.record_heartbeat``: a row stamped by the database server's
  clock, so machines whose clocks disagree still judge a lease alike;
* on every storage, the system attribute ``tune:heartbeat`` (seconds since
  the epoch, this machine's clock): the journal file's heartbeat, and the
  age ``tune status`` shows.

A lease is stale once its heartbeat is more than :data:`GRACE_BEATS`
intervals old (the same rule as Optuna's ``grace_period``), or at once when
its worker ran on this machine and its process is gone. :func:`find_stale`
judges; the worker that next claims a trial reclaims stale ones
(:func:`tuner.search.study.reclaim`).

Optuna drives its heartbeat from ``Study.optimize``; tune runs trials by
ask/tell, so it renews the heartbeat itself (:class:`Heartbeat`) and asks the
storage for stale trials the way ``optuna.storages.fail_stale_trials`` does.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

GRACE_BEATS = 3  # a lease is stale after this many missed heartbeats
HEARTBEAT_SECONDS = 30  # --heartbeat's default
WORKER_KEY = "worker"  # trial user attr: {"host", "pid"}
LEASE_KEY = "tune:lease"  # trial system attr: {"interval", "started", "ns"}
BEAT_KEY = "tune:heartbeat"  # trial system attr: time of the last heartbeat (epoch seconds)


class LeaseLost(Exception):
    """This worker's trial was reclaimed by another worker (it missed its heartbeats)."""


@dataclass(frozen=True)
class Worker:
    """A worker process: its host name and PID, and the PID namespace that makes
    the PID meaningful (two containers may share a host name, not a namespace)."""

    host: str
    pid: int
    ns: str | None = None

    def same_machine(self, other: Worker) -> bool:
        return self.host == other.host and self.ns == other.ns


def this_worker() -> Worker:
    try:
        ns: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:  # not Linux
        ns = None
    return Worker(socket.gethostname(), os.getpid(), ns)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (a zombie, killed but not
    yet reaped by its parent, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # without /proc (macOS) trust kill(); on Linux it has just ended
        return not Path("/proc").is_dir()
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


@dataclass(frozen=True)
class Lease:
    """A running trial's lease as stored on it (``started``/``beat``: epoch seconds)."""

    worker: Worker
    interval: float
    started: float | None
    beat: float | None

    @property
    def grace(self) -> float:
        return GRACE_BEATS * self.interval

    def beat_age(self, now: float) -> float | None:
        last = self.beat if self.beat is not None else self.started
        return None if last is None else max(0.0, now - last)


def lease_of(trial: Any) -> Lease | None:
    """The lease recorded on ``trial`` (a FrozenTrial), or None (a trial started
    by something else, or killed between its creation and its first heartbeat)."""
    record, worker = trial.system_attrs.get(LEASE_KEY), trial.user_attrs.get(WORKER_KEY)
    if not isinstance(record, dict) or not isinstance(worker, dict):
        return None
    host, pid = worker.get("host"), worker.get("pid")
    if not isinstance(host, str) or not isinstance(pid, int):
        return None
    beat = trial.system_attrs.get(BEAT_KEY)
    return Lease(Worker(host, pid, record.get("ns")), float(record.get("interval") or HEARTBEAT_SECONDS),
                 record.get("started"), beat if isinstance(beat, (int, float)) else None)


def start_lease(storage: Any, trial_id: int, interval: float, worker: Worker) -> None:
    """Record ``worker`` on a trial it has just started; its start is its first heartbeat.

    Optuna's heartbeat row is written first: a trial that carries tune's lease
    therefore also has one, which Optuna's staleness rule needs. (Three writes:
    on a server each is a transaction, so the lease is kept to as few as that.)
    """
    record = getattr(storage, "record_heartbeat", None)
    if record is not None:
        record(trial_id)
    storage.set_trial_user_attr(trial_id, WORKER_KEY, {"host": worker.host, "pid": worker.pid})
    storage.set_trial_system_attr(trial_id, LEASE_KEY, {"interval": interval, "started": time.time(),
                                                        "ns": worker.ns})


class Heartbeat:
    """Renews a trial's lease every ``interval`` seconds from a thread, while in a
    ``with`` block. ``lost`` turns True once the storage refuses a renewal
    because the trial was reclaimed (finished by another worker)."""

    def __init__(self, storage: Any, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tune-heartbeat-{trial_id}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the trial was reclaimed."""
        if self.lost:
            raise LeaseLost(f"trial {self.trial_id} was reclaimed after missed heartbeats")

    def _run(self) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except UpdateFinishedTrialError:
                self.lost = True
                return
            except Exception:  # an unreachable storage: the main thread retries or gives up
                continue

    def renew(self) -> None:
        record = getattr(self.storage, "record_heartbeat", None)
        if record is not None:
            record(self.trial_id)
        # Optuna's row does not refuse a finished trial; this attribute does, which tells
        # the worker that its trial was taken away.
        self.storage.set_trial_system_attr(self.trial_id, BEAT_KEY, time.time())


@dataclass(frozen=True)
class StaleTrial:
    """A running trial whose worker is gone, and why tune thinks so."""

    trial: Any
    lease: Lease | None
    reason: str


Call = Callable[[Callable[[], Any]], Any]


def find_stale(storage: Any, study_id: int, trials: list[Any], *, interval: float,
               now: float | None = None, me: Worker | None = None,
               call: Call | None = None) -> list[StaleTrial]:
    """The RUNNING trials among ``trials`` whose lease has lapsed.

    Args:
        storage: The study's storage (any wrapper of an RDB is unwrapped for
            Optuna's heartbeat rows).
        interval: This worker's heartbeat interval: the grace of trials that
            carry no lease.
        me: This worker (default: this process), to tell a dead local worker at once.
        call: Runs a storage query (a retrying storage passes its own retry).
    """
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    me = me or this_worker()
    call = call or (lambda fn: fn())
    running = [t for t in trials if t.state == TrialState.RUNNING]
    leases = {t.number: lease_of(t) for t in running}
    server: dict[float, set[int] | None] = {}
    stale = []
    for t in running:
        lease = leases[t.number]
        if lease is None:
            started = t.datetime_start.timestamp() if t.datetime_start else now
            age = now - started
            if age > GRACE_BEATS * interval:
                stale.append(StaleTrial(t, None, f"worker lost (unknown worker, started {age:.0f} s ago, "
                                                 "no heartbeat)"))
            continue
        w, age = lease.worker, lease.beat_age(now)
        last = "none" if age is None else f"{age:.0f} s ago"
        if w.same_machine(me) and w.pid != me.pid and not pid_alive(w.pid):
            stale.append(StaleTrial(t, lease, f"worker lost (host {w.host}, pid {w.pid}, last heartbeat "
                                              f"{last}; the process has exited)"))
            continue
        if lease.interval not in server:
            server[lease.interval] = call(lambda: server_stale_ids(storage, study_id, lease.grace))
        by_server = server[lease.interval]
        lapsed = (t._trial_id in by_server) if by_server is not None else \
            (age is not None and age > lease.grace)
        if lapsed:
            stale.append(StaleTrial(t, lease, f"worker lost (host {w.host}, pid {w.pid}, last heartbeat "
                                              f"{last})"))
    return stale


def rdb_of(storage: Any) -> Any | None:
    """The ``RDBStorage`` under ``storage``'s wrappers (tune's retrying one,
    Optuna's cache), or None for other storages."""
    from optuna.storages import RDBStorage

    seen = 0
    while storage is not None and seen < 5:
        if isinstance(storage, RDBStorage):
            return storage
        storage = getattr(storage, "inner", None) or getattr(storage, "_backend", None)
        seen += 1
    return None


_GRACE_LOCK = threading.Lock()


def server_stale_ids(storage: Any, study_id: int, grace: float) -> set[int] | None:
    """Trial ids whose Optuna heartbeat (database server time) is older than
    ``grace`` seconds; None when the storage keeps no such heartbeat.

    This is the query ``optuna.storages.fail_stale_trials`` makes; the storage
    takes its grace from its settings, so they are set for the call.
    """
    rdb = rdb_of(storage)
    if rdb is None or not hasattr(rdb, "_get_stale_trial_ids"):
        return None
    with _GRACE_LOCK:
        saved = rdb.heartbeat_interval, rdb.grace_period
        rdb.heartbeat_interval = max(1, int(grace // GRACE_BEATS))
        rdb.grace_period = max(1, math.ceil(grace))
        try:
            return set(rdb._get_stale_trial_ids(study_id))
        finally:
            rdb.heartbeat_interval, rdb.grace_period = saved
