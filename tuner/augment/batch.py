"""Per-sample augmentation of a whole batch in plain torch.

Every sample of a batch ``(N, C, H, W)`` gets its own random draw, and each
operation is a handful of tensor operations on the whole batch, on the batch's
own device: no per-sample Python, no loop over images.

* The geometry (random resized crop, flip, shift) is one resampling of the
  batch. With ``crop < 1`` that is one ``grid_sample`` with each sample's crop
  window, mirror and shift folded into its own (separable, affine) grid.
  With ``crop = 1`` nothing needs interpolating: the flip and the whole-pixel
  shift are one ``gather``, which copies pixels exactly (and is faster).
* Colour jitter is a few multiply-adds with per-sample factors.
* Cutout is a mask built from per-sample corners by comparing index ranges.

Speed on small batches
----------------------
On a batch of 64 digits of 8x8 the cost is the number of tensor operations,
not their size: each costs microseconds to dispatch, and more inside a
training loop, whose forward and backward passes evict the dispatcher's code
and data from the caches between two batches (a call measured 230 us alone and
520 us between training steps). So the work is split in two:

* ``_draw`` turns uniforms into every per-sample parameter the operations need
  (sampling coordinates per row and column, gather indices, cutout rows and
  columns, colour factors): about 60 small operations, whatever the number of
  samples. :class:`BatchAugment` draws them for 1024 samples at a time and
  hands each batch its next rows, so a batch of 64 pays a sixteenth of that.
* ``_apply`` does what must be done per batch: about 20 operations.

The per-column constants that map uniforms to parameters are computed once per
setting and image size (``_plan``).

What "zero" and "brightness" mean on normalised data
----------------------------------------------------
The batches tune trains on are usually normalised per channel (mean 0, std 1).

* **Fill.** The area that a shift uncovers and the cutout square are set to 0
  *in the batch's own space*. On normalised data that is the channel mean,
  the average colour, which carries no information (as Cutout on normalised
  CIFAR does); on raw data it is black (as torchvision's padding does). We fill
  with 0 rather than un-normalising to black: black is an extreme value that
  the data rarely has, and a border of it is a feature the model would learn.
* **Colour.** Brightness, contrast and saturation are defined on the raw
  colours (brightness multiplies them, contrast and saturation blend them with
  their grey mean, as torchvision does). Given the ``mean`` and ``std`` the
  batch was normalised with (tuner's ``Normalizer``), the jitter un-normalises,
  acts on the raw colours and normalises back, so a brightness factor of 1.2
  means 20% brighter whatever the normalisation. Without them the batch is
  taken as raw colours (on normalised data that makes brightness a contrast
  change around the mean). No clamping: tune does not know the raw range.

Draws
-----
Every sample takes one row of the same table of uniforms whatever is
switched on, so turning one operation on or changing its strength leaves the
other operations' draws unchanged (common random numbers between trials with
the same seed). The table is drawn with the given generator on its device and
moved to the batch's device: a CPU generator gives the same draws on CPU and
GPU. :class:`BatchAugment` gives the k-th sample it augments the k-th row of
its stream, whatever the batch boundaries (as long as no batch is larger than
what is left of the 1024 rows drawn at a time; then it draws anew).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tuner.augment import Augmentation
from tuner.errors import TuneError

# torchvision's RandomResizedCrop: aspect ratio in [3/4, 4/3] (log-uniform) and
# up to 10 attempts to fit the window in the image before falling back.
ASPECT = (3 / 4, 4 / 3)
CROP_ATTEMPTS = 10

# How many samples' parameters BatchAugment draws at once.
CHUNK = 1024

# The columns of the per-sample table of uniforms (and of the parameters made from it).
_FLIP = 0
_AREA = slice(1, 1 + CROP_ATTEMPTS)
_ASPECT = slice(1 + CROP_ATTEMPTS, 1 + 2 * CROP_ATTEMPTS)
_WHERE = slice(1 + 2 * CROP_ATTEMPTS, 3 + 2 * CROP_ATTEMPTS)  # the crop window's place, x then y
_COLOUR = slice(_WHERE.stop, _WHERE.stop + 3)  # brightness, contrast, saturation factors
# Whole-pixel draws, side by side so that one floor covers them: shift x, shift y,
# then the cutout square's left and top.
_WHOLE = slice(_COLOUR.stop, _COLOUR.stop + 4)
COLUMNS = _WHOLE.stop

# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)


def augment(x: torch.Tensor, aug: Augmentation, generator: torch.Generator, *,
            mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` (N, C, H, W) augmented, each sample with its own draw from ``generator``.

    Returns a new tensor of the same shape, dtype and device (``x`` itself when
    ``aug`` is all off). ``mean``/``std`` are the per-channel statistics ``x``
    was normalised with (any shape that broadcasts to (C, 1, 1)), used by the
    colour jitter only; see the module docstring.
    """
    _check_batch(x)
    if aug.is_identity() or x.shape[0] == 0:
        return x
    work = _working_copy(x)
    plan = _plan(aug, *x.shape[1:], work.dtype, x.device)
    params = _draw(plan, x.shape[0], generator)
    return _apply(work, params, plan, mean, std).to(x.dtype)


