"""Test-time augmentation (TTA) as a measured decision.

A *view* is a fixed, deterministic transform of a whole batch of images
``(N, C, H, W)`` that keeps its shape. Users name sets of views:

=======  =====================================================================
set      views
=======  =====================================================================
flip     the horizontal mirror image
crops    the four corners and the centre at 90% of the side, resized back
scales   0.9, 1.0 and 1.1: zoom out / in around the centre, same size
         (1.0 is the plain view itself)
=======  =====================================================================

The TTA prediction is the mean of the softmax probabilities over the plain view
and every view of the chosen sets, each view weighted alike. :func:`evaluate_tta`
measures, on labelled data, each set alone and the average: its accuracy, its
gain over the plain prediction with a 95% paired-bootstrap interval, and its
inference cost as a multiple of the plain forward pass. With ``auto`` it keeps
only the sets that do not lower accuracy by themselves and whose average gains
(a horizontal flip on digits turns a 2 into something else: dropped), and says
why it dropped each of the others.

Where a view reaches outside the image (zooming out to 0.9) it reads 0: on
normalised data that is the channel mean, as in :mod:`tuner.augment`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tuner.errors import TuneError

PLAIN = "plain"
AUTO = "auto"
CROP_SIDE = 0.9
SCALES = (0.9, 1.0, 1.1)

#: Each set's views, in order. 1.0 of ``scales`` is the plain view, counted once.
VIEW_SETS: dict[str, tuple[str, ...]] = {
    "flip": ("flip",),
    "crops": ("crop_top_left", "crop_top_right", "crop_bottom_left", "crop_bottom_right",
              "crop_centre"),
    "scales": tuple(f"scale_{s:g}" for s in SCALES if s != 1.0),
}
SET_NAMES: tuple[str, ...] = tuple(VIEW_SETS)

# Window centres of the crops in grid_sample's coordinates ([-1, 1] across the
# image, y down): a window of 90% of the side touching a corner is centred 0.1
# away from the middle along each axis.
_CROP_CENTRES = {
    "crop_top_left": (-1, -1), "crop_top_right": (1, -1),
    "crop_bottom_left": (-1, 1), "crop_bottom_right": (1, 1), "crop_centre": (0, 0),
}


# --- the views ---------------------------------------------------------------------

def _affine(x: torch.Tensor, scale: float, cx: float, cy: float, padding: str) -> torch.Tensor:
    """Output point p reads the input at (cx, cy) + scale * p (bilinear)."""
    n, _, h, w = x.shape
    theta = torch.tensor([[scale, 0.0, cx], [0.0, scale, cy]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, 1, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def apply_view(name: str, x: torch.Tensor) -> torch.Tensor:
    """The view ``name`` (``plain``, ``flip``, ``crop_*``, ``scale_*``) of a batch
    ``(N, C, H, W)``, same shape, dtype and device."""
    if name == PLAIN:
        return x
    if name == "flip":
        return x.flip(-1)
    if name in _CROP_CENTRES:
        sx, sy = _CROP_CENTRES[name]
        shift = 1 - CROP_SIDE
        # The window lies inside the image; "border" only keeps its outer half-pixel
        # ring from blending with a 0 beyond the edge.
        return _affine(x, CROP_SIDE, sx * shift, sy * shift, "border")
    if name.startswith("scale_"):
        # Zooming out uncovers what lies outside the image: 0, the mean on normalised data.
        return _affine(x, 1 / float(name.removeprefix("scale_")), 0.0, 0.0, "zeros")
    raise ValueError(f"unknown view {name!r}")


def parse_views(request: str | Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """``"flip,crops"`` / ``["flip"]`` / ``"auto"`` -> (the sets, whether auto).

    ``auto`` tries every set. Raises TuneError for a name that is not a set."""
    names = [p.strip() for p in (request.split(",") if isinstance(request, str) else request)]
    names = [p for p in names if p]
    if names == [AUTO]:
        return SET_NAMES, True
    if AUTO in names:
        raise TuneError(f"--tta {','.join(names)}: {AUTO} chooses among all the views by itself",
                        f"use --tta {AUTO} alone, or name the views")
    unknown = [p for p in names if p not in VIEW_SETS]
    if unknown or not names:
        raise TuneError(f"--tta {','.join(names) or repr('')}: "
                        f"{'unknown view ' + repr(unknown[0]) if unknown else 'no view named'}",
                        f"use {', '.join(SET_NAMES)} (comma-separated) or {AUTO}")
    return tuple(dict.fromkeys(names)), False


def check_views_apply(sample_shape: Sequence[int], sets: Sequence[str]) -> None:
    """Raise the one clear error when views are asked of samples that are not images."""
    shape = tuple(int(d) for d in sample_shape)
    if sets and len(shape) != 3:
        raise TuneError(f"--tta {','.join(sets)} needs image samples shaped "
                        f"(channels, height, width); these are {shape}",
                        "leave --tta off for this data")


# --- running a model under the views ---------------------------------------------

@dataclass
class ViewRun:
    """Softmax probabilities of one model on one data set, gathered per set.

    ``sums[s]`` is the sum over set ``s``'s views of their probabilities, so any
    average of plain and whole sets is one division away without keeping each
    view's probabilities. ``seconds`` is the time of each pass (plain, or all the
    views of a set), transforms included."""

    plain: torch.Tensor  # (N, K)
    sums: dict[str, torch.Tensor]
    labels: torch.Tensor | None  # (N,), when the data has labels
    seconds: dict[str, float]

    def average(self, sets: Sequence[str]) -> torch.Tensor:
        """Mean probability over the plain view and every view of ``sets``."""
        total, count = self.plain.clone(), 1
        for s in sets:
            total += self.sums[s]
            count += len(VIEW_SETS[s])
        return total / count

    def alone(self, s: str) -> torch.Tensor:
        """Set ``s`` by itself: the mean over its views (``scales`` with its 1.0,
        the plain view)."""
        if s == "scales":
            return (self.plain + self.sums[s]) / (1 + len(VIEW_SETS[s]))
        return self.sums[s] / len(VIEW_SETS[s])

    def cost(self, sets: Sequence[str]) -> float:
        """Inference time of the average over ``sets`` as a multiple of the plain pass."""
        return (self.seconds[PLAIN] + sum(self.seconds[s] for s in sets)) / self.seconds[PLAIN]


def _timed_pass(model: nn.Module, batches: Callable[[], Iterable[torch.Tensor]],
                views: Sequence[str], device: torch.device) -> tuple[torch.Tensor, float]:
    """Sum over ``views`` of the softmax probabilities of every batch, and the seconds taken."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    chunks = []
    for xb in batches():
        total = None
        for v in views:
            p = torch.softmax(model(apply_view(v, xb)).float(), dim=1)
            total = p if total is None else total + p
        chunks.append(total)
    out = torch.cat(chunks).cpu()  # waits for the device, so the time is the work's
    sync()
    return out, time.perf_counter() - start


