"""``tune evaluate`` and ``tune predict``: a trained model used afterwards.

Both load a checkpoint (:func:`tuner.checkpoint.load`: no task flags needed,
it carries its recipe) and run it on data read for it (:mod:`tuner.heldout`),
normalised as in training. ``evaluate`` scores labelled data (the checkpoint's
own validation split by default): accuracy, loss, per-class accuracy, a
confusion matrix, and, with ``--tta``, test-time augmentation measured
(:func:`tuner.tta.evaluate_tta`); the views it keeps are recorded beside the
checkpoint (``<stem>.tta.json``) for ``predict --tta auto``. ``predict``
writes one row per sample: its id, the predicted class (by name) and every
class probability.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuner.checkpoint import LoadedModel, load
from tuner.data import TensorData
from tuner.errors import TuneError
from tuner.heldout import Samples, read_samples
from tuner.outdir import load_json, out_dir, save_json, write_atomic
from tuner.tta import (AUTO, TTAResult, check_views_apply, evaluate_tta, parse_views,
                       tta_probabilities)


@dataclass
class EvaluateResult:
    """A checkpoint scored on labelled data; :meth:`to_dict` is ``--json``'s object."""

    checkpoint: str
    data: str
    accuracy: float
    loss: float
    n: int
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    classes: list[str]
    tta: TTAResult | None = None
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n,
                "per_class": self.per_class, "tta": None if self.tta is None else self.tta.to_dict(),
                "confusion": self.confusion, "checkpoint": self.checkpoint, "data": self.data,
                "files": self.files}


@dataclass
class PredictResult:
    """Predictions of a checkpoint, one per sample, and the views averaged."""

    checkpoint: str
    data: str
    views: list[str]
    rows: list[dict[str, Any]]
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"n": len(self.rows), "views": self.views, "predictions": self.rows,
                "checkpoint": self.checkpoint, "data": self.data, "files": self.files}


def tta_record(checkpoint: str | Path) -> Path:
    """Where ``evaluate --tta`` records the views it chose: beside the checkpoint."""
    p = Path(checkpoint)
    return p.with_name(f"{p.stem}.tta.json")


def _validation_split(model: LoadedModel) -> Samples:
    """The raw validation split of the data the checkpoint was trained on."""
    from tuner.task import load_task

    task = load_task(model.checkpoint.recipe.task)
    xs, ys = [], []
    for xb, yb in task.val.batches(1024, shuffle=False):
        xs.append(xb)
        ys.append(yb)
    x, y = torch.cat(xs), torch.cat(ys)
    return Samples(x, y.long(), [str(i) for i in range(len(y))],
                   f"the validation split of {model.checkpoint.recipe.task.describe()}")


def _inputs(model: LoadedModel, samples: Samples) -> TensorData:
    """Samples as the model saw data in training (float32, normalised), on its device."""
    y = samples.y if samples.y is not None else torch.full((len(samples),), -1, dtype=torch.long)
    return TensorData(model.prepare_inputs(samples.x), y.to(model.device))


def evaluate(checkpoint: str | Path, *, data: str | None = None, tta: str | None = None,
             out: str | Path | None = None, device: str = "cpu") -> EvaluateResult:
    """Score ``checkpoint`` on ``data`` (default: its validation split).

    Args:
        tta: Views to measure (``flip``, ``crops``, ``scales``, comma-separated) or
            ``auto``; the kept ones are recorded beside the checkpoint.
        out: Folder for ``confusion.png`` (default: the checkpoint's folder).

    Raises:
        TuneError: not a checkpoint, data of another shape or without labels,
            views that do not apply to the data.
    """
    if tta is not None:
        parse_views(tta)  # an unknown view is bad input before any work
    model = load(checkpoint, device)
    samples = (_validation_split(model) if data is None else
               read_samples(data, model.classes, model.checkpoint.input_shape, labels=True))
    inputs = _inputs(model, samples)
    # With --tta the plain prediction comes from the TTA measurement's own plain pass
    # (one pass, one warm-up), not from a second run of the model.
    result_tta = None if tta is None else evaluate_tta(model.model, inputs, tta, device=model.device)
    probs = (tta_probabilities(model.model, inputs, (), device=model.device) if result_tta is None
             else result_tta.plain_probabilities)
    labels = samples.y
    correct = probs.argmax(1) == labels
    picked = probs[torch.arange(len(labels)), labels].clamp_min(1e-12)
    classes = model.classes
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    confusion.index_put_((labels, probs.argmax(1)), torch.ones(len(labels), dtype=torch.long),
                         accumulate=True)
    per_class = [{"class": name, "n": int((labels == i).sum()),
                  "accuracy": float(correct[labels == i].double().mean()) if (labels == i).any()
                  else math.nan} for i, name in enumerate(classes)]
    folder = out_dir(out if out is not None else Path(checkpoint).parent)
    result = EvaluateResult(str(checkpoint), samples.source, float(correct.double().mean()),
                            float(-picked.log().mean()), len(labels), per_class, confusion.tolist(),
                            classes, result_tta)
    from tuner.plotting import plot_confusion

    result.files.append(str(plot_confusion(confusion.tolist(), classes, folder / "confusion.png",
                                           title=f"{Path(checkpoint).name} on {samples.source}")))
    if result_tta is not None:
        record = tta_record(checkpoint)
        save_json(record, {"views": result_tta.kept, "asked": tta, "accuracy": result_tta.accuracy,
                           "gain": result_tta.gain, "gain_ci": list(result_tta.gain_ci),
                           "data": samples.source})
        result.files.append(str(record))
    return result


def predict(checkpoint: str | Path, data: str, *, tta: str | None = None,
            out: str | Path = "preds.csv", device: str = "cpu") -> PredictResult:
    """Predict every sample of ``data`` with ``checkpoint`` and write ``out`` (CSV).

    ``tta`` names views to average, or ``auto`` for the ones ``tune evaluate
    --tta`` chose and recorded beside the checkpoint.
    """
    views: list[str] = []
    if tta is not None:
        sets, auto = parse_views(tta)
        if auto:
            record = tta_record(checkpoint)
            if not record.is_file():
                raise TuneError(f"--tta {AUTO}: no views recorded for {checkpoint} ({record} is missing)",
                                f"run tune evaluate {checkpoint} --tta auto first, or name the views")
            views = list(load_json(record).get("views") or [])
        else:
            views = list(sets)
    model = load(checkpoint, device)
    samples = read_samples(data, model.classes, model.checkpoint.input_shape, labels=False)
    check_views_apply(samples.x.shape[1:], views)
    probs = tta_probabilities(model.model, model.prepare_inputs(samples.x), views,
                              device=model.device)
    classes = model.classes
    rows = [{"sample": sid, "predicted": classes[int(p.argmax())],
             "probabilities": {c: float(v) for c, v in zip(classes, p.tolist())}}
            for sid, p in zip(samples.ids, probs)]
    path = Path(out)
    out_dir(path.parent if str(path.parent) else ".")

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sample", "predicted", *(f"p_{c}" for c in classes)])
            for row, p in zip(rows, probs.tolist()):
                w.writerow([row["sample"], row["predicted"], *(f"{v:.6g}" for v in p)])

    write_atomic(path, write)
    return PredictResult(str(checkpoint), samples.source, views, rows, [str(path)])