class BatchAugment:
    """``batch -> augmented batch`` with a generator of its own: the training
    loop's batch transform.

    ``seed`` is an int (a CPU generator seeded with it, so the same seed gives
    the same draws on any device) or a ``torch.Generator`` to draw from. The
    parameters are drawn for :data:`CHUNK` samples at a time (see the module
    docstring).
    """

    def __init__(self, aug: Augmentation, seed: int | torch.Generator, *,
                 mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> None:
        self.aug = aug
        self.generator = seed if isinstance(seed, torch.Generator) else \
            torch.Generator().manual_seed(int(seed))
        self.mean, self.std = mean, std
        self._plan: _Plan | None = None
        self._params: _Params | None = None
        self._next = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x)
        n = x.shape[0]
        if self.aug.is_identity() or n == 0:
            return x
        work = _working_copy(x)
        plan = _plan(self.aug, *x.shape[1:], work.dtype, x.device)
        if plan is not self._plan or self._params is None or self._next + n > self._params.n:
            self._plan, self._params = plan, _draw(plan, max(CHUNK, n), self.generator)
            self._next = 0
        params = self._params.rows(self._next, self._next + n)
        self._next += n
        return _apply(work, params, plan, self.mean, self.std).to(x.dtype)

    def __repr__(self) -> str:
        return f"BatchAugment({self.aug.describe()})"