def run_views(model: nn.Module, data: Any, sets: Sequence[str], *, batch_size: int = 512,
              device: torch.device | str | None = None) -> ViewRun:
    """Run ``model`` (in eval mode, under ``torch.inference_mode``) on ``data`` under
    the plain view and every view of ``sets``.

    ``data`` is tune's ``TensorData``/``DatasetData`` (anything with
    ``batches(batch_size, shuffle=False, device=...)`` yielding ``(x, y)``),
    or a tensor of inputs. The model's train/eval mode is restored after."""
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    if isinstance(data, torch.Tensor):
        def batches() -> Iterable[torch.Tensor]:
            for i in range(0, len(data), batch_size):
                yield data[i:i + batch_size].to(device)
        labels = None
    else:
        def batches() -> Iterable[torch.Tensor]:
            for xb, _ in data.batches(batch_size, shuffle=False, device=device):
                yield xb
        labels = data.labels().cpu()
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            # One batch first, untimed, so no pass pays for warming up kernels and allocator.
            for xb in batches():
                model(xb[:batch_size])
                break
            plain, seconds = _timed_pass(model, batches, (PLAIN,), device)
            times = {PLAIN: seconds}
            sums = {}
            for s in sets:
                sums[s], times[s] = _timed_pass(model, batches, VIEW_SETS[s], device)
    finally:
        model.train(was_training)
    return ViewRun(plain, sums, labels, times)


