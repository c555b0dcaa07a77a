"""Built-in data: ``--data digits | FILE.npz | FILE.csv | DIR``.

Each loader returns ``(train, val)`` as :class:`~tuner.data.TensorData` with
float32 inputs and int64 labels. Where a source has no validation split of
its own, a stratified 80/20 split is made with a fixed seed, so the split is
the same whatever ``--seed`` says (comparisons across seeds stay fair).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from tuner.data import TensorData, stratified_split
from tuner.errors import TuneError

VAL_FRACTION = 0.2
SPLIT_SEED = 0
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# How a CSV cell says "no value" (pandas' defaults): never a class of its own.
MISSING = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
           "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}


def load_source(spec: str) -> tuple[TensorData, TensorData, list[str] | None]:
    """Load ``--data SPEC``; returns train, val and class names when known."""
    if spec == "digits":
        return (*load_digits(), [str(i) for i in range(10)])
    path = Path(spec)
    if not path.exists():
        raise TuneError(f"--data {spec}: no such file or folder",
                        "use digits, a .npz or .csv file, or an image folder")
    if path.is_dir():
        loaded = load_image_dir(path)
    elif path.suffix.lower() == ".npz":
        loaded = (*load_npz(path), None)
    elif path.suffix.lower() == ".csv":
        loaded = load_csv(path)
    else:
        raise TuneError(f"--data {spec}: unsupported file type {path.suffix!r}",
                        "use a .npz file (arrays x, y), a .csv file, or an image folder")
    check_sizes(spec, loaded[0], loaded[1])
    return loaded


def check_sizes(spec: str, train: TensorData, val: TensorData) -> None:
    """Both splits need samples, and training at least two (a batch of one cannot train
    BatchNorm, and one sample teaches nothing)."""
    total = len(train) + len(val)
    if len(train) < 2 or len(val) < 1:
        raise TuneError(f"--data {spec}: {total} sample(s) are too few to train and validate on "
                        f"({len(train)} for training, {len(val)} for validation)",
                        "give at least 3 samples per class (a validation split is held out of "
                        "each class), or far more to learn anything")


def split(x: np.ndarray, y: np.ndarray) -> tuple[TensorData, TensorData]:
    labels = torch.as_tensor(y)
    tr, va = stratified_split(labels, VAL_FRACTION, SPLIT_SEED)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), labels.long()
    return TensorData(xt[tr], yt[tr]), TensorData(xt[va], yt[va])


def load_digits() -> tuple[TensorData, TensorData]:
    """scikit-learn's bundled 8x8 digits as 1x8x8 images (values 0-16)."""
    table = _digits_table()
    images = table[:, :64].reshape(-1, 1, 8, 8).astype(np.float32)
    return split(images, table[:, 64].astype(np.int64))


def _digits_table() -> np.ndarray:
    """The 1797 x 65 table behind ``sklearn.datasets.load_digits``.

    Read straight from the file scikit-learn ships, which takes a fifth of a
    second; importing ``sklearn.datasets`` to read it costs well over one.
    Falls back to the public API if the file ever moves.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return np.loadtxt(path, delimiter=",")
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return np.column_stack([bunch.data, bunch.target])


def as_channels_first(x: np.ndarray) -> np.ndarray:
    """Images may come as N,H,W (add a channel) or N,H,W,C with C in 1..4."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return np.transpose(x, (0, 3, 1, 2))
    return x


