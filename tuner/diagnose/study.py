"""The curves of one search trial: ``tune diagnose --study NAME [--trial N]``.

``tune search`` stores each trial's per-epoch curves in
``trial.user_attrs["history"]`` (``History.to_dict()``, NaN as null) and all
its hyperparameters in ``user_attrs["hp"]``. The default study is the most
recent one in ``--out`` (or ``--storage``); the default trial is its best.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuner.diagnose.curves import RunCurves
from tuner.engine import History
from tuner.errors import TuneError


def study_curves(out: str | Path, study: str | None = None, trial: int | None = None,
                 storage: str | None = None) -> tuple[RunCurves, str]:
    """The curves and hyperparameters of a trial, and a label such as ``study fine trial 7``.

    Without ``trial`` this is the trial ``tune best`` reports, so the two agree.

    Raises:
        TuneError: no study, no such study or trial, or a trial without curves.
    """
    if trial is None:
        from tuner.search.best import best_hyperparameters

        best = best_hyperparameters(out, study, storage)
        study, trial = best.study, best.trial
    chosen, name = _trial(out, study, trial, storage)
    history = chosen.user_attrs.get("history")
    if not isinstance(history, dict) or not history.get("epochs"):
        raise TuneError(f"study {name} trial {chosen.number} has no recorded curves "
                        f"({chosen.state.name.lower()})", "pick a trial that trained with --trial N")
    hyper: dict[str, Any] = dict(chosen.user_attrs.get("hp") or chosen.params)
    return RunCurves(History.from_dict(history), hyper), f"study {name} trial {chosen.number}"


def _trial(out: str | Path, study: str | None, number: int, storage: str | None) -> tuple[Any, str]:
    """Trial ``number`` of ``study`` (default: the most recent study), whatever its state:
    a failed or pruned trial's curves are worth reading too."""
    import optuna

    from tuner.search.storage import describe_storage, journal_path, latest_study, open_storage

    name = study or latest_study(out, storage)  # None when there is no journal
    if name is None or (storage is None and not journal_path(out).is_file()):
        raise TuneError(f"no studies in {describe_storage(out, storage)}",
                        "run tune search first, or pass --curves FILE (or --storage URL)")
    store = open_storage(out, storage)
    try:
        trials = optuna.load_study(study_name=name, storage=store).get_trials(deepcopy=False)
    except KeyError:
        names = ", ".join(optuna.get_all_study_names(store)) or "none"
        raise TuneError(f"--study {name}: no such study", f"studies there: {names}") from None
    found = next((t for t in trials if t.number == number), None)
    if found is None:
        span = f"trials 0-{len(trials) - 1}" if trials else "no trials"
        raise TuneError(f"--trial {number}: study {name} has no such trial", f"it has {span}")
    return found, name
