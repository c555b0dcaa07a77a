"""Data to evaluate or predict on, read for a trained model: ``--data FILE|DIR``
of ``tune evaluate`` and ``tune predict``.

The formats are ``--data``'s (``.npz``, ``.csv``, an image folder), read whole
(no split) and fitted to the checkpoint: labels map to the checkpoint's class
*names* where the data names them (CSV label names, class sub-folders), images
are resized to the model's input size and channels, and samples of another
shape are refused. Labels are optional for prediction: an ``.npz`` with only
``x``, a CSV with only the feature columns, or a folder of images without class
sub-folders. Each sample keeps an id (its file name, or its index) for the
predictions file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from tuner.errors import TuneError
from tuner.sources import (IMAGE_SUFFIXES, MISSING, csv_features, csv_rows, image_array, integer_labels,
                           npz_arrays, npz_xy, read_image)


@dataclass
class Samples:
    """Raw inputs ``x`` (N, ...), labels as class indices (or None), one id per sample."""

    x: torch.Tensor
    y: torch.Tensor | None
    ids: list[str]
    source: str

    def __len__(self) -> int:
        return int(self.x.shape[0])


def read_samples(spec: str, classes: Sequence[str], input_shape: Sequence[int], *,
                 labels: bool) -> Samples:
    """``spec`` read for a model of ``input_shape`` and ``classes``.

    Args:
        labels: Labels are required (evaluation); else they are read when present.

    Raises:
        TuneError: no such file, an unknown format, a class the model does not
            know, samples of another shape, or (``labels``) no labels.
    """
    path = Path(spec)
    if not path.exists():
        raise TuneError(f"--data {spec}: no such file or folder",
                        "give a .npz or .csv file or an image folder")
    shape = tuple(int(d) for d in input_shape)
    if path.is_dir():
        samples = _image_folder(path, list(classes), shape)
    elif path.suffix.lower() == ".npz":
        samples = _npz(path, len(classes))
    elif path.suffix.lower() == ".csv":
        samples = _csv(path, list(classes), shape)
    else:
        raise TuneError(f"--data {spec}: unsupported file type {path.suffix!r}",
                        "use a .npz file (arrays x and, for evaluation, y), a .csv file, "
                        "or an image folder")
    if len(samples) == 0:
        raise TuneError(f"--data {spec}: no samples in it")
    got = tuple(samples.x.shape[1:])
    if got != shape:
        raise TuneError(f"--data {spec}: these samples are shaped {got}, the model takes {shape}",
                        "give data of the kind the model was trained on")
    if labels and samples.y is None:
        raise TuneError(f"--data {spec}: no labels to evaluate against",
                        "add labels (y in the .npz, a label column, class sub-folders), "
                        "or use tune predict")
    return samples


def _check_indices(y: np.ndarray, num_classes: int, where: str) -> torch.Tensor:
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise TuneError(f"{where}: labels run from {y.min()} to {y.max()}, but the model has "
                        f"{num_classes} classes (0..{num_classes - 1})",
                        "give labels as the class indices the model was trained with")
    return torch.as_tensor(y, dtype=torch.long)


def _npz(path: Path, num_classes: int) -> Samples:
    """``x`` (and ``x_val``, appended: nothing is held out of held-out data), labelled by
    ``y`` (and ``y_val``) when the file has them."""
    arrays = npz_arrays(path, required=("x",))
    parts = [npz_xy(arrays, path, "x", "y")]
    if "x_val" in arrays:
        parts.append(npz_xy(arrays, path, "x_val", "y_val"))
    x = np.concatenate([inputs for inputs, _ in parts])
    y = None
    if parts[0][1] is not None:
        if any(labels is None for _, labels in parts):
            raise TuneError(f"--data {path}: x has labels (y) but x_val has none (no y_val)",
                            "save y_val with x_val, or leave out both label arrays")
        labels = np.concatenate([labels for _, labels in parts])
        y = _check_indices(labels, num_classes, f"--data {path}")
    return Samples(torch.as_tensor(x), y, [str(i) for i in range(len(x))], str(path))


def _csv(path: Path, classes: list[str], shape: tuple[int, ...]) -> Samples:
    header, body = csv_rows(path)
    features = int(np.prod(shape))
    width = len(header or body[0])
    if width not in (features, features + 1):
        raise TuneError(f"--data {path}: {width} columns, but the model takes {features} features "
                        f"(and an optional label column)", "give the columns it was trained on")
    label_col = None
    if width == features + 1:
        label_col = header.index("label") if header and "label" in header else width - 1
    feats = csv_features(body, label_col, path)
    y = None
    if label_col is not None:
        text = [r[label_col].strip() for r in body]
        if any(v in MISSING for v in text):
            raise TuneError(f"--data {path}: a label is missing", "fill in every label")
        y = _labels_by_name(text, classes, f"--data {path}")
    return Samples(torch.as_tensor(feats).reshape(len(feats), *shape), y,
                   [str(i) for i in range(len(feats))], str(path))


def _labels_by_name(text: list[str], classes: list[str], where: str) -> torch.Tensor:
    """Label text as class indices: by the checkpoint's class names, else as numbers."""
    if all(v in classes for v in text):
        return torch.as_tensor([classes.index(v) for v in text], dtype=torch.long)
    try:
        numbers = integer_labels(np.array([float(v) for v in text]), where)
    except (ValueError, TuneError):
        unknown = next(v for v in text if v not in classes)
        raise TuneError(f"{where}: the label {unknown!r} is not a class of this model",
                        f"its classes: {', '.join(classes)}") from None
    return _check_indices(numbers, len(classes), where)


def _image_folder(path: Path, classes: list[str], shape: tuple[int, ...]) -> Samples:
    """Class sub-folders (labelled by folder name) or a flat folder of images (unlabelled)."""
    if len(shape) != 3:
        raise TuneError(f"--data {path}: an image folder, but the model takes samples shaped {shape}",
                        "give a .npz or .csv file of its features")
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    if folders:
        unknown = [p.name for p in folders if p.name not in classes]
        if unknown:
            raise TuneError(f"--data {path}: the folder {unknown[0]!r} is not a class of this model",
                            f"its classes: {', '.join(classes)}")
        files = [(f, classes.index(d.name)) for d in folders for f in sorted(d.iterdir())
                 if f.suffix.lower() in IMAGE_SUFFIXES]
    else:
        files = [(f, -1) for f in sorted(path.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise TuneError(f"--data {path}: no images in it", "give a folder of images")
    channels, height, width = shape
    x = image_array((read_image(f) for f, _ in files), channels == 3, (height, width))
    y = torch.as_tensor([i for _, i in files], dtype=torch.long) if folders else None
    return Samples(torch.as_tensor(x), y, [str(f.relative_to(path)) for f, _ in files], str(path))
