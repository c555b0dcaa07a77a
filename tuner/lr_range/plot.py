"""The LR range test as a picture: loss against LR (log axis) with the
suggestion and the recommended range marked, and the decade probe beside it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tuner.lr_range.curve import median_curve
from tuner.plotting import pyplot, save_figure

OUTCOME_COLOUR = {"drops": "tab:green", "flat": "tab:gray", "exploded": "tab:red"}


def plot_lr_range(result: Any, path: Path) -> Path:
    """Save the range-test curves and the probe of an ``LRRangeResult`` as a PNG."""

    plt = pyplot()
    fig, (ax, ax_probe) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    finite: list[float] = []
    for i, curve in enumerate(result.curves):
        ax.plot(curve.lr, curve.loss, color="tab:blue", alpha=0.3, linewidth=1,
                label="each repeat" if i == 0 else None)
        finite += [v for v in curve.loss if math.isfinite(v)]
    if len(result.curves) > 1:
        mid = median_curve(result.curves)
        ax.plot(mid.lr, mid.loss, color="tab:blue", linewidth=2, label="median")
    low, high = result.range
    ax.axvspan(low, high, color="tab:green", alpha=0.12, label=f"search range {low:.2g}–{high:.2g}")
    ax.axvline(result.suggested_lr, color="tab:green", linewidth=2,
               label=f"suggested {result.suggested_lr:.3g}")
    ax.set_xscale("log")
    if finite:
        # Show the valley, not the explosion: cap at a little above the starting loss.
        start = max(c.loss[0] for c in result.curves if c.loss and math.isfinite(c.loss[0]))
        ax.set_ylim(min(finite) * 0.9, max(start, min(finite)) * 1.3)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.set_title(f"range test ({result.optimizer}, spread {result.spread_decades:.2f} decades)"
                 + ("" if result.diverged else " — never diverged"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)

    for row in result.probe:
        drop = row.drop if row.drop is not None and math.isfinite(row.drop) else 0.0
        ax_probe.bar(row.lr, max(drop, -1.0), width=row.lr * 0.5, color=OUTCOME_COLOUR[row.outcome])
        ax_probe.annotate(row.outcome, (row.lr, max(drop, 0.0)), ha="center", va="bottom", fontsize=7)
    ax_probe.axvline(result.suggested_lr, color="tab:green", linewidth=1.5)
    ax_probe.axhline(0, color="black", linewidth=0.8)
    ax_probe.set_xscale("log")
    ax_probe.set_xlabel("learning rate")
    ax_probe.set_ylabel("relative drop of the loss")
    ax_probe.set_title("decade probe")
    ax_probe.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)
