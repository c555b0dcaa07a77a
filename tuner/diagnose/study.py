"""The curves of one search trial: ``tune diagnose --study NAME [--trial N]``.

``tune search`` stores each trial's per-epoch curves in
``trial.user_attrs["history"]`` (``History.to_dict()``, NaN as null, with the
task's chance level) and all its hyperparameters in ``user_attrs["hp"]``. The
best validation accuracy the study's other trials reached is the reference the
trial is judged against. The default study is the most
recent one in ``--out`` (or ``--storage``); the default trial is its best.
"""

from __future__ import annotations

import math
from pathlib import Path

from tuner.diagnose.curves import RunCurves, declared_from
from tuner.engine import History
from tuner.errors import TuneError


def study_curves(out: str | Path, study: str | None = None, trial: int | None = None,
                 storage: str | None = None) -> tuple[RunCurves, str]:
    """The curves and hyperparameters of a trial, and a label such as ``study fine trial 7``.

    Without ``trial`` this is the trial ``tune best`` reports, so the two agree.

    Raises:
        TuneError: no study, no such study or trial, or a trial without curves.
    """
    from tuner.search.result import best_of
    from tuner.search.storage import load_named_study, trial_hp

    loaded, name = load_named_study(out, study, storage)
    trials = loaded.get_trials(deepcopy=False)
    if trial is None:  # the trial tune best reports
        chosen = best_of(loaded)
        if chosen is None:
            raise TuneError(f"--study {name}: no trial has completed yet",
                            "run more trials, or pick one with --trial N")
    else:  # whatever its state: a failed or pruned trial's curves are worth reading too
        chosen = next((t for t in trials if t.number == trial), None)
        if chosen is None:
            span = f"trials 0-{len(trials) - 1}" if trials else "no trials"
            raise TuneError(f"--trial {trial}: study {name} has no such trial", f"it has {span}")
    history = chosen.user_attrs.get("history")
    if not isinstance(history, dict) or not history.get("epochs"):
        raise TuneError(f"study {name} trial {chosen.number} has no recorded curves "
                        f"({chosen.state.name.lower()})", "pick a trial that trained with --trial N")
    declared = declared_from(loaded.user_attrs.get("declared"))
    return (RunCurves(History.from_dict(history), trial_hp(chosen), declared,
                      reference_of(trials, chosen.number)),
            f"study {name} trial {chosen.number}")


def reference_of(trials: list, number: int) -> float | None:
    """The best validation accuracy the study's other trials reached: a completed
    trial's value, or the best epoch a pruned or failed one reported. ``None``
    when no other trial reported any."""
    reached = []
    for t in trials:
        if t.number == number:
            continue
        if t.value is not None and math.isfinite(t.value):
            reached.append(t.value)
        reached += [v for v in t.intermediate_values.values() if math.isfinite(v)]
    return max(reached) if reached else None