def integer_labels(y: np.ndarray, where: str) -> np.ndarray:
    if y.ndim != 1:
        raise TuneError(f"{where}: labels must be a 1-D array of class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise TuneError(f"{where}: labels must be whole numbers (class indices)")
    return y.astype(np.int64)


def load_npz(path: Path) -> tuple[TensorData, TensorData]:
    arrays = npz_arrays(path, required=("x", "y"))
    x, y = npz_xy(arrays, path, "x", "y")
    if "x_val" in arrays and "y_val" in arrays:
        xv, yv = npz_xy(arrays, path, "x_val", "y_val")
        return (TensorData(torch.as_tensor(x), torch.as_tensor(y)),
                TensorData(torch.as_tensor(xv), torch.as_tensor(yv)))
    return split(x, y)


def npz_arrays(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, loaded now (no pickles: reading data runs no code).

    Raises:
        TuneError: an array in ``required`` is not in the file (the message lists those that are).
    """
    with np.load(path, allow_pickle=False) as f:
        arrays = dict(f)
    missing = [k for k in required if k not in arrays]
    if missing:
        raise TuneError(f"--data {path}: missing array(s) {', '.join(missing)}",
                        f"save with np.savez(path, x=..., y=...); found {', '.join(arrays) or 'none'}")
    return arrays


def npz_xy(arrays: dict[str, np.ndarray], path: Path, x_key: str,
           y_key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``arrays[x_key]`` as float32 channels-first inputs and ``arrays[y_key]`` as class
    indices, one per input; the labels are None when the file has no ``y_key``."""
    x = as_channels_first(arrays[x_key]).astype(np.float32)
    if y_key not in arrays:
        return x, None
    y = integer_labels(arrays[y_key], f"--data {path}")
    if len(x) != len(y):
        raise TuneError(f"--data {path}: {x_key} has {len(x)} samples but {y_key} has {len(y)}")
    return x, y


def load_csv(path: Path) -> tuple[TensorData, TensorData, list[str] | None]:
    header, body = csv_rows(path)
    if not body:
        raise TuneError(f"--data {path}: the file has a header but no rows of data",
                        "add one row per sample below the header")
    width = len(header or body[0])
    label_col = header.index("label") if header and "label" in header else width - 1
    labels_text = [r[label_col].strip() for r in body]
    missing = [i for i, v in enumerate(labels_text) if v in MISSING]
    if missing:
        name = f"label column {header[label_col]!r}" if header else "label column (the last)"
        first = missing[0] + (2 if header else 1)
        raise TuneError(f"--data {path}: the {name} is missing on {len(missing)} row(s), "
                        f"the first on line {first} ({labels_text[missing[0]]!r})",
                        "fill in those labels or remove the rows; a missing label is not a class")
    feats = csv_features(body, label_col, path)
    try:
        y = integer_labels(np.array([float(v) for v in labels_text]), f"--data {path}")
        names = None
    except (ValueError, TuneError):
        names = sorted(set(labels_text))  # class names: map them to indices
        y = np.array([names.index(v) for v in labels_text], dtype=np.int64)
    return (*split(feats, y), names)


def csv_rows(path: Path) -> tuple[list[str] | None, list[list[str]]]:
    """A CSV file's header (None when its first row is all numbers, so data) and its rows
    of data, blank lines skipped.

    Every row is checked to be as wide as the first here, once for every reader: a short
    or long row found later would read as a misplaced label or a non-numeric feature.

    Raises:
        TuneError: the file is empty, or a row has another number of columns than the first.
    """
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows:
        raise TuneError(f"--data {path}: the file is empty")
    header: list[str] | None = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header = [h.strip() for h in rows[0]]
    body = rows[1:] if header else rows
    width = len(rows[0])
    for line, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise TuneError(f"--data {path}: row {line} has {len(row)} columns, the first row {width}",
                            "give every row the same columns")
    return header, body


def csv_features(body: list[list[str]], label_col: int | None, path: Path) -> np.ndarray:
    """The feature columns of CSV rows (every column but ``label_col``) as float32."""
    try:
        return np.array([[float(v) for i, v in enumerate(r) if i != label_col] for r in body],
                        dtype=np.float32)
    except ValueError as e:
        raise TuneError(f"--data {path}: a feature column is not numeric ({e})",
                        "every column but the label must hold numbers") from None


def load_image_dir(path: Path) -> tuple[TensorData, TensorData, list[str]]:
    """One sub-folder per class; ``train/`` and ``val/`` sub-folders if present.

    Images are resized to the most common size among them and scaled to [0, 1];
    grayscale stays one channel unless any image has colour.
    """
    if (path / "train").is_dir() and (path / "val").is_dir():
        xt, yt, classes = read_image_folder(path / "train")
        xv, yv, _ = read_image_folder(path / "val", classes, size=xt.shape[2:])
        return (TensorData(torch.as_tensor(xt), torch.as_tensor(yt)),
                TensorData(torch.as_tensor(xv), torch.as_tensor(yv)), classes)
    x, y, classes = read_image_folder(path)
    return (*split(x, y), classes)


def read_image_folder(path: Path, classes: list[str] | None = None,
                      size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    classes = classes or sorted(p.name for p in path.iterdir() if p.is_dir())
    files = [(f, i) for i, c in enumerate(classes) if (path / c).is_dir()
             for f in sorted((path / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if len(classes) < 2 or not files:
        raise TuneError(f"--data {path}: expected one sub-folder of images per class "
                        f"(found {len(classes)} folders, {len(files)} images)")
    images = [read_image(f) for f, _ in files]
    colour = any(im.mode not in ("L", "1", "I", "I;16", "F") for im in images)
    if size is None:
        sizes = [im.size for im in images]
        size = max(set(sizes), key=sizes.count)[::-1]  # (H, W)
    x = image_array(images, colour, (int(size[0]), int(size[1])))
    return x, np.array([i for _, i in files], dtype=np.int64), classes


def image_array(images: Iterable[Any], colour: bool, size: tuple[int, int]) -> np.ndarray:
    """PIL images as one float32 array N,C,H,W scaled to [0, 1]: each converted to RGB
    (``colour``, C=3) or grayscale (C=1) and resized to ``size`` (H, W).

    ``images`` may be a generator, so that a caller can decode one file at a time.
    """
    height, width = size
    mode = "RGB" if colour else "L"
    x = np.stack([np.asarray(im.convert(mode).resize((width, height)), dtype=np.float32) / 255.0
                  for im in images])
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)) if colour else x[:, None])


def read_image(path: Path) -> Any:
    """One PIL image, decoded now (and its file closed), so that a corrupt or
    truncated file is named here rather than failing somewhere in PIL later."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im
    except (OSError, SyntaxError, ValueError) as e:  # PIL's ways of saying "not an image"
        why = str(e).replace(f"'{path}'", "").strip(" :") or type(e).__name__
        raise TuneError(f"--data: cannot read the image {path} ({why})",
                        "remove or replace that file") from None
