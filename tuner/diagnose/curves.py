"""Read per-epoch curves from any training: CSV or JSON.

Columns ``epoch``, ``train_loss``, ``val_loss`` are required; ``train_acc``
and ``val_acc`` are optional (without them the loss-only rules apply), and
other columns are ignored. Accepted layouts:

- CSV with a header row (``tune train``'s ``history.csv`` as is);
- JSON: ``tune train``'s ``history.json`` (``{"epochs": [rows...], ...}``,
  which also carries the task's chance level), a list of row objects, or an
  object of columns (``{"epoch": [...], ...}``).

``nan``/``inf`` (CSV) and ``null``/``NaN`` (JSON) in a loss mean the run
diverged there. Anything else that is not a number is a :class:`TuneError`
naming the row and column.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.chance import Chance
from tuner.engine import EpochRecord, History
from tuner.errors import TuneError
from tuner.hp import ParamSpec

REQUIRED = ("epoch", "train_loss", "val_loss")
OPTIONAL = ("train_acc", "val_acc", "lr", "seconds")
FORMAT_HINT = "give a CSV or JSON with columns epoch, train_loss, val_loss (and optionally train_acc, val_acc)"


@dataclass
class RunCurves:
    """Curves to diagnose, with what is known about the run.

    ``hyperparameters`` and the model's ``declared`` hyperparameters (with their
    roles) when the source has them (tune's history.json, a trial); the task's
    chance level travels in ``history.chance`` (tune records it); ``reference``
    is the best validation accuracy other runs of the same task reached (a
    study's other trials, a walk's search), when known.
    """

    history: History
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    declared: dict[str, ParamSpec] = field(default_factory=dict)
    reference: float | None = None


def load_curves(path: str | Path) -> History:
    """The curves in ``path`` as a :class:`History`; raises TuneError on bad input."""
    return read_curves(path).history


def read_curves(path: str | Path) -> RunCurves:
    """Like :func:`load_curves`, also returning ``hyperparameters`` (tune's history.json)."""
    p = Path(path)
    if not p.is_file():
        raise TuneError(f"--curves {p}: no such file", FORMAT_HINT)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise TuneError(f"--curves {p}: cannot read it ({e})", FORMAT_HINT) from None
    stripped = text.lstrip()
    if not stripped:
        raise TuneError(f"--curves {p}: the file is empty", FORMAT_HINT)
    if p.suffix.lower() == ".json" or stripped[0] in "[{":
        rows, hyper, meta = _json_rows(p, text)
    else:
        rows, hyper, meta = _csv_rows(p, text), {}, {}
    history = _history(p, rows)
    history.diverged = bool(meta.get("diverged")) or history.diverged
    history.reason = meta.get("reason") if isinstance(meta.get("reason"), str) else None
    history.stopped = bool(meta.get("stopped"))
    history.chance = Chance.from_dict(meta.get("chance"))
    return RunCurves(history, hyper if isinstance(hyper, dict) else {},
                     declared_from(meta.get("declared")))


def declared_from(data: Any) -> dict[str, ParamSpec]:
    """Declarations stored as ``{name: ParamSpec.to_dict()}``; {} for anything else."""
    if not isinstance(data, dict):
        return {}
    try:
        return {name: ParamSpec.from_dict(name, d) for name, d in data.items()}
    except (KeyError, TypeError, TuneError):
        return {}


def _csv_rows(p: Path, text: str) -> list[dict[str, Any]]:
    lines = [row for row in csv.reader(text.splitlines()) if any(cell.strip() for cell in row)]
    if not lines:
        raise TuneError(f"--curves {p}: the file is empty", FORMAT_HINT)
    header = [h.strip().lower() for h in lines[0]]
    _check_columns(p, header)
    rows = []
    for n, row in enumerate(lines[1:], start=2):
        if len(row) != len(header):
            raise TuneError(f"--curves {p}: line {n} has {len(row)} values but the header has "
                            f"{len(header)}", FORMAT_HINT)
        rows.append({"_where": f"line {n}", **dict(zip(header, (v.strip() for v in row)))})
    return rows


def _json_rows(p: Path, text: str) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TuneError(f"--curves {p}: not valid JSON ({e.msg}, line {e.lineno})", FORMAT_HINT) from None
    meta: dict[str, Any] = {}
    hyper: Any = {}
    if isinstance(data, dict) and isinstance(data.get("epochs"), list):
        meta, hyper, data = data, data.get("hyperparameters") or {}, data["epochs"]
    if isinstance(data, dict):  # columns: {"epoch": [...], "train_loss": [...]}
        _check_columns(p, list(data))
        lengths = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        n = lengths.get("epoch", 0)
        bad = [k for k in REQUIRED + OPTIONAL if k in data and lengths.get(k) != n]
        if bad:
            raise TuneError(f"--curves {p}: column {bad[0]!r} is not a list as long as 'epoch' ({n})",
                            FORMAT_HINT)
        data = [{k: data[k][i] for k in lengths if k in REQUIRED + OPTIONAL} for i in range(n)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise TuneError(f"--curves {p}: expected a list of per-epoch objects, an object of columns, "
                        f"or tune's history.json", FORMAT_HINT)
    if data:
        _check_columns(p, list(data[0]))
    return [{"_where": f"epoch entry {i + 1}", **r} for i, r in enumerate(data)], hyper, meta


def _check_columns(p: Path, names: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        found = ", ".join(str(n) for n in names) or "none"
        raise TuneError(f"--curves {p}: missing column(s) {', '.join(missing)} (found: {found})",
                        FORMAT_HINT)


def _number(p: Path, row: dict[str, Any], col: str, required: bool) -> float:
    value = row.get(col)
    if value == "" and required:
        raise TuneError(f"--curves {p}: {row['_where']}: {col} is empty",
                        "write nan where a loss diverged")
    if value is None or value == "":
        if col == "epoch":
            raise TuneError(f"--curves {p}: {row['_where']}: epoch is missing", FORMAT_HINT)
        return math.nan  # JSON null is tune's NaN; an empty optional cell is "not recorded"
    if isinstance(value, bool):
        value = str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TuneError(f"--curves {p}: {row['_where']}: {col} is {value!r}, not a number",
                        FORMAT_HINT) from None


def _history(p: Path, rows: list[dict[str, Any]]) -> History:
    if not rows:
        raise TuneError(f"--curves {p}: no epochs in the file", FORMAT_HINT)
    records = []
    for row in rows:
        nums = {c: _number(p, row, c, c in REQUIRED) for c in REQUIRED + OPTIONAL}
        epoch = nums.pop("epoch")
        if not math.isfinite(epoch) or epoch != int(epoch):
            raise TuneError(f"--curves {p}: {row['_where']}: epoch {epoch!r} is not a whole number",
                            FORMAT_HINT)
        records.append(EpochRecord(epoch=int(epoch), **nums))
    epochs = [r.epoch for r in records]
    if any(b <= a for a, b in zip(epochs, epochs[1:])):
        raise TuneError(f"--curves {p}: epochs must increase row by row (got {epochs[:6]}...)",
                        FORMAT_HINT)
    diverged = any(not (math.isfinite(r.train_loss) and math.isfinite(r.val_loss)) for r in records)
    return History(records, diverged=diverged)
