"""``tune diagnose`` as one call: find the curves, diagnose, write the results.

Writes ``<out>/diagnose.json`` (the result, which later steps read) and
``<out>/diagnose.png`` (the annotated curves); ``tune run`` gives each round
its own folder.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from tuner.chance import Chance
from tuner.diagnose.diagnosis import diagnose
from tuner.diagnose.curves import RunCurves, read_curves
from tuner.diagnose.result import DiagnoseResult
from tuner.errors import TuneError
from tuner.outdir import out_dir, save_json

TRAIN_HISTORY = "history.json"  # what tune train writes to --out


def load_input(out: str | Path, *, curves: str | None = None, study: str | None = None,
               trial: int | None = None, storage: str | None = None) -> tuple[RunCurves, str]:
    """The curves to diagnose and a label for them.

    ``--curves FILE`` reads that file. Otherwise a study: ``--study``/``--trial``
    when given, else the best trial of the most recent study in ``out`` (or
    ``storage``). With no study, or when ``out``'s ``history.json`` from
    ``tune train`` is newer than the newest study's last trial, that run is
    read instead, so ``tune train && tune diagnose`` diagnoses the run just
    trained; the label says which was read.
    """
    if curves is not None:
        if study is not None or trial is not None or storage is not None:
            raise TuneError("--curves excludes --study, --trial and --storage",
                            "diagnose either a curves file or a search trial")
        return read_curves(curves), str(curves)
    from tuner.search.storage import latest_study_time

    trained = Path(out) / TRAIN_HISTORY
    if study is None and trial is None and storage is None:
        latest = latest_study_time(out)
        if latest is None and not trained.is_file():
            raise TuneError(f"nothing to diagnose in {out}: no studies and no {TRAIN_HISTORY}",
                            "run tune search or tune train first, or pass --curves FILE")
        if trained.is_file() and (latest is None or _modified(trained) >= latest[0]):
            newer = "" if latest is None else f" (newer than study {latest[1]}; --study to pick one)"
            return read_curves(trained), f"tune train's {trained}{newer}"
    from tuner.diagnose.study import study_curves

    return study_curves(out, study, trial, storage)


def _modified(path: Path) -> datetime:
    """A file's modification time, in local time as Optuna stamps trials."""
    return datetime.fromtimestamp(path.stat().st_mtime)


def parse_classes(text: str) -> Chance:
    """``--classes``: a class count (balanced classes) or the classes' shares or
    counts, comma-separated (``0.7,0.1,0.1,0.1`` or ``700,100,100,100``)."""
    hint = "give the number of classes, e.g. --classes 10, or their shares, e.g. --classes 0.7,0.2,0.1"
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise TuneError(f"--classes {text}: not a number or a list of numbers", hint) from None
    if len(values) == 1:
        count = values[0]
        if not (count >= 2 and count == int(count)):
            raise TuneError(f"--classes {text}: a task has a whole number of classes, at least 2", hint)
        return Chance.uniform(int(count))
    if len(values) < 2 or any(not (v >= 0 and math.isfinite(v)) for v in values) or sum(values) <= 0:
        raise TuneError(f"--classes {text}: shares must be non-negative numbers, one per class", hint)
    return Chance.of_shares(values)


def check_reference(value: float | None) -> float | None:
    """``--reference``: a validation accuracy, between 0 and 1."""
    if value is not None and not (0 < value <= 1):
        raise TuneError(f"--reference {value:g}: must be an accuracy between 0 and 1",
                        "give the best validation accuracy other runs of the task reached, e.g. 0.97")
    return value


def diagnose_and_save(run: RunCurves, out: str | Path, *, source: str = "") -> DiagnoseResult:
    """Diagnose ``run`` (with its history's chance level and its reference, when
    known) and write ``<out>/diagnose.png`` and ``<out>/diagnose.json``."""
    from tuner.diagnose.plot import plot_diagnosis

    result = diagnose(run.history, hyper=run.hyperparameters, declared=run.declared, source=source,
                      reference=run.reference)
    folder = out_dir(out)
    png, js = folder / "diagnose.png", folder / "diagnose.json"
    result.files = [str(png), str(js)]
    plot_diagnosis(run.history, result, png)
    save_json(js, result.to_dict())
    return result
