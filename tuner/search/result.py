"""What a search reports: the study's totals, its best trial, and its top trials.

All counts are the study's, not just this run's: a resumed study reports
everything it holds. ``epochs_spent`` counts epochs actually trained (a
pruned trial counts the epochs it ran, an interrupted or lost one the epochs
it finished), the number an ``--epoch-budget`` bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuner.findings import Finding
from tuner.search.storage import trial_hp
from tuner.search.study import Plan, count_trials, is_failure

TOP = 10


@dataclass
class SearchProgress:
    """Live progress for ``on_trial``: the study's totals after a trial ended.

    ``total`` is the study's cap on trials (None: a budget bounds it instead);
    ``epochs_spent`` of ``epoch_budget`` (None: no budget) the epochs trained.
    """

    done: int
    total: int | None
    best_value: float | None
    pruned: int
    failed: int
    last: dict[str, Any] | None = None
    epochs_spent: int = 0
    epoch_budget: int | None = None


@dataclass
class SearchResult:
    """The outcome of ``tune search``; :meth:`to_dict` is the ``--json`` contract.

    ``best`` is ``{params, value, trial, searched}``: ``params`` holds every
    hyperparameter of the best trial as ``--hp`` accepts it (what ``tune best``
    prints), ``searched`` only the sampled ones.
    """

    study: str
    storage: str
    mode: str
    epochs: int
    space: dict[str, Any]
    best: dict[str, Any] | None
    trials: int
    completed: int
    pruned: int
    failed: int
    interrupted_trials: int
    epochs_spent: int
    epoch_budget: int | None = None
    max_trials: int | None = None
    lost_trials: int = 0
    new_trials: int = 0
    interrupted: bool = False
    from_study: str | None = None
    top: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)  # see failure_groups

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "storage": self.storage, "best": self.best,
                "trials": self.trials, "completed": self.completed, "pruned": self.pruned,
                "failed": self.failed, "space": self.space, "epochs_spent": self.epochs_spent,
                "epoch_budget": self.epoch_budget, "max_trials": self.max_trials,
                "mode": self.mode, "epochs_per_trial": self.epochs, "from": self.from_study,
                "new_trials": self.new_trials, "interrupted": self.interrupted,
                "interrupted_trials": self.interrupted_trials, "lost_trials": self.lost_trials,
                "top": self.top,
                "warnings": [w.to_dict() for w in self.warnings], "failures": self.failures,
                "files": self.files}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "SearchResult":
        """The inverse of :meth:`to_dict` (a walk reads its searches back)."""
        return SearchResult(
            study=d["study"], storage=d.get("storage", ""), mode=d.get("mode", "coarse"),
            epochs=int(d["epochs_per_trial"]), space=dict(d.get("space") or {}), best=d.get("best"),
            trials=int(d.get("trials", 0)), completed=int(d.get("completed", 0)),
            pruned=int(d.get("pruned", 0)), failed=int(d.get("failed", 0)),
            interrupted_trials=int(d.get("interrupted_trials", 0)),
            lost_trials=int(d.get("lost_trials", 0)),
            epochs_spent=int(d.get("epochs_spent", 0)), epoch_budget=d.get("epoch_budget"),
            max_trials=d.get("max_trials"), new_trials=int(d.get("new_trials", 0)),
            interrupted=bool(d.get("interrupted")), from_study=d.get("from"),
            top=list(d.get("top", [])), warnings=[Finding.from_dict(w) for w in d.get("warnings", [])],
            files=list(d.get("files", [])), failures=list(d.get("failures", [])))


def trial_row(t: Any) -> dict[str, Any]:
    """One trial as a table row / JSON entry."""
    return {"trial": t.number, "state": t.state.name.lower(), "value": t.value,
            "epochs": t.user_attrs.get("epochs"), "params": dict(t.params),
            "reason": t.user_attrs.get("reason")}


def failure_groups(trials: list[Any]) -> list[dict[str, Any]]:
    """Failed trials grouped by reason, most frequent first: ``[{reason, count,
    trials}]``. Interrupted trials are not failures (they are redone)."""
    groups: dict[str, list[int]] = {}
    for t in trials:
        if is_failure(t):
            groups.setdefault(t.user_attrs.get("reason") or "failed", []).append(t.number)
    return [{"reason": r, "count": len(n), "trials": n}
            for r, n in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))]


def describe_failures(failures: list[dict[str, Any]]) -> list[str]:
    """``9 trials failed: AttributeError: ... (task.py:12)``, one line per reason."""
    return [f"{g['count']} trial{'s' if g['count'] != 1 else ''} failed: {g['reason']}"
            for g in failures]


def best_trial(trials: list[Any]) -> Any | None:
    """The best completed trial of ``trials`` (the earliest of equals; tune's studies
    maximise validation accuracy), or None."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def best_of(study: Any) -> Any | None:
    """The study's best completed trial, or None (Optuna raises when there is none)."""
    return best_trial(study.get_trials(deepcopy=False))


def best_entry(trial: Any) -> dict[str, Any]:
    return {"params": trial_hp(trial), "value": trial.value,
            "trial": trial.number, "searched": dict(trial.params)}


def summarize(study: Any, *, storage: str, mode: str, epochs: int, space: dict[str, Any],
              **extra: Any) -> SearchResult:
    """The :class:`SearchResult` of ``study`` as it stands in storage."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = count_trials(trials)
    best = best_trial(trials)
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE),
                  key=lambda t: (-t.value, t.number))
    return SearchResult(
        study=study.study_name, storage=storage, mode=mode, epochs=epochs, space=space,
        best=best_entry(best) if best else None, trials=counts.finished,
        completed=counts.completed, pruned=counts.pruned, failed=counts.failed,
        interrupted_trials=counts.interrupted, lost_trials=counts.lost,
        epochs_spent=counts.epochs,
        top=[trial_row(t) for t in done[:TOP]], failures=failure_groups(trials), **extra)


def progress_of(study: Any, plan: Plan, last: dict[str, Any] | None = None) -> SearchProgress:
    trials = study.get_trials(deepcopy=False)
    counts, best = count_trials(trials), best_trial(trials)
    return SearchProgress(counts.finished, plan.trials, best.value if best else None,
                          counts.pruned, counts.failed, last, counts.epochs, plan.epoch_budget)
