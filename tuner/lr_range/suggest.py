"""From measurements to one LR you can trust, and a range to search.

The suggestion is the probe's: the LR whose loss ended lowest after training
for as many steps as a coarse-search trial takes, refined by a parabola through
it and its half-decade neighbours (log loss against log LR). It measures
directly what the suggestion is for.

The range test's estimate (half a decade below the LR where its smoothed loss
bottomed out: Leslie Smith's rule of thumb) is kept beside it, and used only
when no probe LR made the loss drop. Its sweeps are ~100 steps whatever the
task, so it is blind to the horizon: on the harder cases of
``benchmarks/lr_suggestion.py`` it was 0.9 to 1.5 decades too high where many
steps (small batches) or a slow start favour another LR, and averaging it with
the probe (what tune did before) moved good probe estimates out of range.
Its sweeps still draw the loss against LR, locate where the loss blows up
(the top of the search range), and their spread widens the range.
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
# widened by half the range tests' spread on each side.
RANGE_BELOW_DECADES = 1.0
RANGE_ABOVE_DECADES = 0.5
SPREAD_WARN_DECADES = 0.5


@dataclass
class Suggestion:
    """The suggestion and its range; every LR is in plain units (not log).

    ``per_repeat`` holds each range test's own estimate (Smith's rule) and
    ``spread_decades`` their max - min; ``source`` says what the suggestion
    came from: ``probe``, ``sweep`` (no probe LR made the loss drop) or
    ``configured`` (nothing did).
    """

    lr: float
    low: float
    high: float
    spread_decades: float
    per_repeat: list[float]
    probe_lr: float | None
    sweep_lrs: list[float | None]
    warnings: list[str]
    source: str = "probe"


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
    """The probe's estimate, with a range widened by the range tests' spread.

    When no probe LR made the loss drop, the sweeps' median estimate stands in;
    when nothing fell at all, ``fallback_lr`` (the configured LR) is returned
    with a warning.
    """
    warnings: list[str] = []
    probe = probe_estimate(rows)
    per_sweep = [sweep_estimate(s) for s in sweeps]
    found = [v for v in per_sweep if v is not None]
    if probe is not None:
        centre, source = probe, "probe"
    elif found:
        centre, source = statistics.median(found), "sweep"
        warnings.append("no probe LR made the loss drop: the suggestion is the range test's "
                        "(half a decade below where its loss bottomed out), which does not "
                        "account for the length of the runs it is for")
    else:
        centre, source = math.log10(fallback_lr), "configured"
        warnings.append(f"the loss never fell, neither in the probe nor in the sweep; "
                        f"keeping lr {fallback_lr:g}: check the model and data (tune check-loss, "
                        f"tune overfit-small)")
    spread = max(found) - min(found) if found else 0.0
    if spread > SPREAD_WARN_DECADES:
        warnings.append(f"the range tests disagree by {spread:.2f} decades: raise --iters or --repeats")
    low = centre - RANGE_BELOW_DECADES - spread / 2
    high = centre + RANGE_ABOVE_DECADES + spread / 2
    return Suggestion(10 ** centre, 10 ** low, 10 ** high, spread, [10 ** v for v in found],
                      None if probe is None else 10 ** probe,
                      [None if s is None else 10 ** s for s in per_sweep], warnings, source)