def tta_probabilities(model: nn.Module, data: Any, sets: Sequence[str], *, batch_size: int = 512,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """The TTA prediction ``(N, K)`` for ``sets`` (the plain probabilities when empty)."""
    return run_views(model, data, sets, batch_size=batch_size, device=device).average(sets)


# --- statistics ------------------------------------------------------------------

@dataclass(frozen=True)
class Gain:
    """``new`` minus ``base`` accuracy, with a ``level`` bootstrap interval."""

    gain: float
    low: float
    high: float
    level: float = 0.95


def paired_bootstrap(base_correct: Any, new_correct: Any, *, n_resamples: int = 10_000,
                     level: float = 0.95, seed: int = 0) -> Gain:
    """Gain in accuracy of ``new`` over ``base`` on the same samples, with a
    percentile interval from a paired bootstrap over samples.

    Resampling samples with replacement only changes how many of them fall in
    each of the three kinds (new right and base wrong: +1, the reverse: -1, the
    same: 0), so each resample is one multinomial draw of those three counts:
    the same distribution as resampling indices, in O(n_resamples) time and
    memory whatever the number of samples, seeded and without a Python loop.
    """
    base = np.asarray(base_correct, dtype=bool).ravel()
    new = np.asarray(new_correct, dtype=bool).ravel()
    if base.shape != new.shape:
        raise ValueError(f"paired samples needed: {base.shape} vs {new.shape}")
    n = base.size
    if n == 0:
        return Gain(0.0, 0.0, 0.0, level)
    up, down = int(np.sum(new & ~base)), int(np.sum(base & ~new))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [up / n, down / n, (n - up - down) / n], size=n_resamples)
    gains = (counts[:, 0] - counts[:, 1]) / n
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(gains, [tail, 100 - tail])
    return Gain((up - down) / n, float(low), float(high), level)


# --- the decision ----------------------------------------------------------------

@dataclass(frozen=True)
class ViewAccuracy:
    name: str
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "accuracy": self.accuracy}


@dataclass(frozen=True)
class DroppedView:
    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class TTAResult:
    """What TTA does on one labelled data set.

    ``views``: accuracy of the plain view and of each set tried by itself.
    ``accuracy``/``gain``/``gain_ci``/``cost``: of the average over the kept sets
    (with nothing kept: the plain prediction, gain 0, cost 1). ``dropped``: the
    sets ``auto`` left out and why. ``probabilities``: the kept average ``(N, K)``;
    ``plain_probabilities``: the plain view's ``(N, K)``, from the same pass (so a
    caller scoring the plain prediction too need not run the model again).
    """

    views: list[ViewAccuracy]
    accuracy: float
    gain: float
    gain_ci: tuple[float, float]
    cost: float
    kept: list[str]
    dropped: list[DroppedView]
    auto: bool = False
    n: int = 0
    probabilities: torch.Tensor | None = field(default=None, repr=False, compare=False)
    plain_probabilities: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def plain_accuracy(self) -> float:
        return self.views[0].accuracy

    def to_dict(self) -> dict[str, Any]:
        """The ``tta`` object of ``tune evaluate --json``."""
        return {
            "views": [v.to_dict() for v in self.views],
            "accuracy": self.accuracy,
            "gain": self.gain,
            "gain_ci": list(self.gain_ci),
            "cost": self.cost,
            "kept": list(self.kept),
            "dropped": [d.to_dict() for d in self.dropped],
        }


