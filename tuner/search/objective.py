"""One search trial: sample the space, build and train the model with the one
engine, report each epoch for pruning, and record what happened on the trial.

Every trial ends with ``user_attrs``:

* ``history``: the run's ``History.to_dict()`` (per-epoch curves, JSON-safe),
* ``hp``: all hyperparameters, training and model, as ``--hp`` accepts them,
* ``epochs``: epochs actually trained, ``seconds``: the trial's wall time,
* ``reason`` for a failed or interrupted trial (``interrupted`` is then True),
* ``worker``: ``{"host", "pid"}`` of the process that ran it (written when it
  starts, with its lease: :mod:`tuner.search.lease`).

A trial whose lease was reclaimed while it trained (its worker missed its
heartbeats, e.g. the machine was suspended) is abandoned: the reclaiming
worker has failed it and queued it again.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from tuner.engine import EpochRecord, History
from tuner.errors import RunError, describe_exception
from tuner.experiment import Experiment
from tuner.hp import ParamSpec
from tuner.jsonable import to_jsonable
from tuner.params import TRAIN_NAMES
from tuner.search.lease import Heartbeat, LeaseLost
from tuner.search.space import SearchSpace


@dataclass
class TrialOutcome:
    """How one trial ended: ``state`` is complete, pruned, failed, interrupted,
    or lost (reclaimed by another worker while it ran here)."""

    number: int
    state: str
    value: float | None
    epochs: int
    seconds: float
    train_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "state": self.state, "value": self.value,
                "epochs": self.epochs, "seconds": self.seconds, "params": self.params,
                "reason": self.reason}


SIGNIFICANT = 4  # digits a sampled real value keeps


def suggest(trial: Any, spec: ParamSpec) -> Any:
    """One Optuna suggestion for a range or a choice.

    A real value is rounded to 4 significant digits (within its range) before it
    is used: the trial trains on exactly the value that ``tune best`` and every
    printed command show, so a printed command reproduces the trial, and no
    digit in it is noise (``lr=0.003162``, not ``lr=0.0031622776601683794``).
    """
    if spec.kind == "choice":
        return trial.suggest_categorical(spec.name, list(spec.options))
    if spec.kind == "int":
        return trial.suggest_int(spec.name, int(spec.low), int(spec.high), log=spec.log)
    value = trial.suggest_float(spec.name, float(spec.low), float(spec.high), log=spec.log)
    return min(max(float(f"{value:.{SIGNIFICANT}g}"), spec.low), spec.high)


def sample_training(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """The training hyperparameters of a trial; conditional names after their parents."""
    names = [n for n in space if n in TRAIN_NAMES]
    sampled: dict[str, Any] = {}
    for name in sorted(names, key=lambda n: n in space.when):
        if space.active(name, sampled):
            sampled[name] = suggest(trial, space[name])
    return sampled


def run_trial(exp: Experiment, study: Any, trial: Any, space: SearchSpace, epochs: int, *,
              lease: Heartbeat | None = None) -> TrialOutcome:
    """Train one trial of ``study`` and tell Optuna how it ended.

    A diverged run or an exception in the user's code fails the trial (with
    its reason) instead of stopping the search. Ctrl-C marks the trial as
    interrupted, queues its parameters to be tried again by the next run,
    and re-raises. When ``lease`` says the trial was reclaimed (or the storage
    refuses to update it because it was), training stops and the outcome is
    ``lost``, told to no one. A lost storage
    (:class:`~tuner.search.reconnect.StorageLost`) propagates, telling nothing.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    start = time.perf_counter()
    records: list[EpochRecord] = []
    hp: dict[str, Any] = {}

    def on_epoch(rec: EpochRecord) -> bool:
        records.append(rec)
        if lease is not None:
            lease.check()
        trial.report(rec.val_acc, rec.epoch)
        return rec.epoch < epochs and trial.should_prune()

    def lost() -> TrialOutcome:
        return TrialOutcome(trial.number, "lost", None, len(records), time.perf_counter() - start,
                            sum(r.seconds for r in records), dict(trial.params),
                            "reclaimed by another worker after missed heartbeats")

    try:
        params = exp.params.replace(**sample_training(trial, space), epochs=epochs)
        hp.update(params.to_dict())
        built = exp.build(suggest=lambda spec: suggest(trial, space[spec.name]) if spec.name in space
                          else spec.default_value(), params=params)
        hp.update(built.hp.values)
        history = exp.fit(built, epochs=epochs, on_epoch=on_epoch)
    except KeyboardInterrupt:
        with contextlib.suppress(UpdateFinishedTrialError):  # reclaimed meanwhile: retried already
            _record(trial, History(records, reason="interrupted"), hp, start,
                    reason="interrupted by the user (Ctrl-C)", interrupted=True)
            told = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            if not told.user_attrs.get("lost"):
                study.enqueue_trial(dict(told.params), user_attrs={"retry_of": trial.number})
        raise
    except (LeaseLost, UpdateFinishedTrialError):
        return lost()
    except RunError:  # the storage is gone: nothing can be told; the trial will be reclaimed
        raise
    except Exception as e:  # the user's model or data failing for these values
        history = History(records, reason=describe_exception(e))
    state, value, reason = _ending(history)
    try:
        seconds = _record(trial, history, hp, start, reason=reason)
        told = study.tell(trial, value if state == "complete" else None,
                          state={"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
                                 "failed": TrialState.FAIL}[state], skip_if_finished=True)
    except UpdateFinishedTrialError:
        return lost()
    if told.user_attrs.get("lost") and told.state == TrialState.FAIL:
        return lost()  # reclaimed between its last attribute and its ending
    return TrialOutcome(trial.number, state, value, len(history.epochs), seconds,
                        sum(e.seconds for e in history.epochs), dict(trial.params), reason)


def _ending(history: History) -> tuple[str, float | None, str | None]:
    """complete (value = best validation accuracy over the epochs), pruned, or failed."""
    if history.diverged or history.reason:
        return "failed", None, history.reason
    if history.stopped:
        return "pruned", None, None
    value = history.best_val_acc
    if not math.isfinite(value):
        return "failed", None, "validation accuracy is not a number"
    return "complete", value, None


def _record(trial: Any, history: History, hp: Mapping[str, Any], start: float, *,
            reason: str | None, interrupted: bool = False) -> float:
    """Write the trial's user attributes; returns its wall time in seconds."""
    seconds = time.perf_counter() - start
    trial.set_user_attr("history", to_jsonable(history.to_dict()))
    trial.set_user_attr("hp", to_jsonable(dict(hp)))
    trial.set_user_attr("epochs", len(history.epochs))
    trial.set_user_attr("seconds", round(seconds, 4))
    if reason:
        trial.set_user_attr("reason", reason)
    if interrupted:
        trial.set_user_attr("interrupted", True)
    return seconds
