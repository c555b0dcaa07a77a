"""``tune status``: where the studies in a storage stand, and who is running what.

For each study (or one): its trials by state, the total it was asked for,
the best value so far, the epochs spent (and its ``--epoch-budget``), and every running trial with its
worker (host, pid), how long it has run and how old its last heartbeat is,
flagged ``stale`` by the same rule the workers reclaim by
(:func:`tuner.search.lease.find_stale`). Reads only; never imports torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tuner.errors import TuneError
from tuner.search.lease import HEARTBEAT_SECONDS, find_stale, lease_of, this_worker
from tuner.search.result import best_trial
from tuner.search.storage import describe_storage, open_existing_storage
from tuner.search.study import count_trials

@dataclass
class RunningTrial:
    """A trial that is running now, as far as the storage knows."""

    trial: int
    host: str | None
    pid: int | None
    running_seconds: float | None
    heartbeat_age_seconds: float | None
    heartbeat_seconds: float | None
    epochs: int
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "host": self.host, "pid": self.pid,
                "running_seconds": _round(self.running_seconds),
                "heartbeat_age_seconds": _round(self.heartbeat_age_seconds),
                "heartbeat_seconds": self.heartbeat_seconds, "epochs": self.epochs,
                "stale": self.stale}


@dataclass
class StudyStatus:
    """One study: ``trials`` counts each state; ``finished`` is what ``--trials`` counts
    (complete + pruned + failed; lost and interrupted trials are redone)."""

    study: str
    mode: str | None
    total: int | None
    finished: int
    trials: dict[str, int]
    best: dict[str, Any] | None
    epochs_spent: int
    running: list[RunningTrial] = field(default_factory=list)
    epoch_budget: int | None = None  # the study's --epoch-budget; None: bounded by trials only

    @property
    def stale(self) -> int:
        return sum(r.stale for r in self.running)

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "mode": self.mode, "total": self.total,
                "finished": self.finished, "trials": self.trials, "best": self.best,
                "epochs_spent": self.epochs_spent, "epoch_budget": self.epoch_budget,
                "stale": self.stale,
                "running": [r.to_dict() for r in self.running]}


@dataclass
class StatusResult:
    """The ``--json`` contract of ``tune status``."""

    storage: str
    at: str
    studies: list[StudyStatus]

    def to_dict(self) -> dict[str, Any]:
        return {"storage": self.storage, "at": self.at,
                "studies": [s.to_dict() for s in self.studies]}


def study_status(out: str | Path, study: str | None = None, url: str | None = None, *,
                 storage: Any = None) -> StatusResult:
    """Every study in the storage (or the one named ``study``), as it stands now.

    Raises:
        TuneError: no storage, no studies, or no study of that name.
    """
    storage = storage if storage is not None else open_existing_storage(out, url)
    where = describe_storage(out, url)
    now = time.time()
    frozen = sorted(storage.get_all_studies(), key=lambda s: s._study_id)
    if study is not None:
        named = [s for s in frozen if s.study_name == study]
        if not named:
            names = ", ".join(s.study_name for s in frozen) or "none"
            raise TuneError(f"--study {study}: no such study in {where}", f"studies there: {names}")
        frozen = named
    elif not frozen:
        raise TuneError(f"no studies in {where}", "run tune search first")
    return StatusResult(where, datetime.fromtimestamp(now).isoformat(timespec="seconds"),
                        [_one(storage, s, now) for s in frozen])


def _one(storage: Any, frozen: Any, now: float) -> StudyStatus:
    from optuna.trial import TrialState

    trials = storage.get_all_trials(frozen._study_id, deepcopy=False)
    c = count_trials(trials)
    stale = {s.trial.number for s in find_stale(storage, frozen._study_id, trials,
                                                interval=HEARTBEAT_SECONDS, now=now,
                                                me=this_worker())}
    best = best_trial(trials)
    running = [_running(t, now, t.number in stale) for t in trials if t.state == TrialState.RUNNING]
    spent = c.epochs  # as the search counts them: lost trials by the epochs they reported
    counts = {"complete": c.completed, "pruned": c.pruned, "failed": c.failed, "lost": c.lost,
              "interrupted": c.interrupted, "running": c.running, "waiting": c.waiting}
    total, budget = frozen.user_attrs.get("trials"), frozen.user_attrs.get("epoch_budget")
    return StudyStatus(frozen.study_name, frozen.user_attrs.get("mode"),
                       total if isinstance(total, int) else None, c.finished, counts,
                       {"trial": best.number, "value": best.value} if best else None, spent, running,
                       budget if isinstance(budget, int) else None)


def _running(t: Any, now: float, stale: bool) -> RunningTrial:
    lease = lease_of(t)
    started = lease.started if lease is not None and lease.started is not None else \
        (t.datetime_start.timestamp() if t.datetime_start else None)
    return RunningTrial(
        t.number, lease.worker.host if lease else None, lease.worker.pid if lease else None,
        None if started is None else max(0.0, now - started),
        lease.beat_age(now) if lease else None, lease.interval if lease else None,
        len(t.intermediate_values), stale)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
