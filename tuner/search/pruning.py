"""Pruning that compares like with like.

Some hyperparameters change how fast a trial learns, not just how well:
augmentation makes the first epochs harder (the model sees a new variant of
every image), so an augmented trial trails an unaugmented one early even when
it ends ahead. A pruner that ranks every trial together at epoch 1 kills the
augmented ones systematically (measured by ``benchmarks/augmentation.py``: all
augmented trials pruned against 42% of the others on small digits). So the
names in :data:`STRATA` split the study into strata, and the pruner ranks a
trial only against trials of its own stratum; completed trials of every
stratum still compete on their final value.
"""

from __future__ import annotations

from typing import Any, Mapping

import optuna

from tuner.search.space import STRATA


class _Stratum:
    """A study seen through one stratum: ``get_trials`` returns only the trials
    whose ``key`` parameter has ``value``; everything else is the study's."""

    def __init__(self, study: Any, key: str, value: Any) -> None:
        self._study, self._key, self._value = study, key, value

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.params.get(self._key) == self._value]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class StratifiedPruner(optuna.pruners.BasePruner):
    """Wrap an Optuna pruner so that it judges a trial within its stratum."""

    def __init__(self, pruner: Any, keys: tuple[str, ...]) -> None:
        self.pruner, self.keys = pruner, keys

    def prune(self, study: Any, trial: Any) -> bool:
        view = study
        for key in self.keys:
            if key in trial.params:
                view = _Stratum(view, key, trial.params[key])
        return self.pruner.prune(view, trial)


def stratify(pruner: Any, space: Mapping[str, Any]) -> Any:
    """``pruner``, judging within strata when the space searches a name of
    :data:`STRATA` with more than one value (else the pruner itself)."""
    keys = tuple(k for k in STRATA if k in space and len(space[k].get("choices", ())) > 1)
    if not keys or isinstance(pruner, optuna.pruners.NopPruner):
        return pruner
    return StratifiedPruner(pruner, keys)