def _accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return int((probs.argmax(dim=1) == labels).sum()) / len(labels) if len(labels) else 0.0


def decide_auto(run: ViewRun, sets: Sequence[str]) -> tuple[list[str], list[DroppedView]]:
    """``auto``'s rule: drop each set that alone scores below the plain view; then
    keep the rest only if their average with the plain view gains accuracy.

    A set scoring the same as the plain view alone is kept for the second test
    (it does not lower accuracy, and averaging may still reduce variance).
    """
    labels = run.labels
    if labels is None:
        raise ValueError("auto needs labelled data")
    plain = _accuracy(run.plain, labels)
    candidates, dropped = [], []
    for s in sets:
        alone = _accuracy(run.alone(s), labels)
        if alone < plain:
            dropped.append(DroppedView(
                s, f"by itself it scores {alone:.1%}, below the plain view's {plain:.1%}"))
        else:
            candidates.append(s)
    if candidates:
        averaged = _accuracy(run.average(candidates), labels)
        if averaged <= plain:
            names = " and ".join(candidates)
            verb = "does" if len(candidates) == 1 else "do"
            dropped += [DroppedView(s, f"averaged with the plain view, {names} {verb} not gain "
                                       f"({averaged:.1%} vs {plain:.1%})") for s in candidates]
            candidates = []
    return candidates, dropped


def evaluate_tta(model: nn.Module, data: Any, request: str | Sequence[str] = AUTO, *,
                 batch_size: int = 512, device: torch.device | str | None = None,
                 n_resamples: int = 10_000, seed: int = 0) -> TTAResult:
    """Measure TTA with the views ``request``ed (sets, or ``auto``) on labelled ``data``.

    Raises TuneError for an unknown view or for views on samples that are not
    images; ``auto`` on such data keeps nothing and says why.
    """
    sets, auto = parse_views(request)
    sample_shape = _sample_shape(data)
    if auto and len(sample_shape) != 3:
        run = run_views(model, data, (), batch_size=batch_size, device=device)
        dropped = [DroppedView(s, f"needs image samples; these are {sample_shape}") for s in sets]
        return _result(run, [], dropped, (), auto, n_resamples, seed)
    check_views_apply(sample_shape, sets)
    run = run_views(model, data, sets, batch_size=batch_size, device=device)
    kept, dropped = decide_auto(run, sets) if auto else (list(sets), [])
    return _result(run, kept, dropped, sets, auto, n_resamples, seed)


def _result(run: ViewRun, kept: list[str], dropped: list[DroppedView], tried: Sequence[str],
            auto: bool, n_resamples: int, seed: int) -> TTAResult:
    labels = run.labels
    if labels is None:
        raise ValueError("evaluating TTA needs labelled data")
    views = [ViewAccuracy(PLAIN, _accuracy(run.plain, labels))]
    views += [ViewAccuracy(s, _accuracy(run.alone(s), labels)) for s in tried]
    averaged = run.average(kept)
    correct_plain = (run.plain.argmax(1) == labels).numpy()
    correct_tta = (averaged.argmax(1) == labels).numpy()
    gain = paired_bootstrap(correct_plain, correct_tta, n_resamples=n_resamples, seed=seed)
    return TTAResult(views=views, accuracy=_accuracy(averaged, labels), gain=gain.gain,
                     gain_ci=(gain.low, gain.high), cost=run.cost(kept), kept=list(kept),
                     dropped=dropped, auto=auto, n=len(labels), probabilities=averaged,
                     plain_probabilities=run.plain)


def _sample_shape(data: Any) -> tuple[int, ...]:
    if isinstance(data, torch.Tensor):
        return tuple(data.shape[1:])
    x = getattr(data, "x", None)
    if isinstance(x, torch.Tensor):
        return tuple(x.shape[1:])
    xb, _ = next(iter(data.batches(1, shuffle=False)))
    return tuple(xb.shape[1:])
