"""One search trial: sample the space, build and train the model with the one
engine, report each epoch for pruning, and record what happened on the trial.

Every trial ends with ``user_attrs``:

* ``history``: the run's ``History.to_dict()`` (per-epoch curves, JSON-safe),
* ``hp``: all hyperparameters, training and model, as ``--hp`` accepts them,
* ``epochs``: epochs actually trained, ``seconds``: the trial's wall time,
* ``reason`` for a failed or interrupted trial (``interrupted`` is then True).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from tuner.engine import EpochRecord, History
from tuner.errors import describe_exception
from tuner.experiment import Experiment
from tuner.hp import ParamSpec
from tuner.jsonable import to_jsonable
from tuner.params import TRAIN_NAMES
from tuner.search.space import SearchSpace


@dataclass
class TrialOutcome:
    """How one trial ended: ``state`` is complete, pruned, failed or interrupted."""

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


def run_trial(exp: Experiment, study: Any, trial: Any, space: SearchSpace, epochs: int) -> TrialOutcome:
    """Train one trial of ``study`` and tell Optuna how it ended.

    A diverged run or an exception in the user's code fails the trial (with
    its reason) instead of stopping the search. Ctrl-C marks the trial as
    interrupted, queues its parameters to be tried again by the next run,
    and re-raises.
    """
    from optuna.trial import TrialState

    start = time.perf_counter()
    records: list[EpochRecord] = []
    hp: dict[str, Any] = {}

    def on_epoch(rec: EpochRecord) -> bool:
        records.append(rec)
        trial.report(rec.val_acc, rec.epoch)
        return rec.epoch < epochs and trial.should_prune()

    try:
        params = exp.params.replace(**sample_training(trial, space), epochs=epochs)
        hp.update(params.to_dict())
        built = exp.build(suggest=lambda spec: suggest(trial, space[spec.name]) if spec.name in space
                          else spec.default_value(), params=params)
        hp.update(built.hp.values)
        history = exp.fit(built, params, epochs=epochs, on_epoch=on_epoch)
    except KeyboardInterrupt:
        _record(trial, History(records, reason="interrupted"), hp, start,
                reason="interrupted by the user (Ctrl-C)", interrupted=True)
        study.tell(trial, state=TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        raise
    except Exception as e:  # the user's model or data failing for these values
        history = History(records, reason=describe_exception(e))
    state, value, reason = _ending(history)
    seconds = _record(trial, history, hp, start, reason=reason)
    study.tell(trial, value if state == "complete" else None,
               state={"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
                      "failed": TrialState.FAIL}[state])
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