def _check_batch(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise TuneError(f"augmentation needs a batch of images shaped (N, channels, height, width); "
                        f"this one is {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TuneError(f"augmentation needs floating-point images; these are {x.dtype}")


def _working_copy(x: torch.Tensor) -> torch.Tensor:
    """Half precision is augmented in float32 (grid_sample and friends on CPU)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


# --- constants per setting and image size ----------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """What one setting needs on one image size, made once (see ``_plan``)."""

    aug: Augmentation
    channels: int
    offset: torch.Tensor  # (COLUMNS,): parameters = offset + uniforms * scale
    scale: torch.Tensor
    whole_max: torch.Tensor  # (4,): the largest whole-pixel draw of each _WHOLE column
    shift: tuple[int, int]  # largest shift in pixels, along x and y
    cutout_side: int
    cols: torch.Tensor  # arange(W), arange(H)
    rows: torch.Tensor
    base_x: torch.Tensor  # pixel centres in grid_sample's coordinates, (W,) and (H,)
    base_y: torch.Tensor
    luma: torch.Tensor  # (1, 3, 1, 1)


@functools.lru_cache(maxsize=64)
def _plan(aug: Augmentation, c: int, h: int, w: int, dtype: torch.dtype, device: torch.device
          ) -> _Plan:
    kx, ky = round(aug.translate * w), round(aug.translate * h)
    side = min(round(aug.cutout * min(h, w)), h, w)
    log_lo, log_hi = math.log(ASPECT[0]), math.log(ASPECT[1])
    offset, scale = [0.0] * COLUMNS, [1.0] * COLUMNS
    ranges = [(_AREA, aug.crop, 1.0), (_ASPECT, log_lo, log_hi), (_WHERE, -1.0, 1.0),
              (_COLOUR, 1 - aug.jitter, 1 + aug.jitter)]
    for columns, low, high in ranges:
        for i in range(columns.start, columns.stop):
            offset[i], scale[i] = low, high - low
    # floor(u * (2k + 1)) - k is uniform on the whole numbers -k..k; the square's
    # corner is uniform on 0..(side - square side).
    whole = [(-kx, 2 * kx + 1, kx), (-ky, 2 * ky + 1, ky), (0, w - side + 1, w - side),
             (0, h - side + 1, h - side)]
    for i, (low, width, _) in zip(range(_WHOLE.start, _WHOLE.stop), whole):
        offset[i], scale[i] = low, width

    def tensor(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=device)

    cols, rows = torch.arange(w, device=device), torch.arange(h, device=device)
    return _Plan(aug=aug, channels=c, offset=tensor(offset), scale=tensor(scale),
                 whole_max=tensor([m for *_, m in whole]), shift=(kx, ky), cutout_side=side,
                 cols=cols, rows=rows, base_x=(2 * cols + 1).to(dtype) / w - 1,
                 base_y=(2 * rows + 1).to(dtype) / h - 1,
                 luma=tensor(list(_LUMA)).reshape(1, 3, 1, 1))


# --- per-sample parameters -------------------------------------------------------

@dataclass(frozen=True)
class _Params:
    """Everything per sample that the operations need; None for what is off.
    Every tensor has one row per sample."""

    n: int
    colour: torch.Tensor | None = None  # (N, 3): brightness, contrast, saturation factors
    grid_x: torch.Tensor | None = None  # (N, W): sampling coordinates (crop on)
    grid_y: torch.Tensor | None = None  # (N, H)
    source_cols: torch.Tensor | None = None  # (N, W): gather indices (crop off)
    source_rows: torch.Tensor | None = None  # (N, H)
    uncovered_cols: torch.Tensor | None = None  # (N, W): what a shift uncovers (crop off)
    uncovered_rows: torch.Tensor | None = None  # (N, H)
    cut_cols: torch.Tensor | None = None  # (N, W): the cutout square's columns
    cut_rows: torch.Tensor | None = None  # (N, H)

    def rows(self, start: int, stop: int) -> "_Params":
        sliced = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "n"}
        return _Params(stop - start, **{k: None if v is None else v[start:stop]
                                        for k, v in sliced.items()})


def _draw(plan: _Plan, n: int, generator: torch.Generator) -> _Params:
    aug, device, dtype = plan.aug, plan.offset.device, plan.offset.dtype
    u = torch.rand(n, COLUMNS, generator=generator, device=generator.device, dtype=dtype)
    u = u.to(device, non_blocking=True)
    p = torch.addcmul(plan.offset, u, plan.scale)
    whole = torch.minimum(p[:, _WHOLE].floor(), plan.whole_max).long()  # (N, 4)
    flipped = u[:, _FLIP] < aug.flip
    found: dict[str, torch.Tensor] = {}
    if aug.jitter > 0:
        found["colour"] = p[:, _COLOUR]
    if aug.crop < 1:
        found["grid_x"], found["grid_y"] = _crop_grid(p, flipped, whole, plan)
    elif aug.flip > 0 or aug.translate > 0:
        found.update(_flip_shift_sources(flipped, whole, plan))
    if plan.cutout_side > 0:
        from_left = plan.cols - whole[:, 2:3]  # (N, W)
        from_top = plan.rows - whole[:, 3:4]
        found["cut_cols"] = (from_left >= 0) & (from_left < plan.cutout_side)
        found["cut_rows"] = (from_top >= 0) & (from_top < plan.cutout_side)
    return _Params(n, **found)


def _flip_shift_sources(flipped: torch.Tensor, whole: torch.Tensor, plan: _Plan
                        ) -> dict[str, torch.Tensor]:
    """Mirror and shift by whole pixels (pad with 0, crop back) as gather indices:
    output column j shows column j + dx of the (mirrored) image, nothing where
    that falls outside."""
    h, w = len(plan.rows), len(plan.cols)
    cols = plan.cols + whole[:, 0:1]  # (N, W): the source column before the flip
    rows = plan.rows + whole[:, 1:2]  # (N, H)
    cols_in, rows_in = cols.clamp(0, w - 1), rows.clamp(0, h - 1)
    found = {"source_cols": torch.where(flipped[:, None], (w - 1) - cols_in, cols_in),
             "source_rows": rows_in}
    if plan.shift != (0, 0):
        found["uncovered_cols"], found["uncovered_rows"] = cols != cols_in, rows != rows_in
    return found


def _crop_windows(p: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Each sample's crop window (N, 2): width and height as fractions of the side.

    As torchvision's RandomResizedCrop: area uniform in [crop, 1], aspect
    log-uniform in [3/4, 4/3], the first of 10 attempts that fits inside the
    image, else the whole image. The attempts are drawn for every sample at once.
    """
    area, log_aspect = p[:, _AREA], p[:, _ASPECT]  # (N, 10) each
    # Squared sides: width^2 = area * aspect * H / W, height^2 = area / aspect * W / H.
    squared = area[:, None, :] * torch.stack((log_aspect, -log_aspect), 1).exp_()
    squared[:, 0].mul_(h / w)
    squared[:, 1].mul_(w / h)
    fits = (squared <= 1).all(dim=1)  # (N, 10)
    first = fits.to(torch.uint8).argmax(dim=1)  # the first attempt that fits (0 if none)
    chosen = squared[torch.arange(len(p), device=p.device), :, first]  # (N, 2)
    return chosen.masked_fill_(~fits.any(dim=1, keepdim=True), 1.0).sqrt_()


def _crop_grid(p: torch.Tensor, flipped: torch.Tensor, whole: torch.Tensor, plan: _Plan
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random resized crop, then flip, then shift, as one separable sampling grid.

    In grid_sample's coordinates ([-1, 1] across the image) output column ``j``
    of a sample reads the input at ``centre + size * mirror * (base_j + shift)``,
    and likewise for rows. No rotation, so the grid is one (N, W) and one (N, H)
    table rather than ``affine_grid``'s (N, H, W, 2), and two cheap edits on
    those tables replace passes over the batch:

    * sample points are clamped to the outermost pixel centres, so the window's
      outer half-pixel ring repeats the edge instead of blending with 0;
    * what the shift uncovers reads far outside the image, i.e. the 0 padding
      (pad-and-crop of the resized crop, even where the image has pixels around
      the window).
    """
    size = _crop_windows(p, len(plan.rows), len(plan.cols))  # (N, 2)
    # The window's centre, uniform over the places where it fits inside the image.
    centre = p[:, _WHERE] * (1 - size)
    size[:, 0] = torch.where(flipped, -size[:, 0], size[:, 0])
    gx = _axis_grid(centre[:, 0], size[:, 0], whole[:, 0], plan.base_x, plan.shift[0])
    gy = _axis_grid(centre[:, 1], size[:, 1], whole[:, 1], plan.base_y, plan.shift[1])
    return gx, gy


def _axis_grid(centre: torch.Tensor, size: torch.Tensor, shift: torch.Tensor,
               base: torch.Tensor, largest_shift: int) -> torch.Tensor:
    """(N, side) sample coordinates along one axis; see :func:`_crop_grid`."""
    side = len(base)
    # Output pixel j shows pixel j + shift of the resized crop.
    moved = base + (2 / side) * shift[:, None].to(base.dtype) if largest_shift else base
    coord = torch.addcmul(centre[:, None], size[:, None], moved)
    edge = 1 - 1 / side
    coord = coord.clamp(-edge, edge)
    if largest_shift:
        coord = coord.masked_fill(moved.abs() > 1, -4.0)  # beyond the crop: the 0 padding
    return coord


# --- per batch -------------------------------------------------------------------

def _apply(x: torch.Tensor, params: _Params, plan: _Plan, mean: torch.Tensor | None,
           std: torch.Tensor | None) -> torch.Tensor:
    """Jitter, then the geometry, then cutout (last, so its square stays 0)."""
    n, c, h, w = x.shape
    if params.colour is not None:
        x = _jitter(x, params.colour, plan, mean, std)
    if params.grid_x is not None:
        grid = torch.stack((params.grid_x[:, None, :].expand(n, h, w),
                            params.grid_y[:, :, None].expand(n, h, w)), dim=-1)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    elif params.source_cols is not None:
        # One gather over the flattened image: exact copies of pixels, measured
        # 1.6-3x faster than a gather per axis and than a masked flip.
        source = params.source_rows[:, :, None] * w + params.source_cols[:, None, :]
        x = x.reshape(n, c, h * w).gather(2, source.reshape(n, 1, h * w).expand(n, c, h * w))
        x = x.reshape(n, c, h, w)
        if params.uncovered_cols is not None:
            uncovered = params.uncovered_rows[:, None, :, None] | \
                params.uncovered_cols[:, None, None, :]
            x = x.masked_fill(uncovered, 0.0)
    if params.cut_cols is not None:
        square = params.cut_rows[:, None, :, None] & params.cut_cols[:, None, None, :]
        x = x.masked_fill(square, 0.0)
    return x


def _jitter(x: torch.Tensor, factors: torch.Tensor, plan: _Plan,
            mean: torch.Tensor | None, std: torch.Tensor | None) -> torch.Tensor:
    """Brightness, contrast and (for 3 channels) saturation, each factor uniform
    in [1 - s, 1 + s] per sample, on the raw colours (torchvision's definitions,
    in a fixed order, without clamping).

    Brightness scales the grey mean with the image, so contrast after brightness
    is ``b * lerp(grey_mean, raw, k)``: one blend, then one multiply.
    """
    n, c = x.shape[:2]
    m = None if mean is None else mean.to(device=x.device, dtype=x.dtype).reshape(1, c, 1, 1)
    s = None if std is None else std.to(device=x.device, dtype=x.dtype).reshape(1, c, 1, 1)
    raw = x
    if s is not None:
        raw = raw * s
    if m is not None:
        raw = raw + m
    b, k, sat = factors.t().reshape(3, n, 1, 1, 1).unbind(0)
    channel_means = raw.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
    grey_mean = (channel_means * plan.luma).sum(1, keepdim=True) if c == 3 else \
        channel_means.mean(1, keepdim=True)
    raw = torch.lerp(grey_mean.expand_as(raw), raw, k.expand_as(raw)) * b
    if c == 3:
        grey = (raw * plan.luma).sum(1, keepdim=True)
        raw = torch.lerp(grey.expand_as(raw), raw, sat.expand_as(raw))
    if m is not None:
        raw = raw - m
    if s is not None:
        raw = raw / s
    return raw
