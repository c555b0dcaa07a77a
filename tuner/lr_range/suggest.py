"""From measurements to one LR you can trust, and a range to search.

Two estimates of the LR that trains best over a short run, made in log space
(decades) and averaged there:

* **probe**: the decade probe trained ~100 real steps at each decade; a
  parabola through the best decade and its neighbours (log loss against
  log LR) puts the optimum between them.
* **sweep**: each repeat of the range test gives the LR where its smoothed
  loss bottomed out, the edge past which a larger LR stops helping; half a
  decade below it (about a third) is Leslie Smith's rule of thumb.

The two err in different ways (the probe is quantised to decades; the sweep's
loss at each LR is shaped by everything trained before it), so their mean in
log space is steadier than either. One suggestion per repeat; their median is
the answer and their max-min the spread in decades.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from tuner.lr_range.decade_probe import FLAT_DROP, ProbeRow
from tuner.lr_range.sweep import Sweep

# Smith: the useful maximum is where the loss stops falling; train a bit below it.
SWEEP_OFFSET_DECADES = 0.5
# The coarse search spans a decade below the suggestion and half a decade above,
# widened by half the spread on each side.
RANGE_BELOW_DECADES = 1.0
RANGE_ABOVE_DECADES = 0.5
SPREAD_WARN_DECADES = 0.5


@dataclass
class Suggestion:
    """The aggregated suggestion; every LR is in plain units (not log)."""

    lr: float
    low: float
    high: float
    spread_decades: float
    per_repeat: list[float]
    probe_lr: float | None
    sweep_lrs: list[float | None]
    warnings: list[str]


def parabola_vertex(xs: list[float], ys: list[float]) -> float | None:
    """x of the minimum of the parabola through three points; ``None`` if not convex."""
    (x0, x1, x2), (y0, y1, y2) = xs, ys
    slope_left, slope_right = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
    curvature = (slope_right - slope_left) / (x2 - x0)
    if not curvature > 0:
        return None
    # The derivative is linear: zero it between the two secant midpoints.
    mid_left, mid_right = (x0 + x1) / 2, (x1 + x2) / 2
    return mid_left - slope_left * (mid_right - mid_left) / (slope_right - slope_left)


def probe_estimate(rows: list[ProbeRow]) -> float | None:
    """log10 of the probe's best LR, refined by a parabola through its neighbours;
    ``None`` when no LR made the loss drop."""
    ordered = sorted(rows, key=lambda r: r.lr)
    drops = [i for i, r in enumerate(ordered) if r.outcome == "drops"]
    if not drops:
        return None
    xs = [math.log10(r.lr) for r in ordered]
    # A run that went NaN did no better than not training: score it at the start loss.
    ys = [math.log(r.end_loss) if math.isfinite(r.end_loss) and r.end_loss > 0
          else math.log(max(r.start_loss, 1e-12)) if math.isfinite(r.start_loss) else math.inf
          for r in ordered]
    i = min(drops, key=lambda k: ys[k])
    if i == 0 or i == len(xs) - 1 or not all(math.isfinite(y) for y in ys[i - 1:i + 2]):
        return xs[i]
    vertex = parabola_vertex(xs[i - 1:i + 2], ys[i - 1:i + 2])
    if vertex is None:
        return xs[i]
    # The best measured LR is the nearest grid point to the optimum: stay within
    # half the way to either neighbour.
    return min(max(vertex, (xs[i - 1] + xs[i]) / 2), (xs[i] + xs[i + 1]) / 2)


def sweep_estimate(sweep: Sweep) -> float | None:
    """log10 of half a decade below the sweep's lowest smoothed loss; ``None``
    when the loss never fell clearly (by the probe's flat threshold) below its start."""
    finite = [(v, i) for i, v in enumerate(sweep.smoothed) if math.isfinite(v)]
    if len(finite) < 3:
        return None
    best, i = min(finite)
    if not best < sweep.smoothed[0] * (1 - FLAT_DROP):
        return None
    return math.log10(sweep.lrs[i]) - SWEEP_OFFSET_DECADES


def suggest(rows: list[ProbeRow], sweeps: list[Sweep], fallback_lr: float) -> Suggestion:
    """Combine the probe and every sweep into one suggestion, a range and warnings.

    ``fallback_lr`` (the configured LR) is returned, with a warning, when
    neither the probe nor any sweep saw the loss fall.
    """
    warnings: list[str] = []
    probe = probe_estimate(rows)
    per_sweep = [sweep_estimate(s) for s in sweeps]
    per_repeat = []
    for s in per_sweep:
        parts = [v for v in (probe, s) if v is not None]
        if parts:
            per_repeat.append(sum(parts) / len(parts))
    if not per_repeat:
        warnings.append(f"the loss never fell, neither in the probe nor in the sweep; "
                        f"keeping lr {fallback_lr:g}: check the model and data (tune check-loss, "
                        f"tune overfit-small)")
        per_repeat = [math.log10(fallback_lr)]
    centre = statistics.median(per_repeat)
    spread = max(per_repeat) - min(per_repeat)
    if spread > SPREAD_WARN_DECADES:
        warnings.append(f"the repeats disagree by {spread:.2f} decades: raise --iters or --repeats")
    low = centre - RANGE_BELOW_DECADES - spread / 2
    high = centre + RANGE_ABOVE_DECADES + spread / 2
    return Suggestion(10 ** centre, 10 ** low, 10 ** high, spread, [10 ** v for v in per_repeat],
                      None if probe is None else 10 ** probe,
                      [None if s is None else 10 ** s for s in per_sweep], warnings)
