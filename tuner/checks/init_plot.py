"""check-init: activation std by depth and a histogram of each layer's output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from tuner.checks.layer_probe import DEAD_WARN, LayerStats
from tuner.plotting import pyplot, save_figure

MAX_HISTOGRAMS = 12
COLUMNS = 4


def pick(layers: Sequence[LayerStats], k: int) -> list[LayerStats]:
    """At most ``k`` layers spread evenly over depth, first and last included."""
    if len(layers) <= k:
        return list(layers)
    idx = sorted({round(i * (len(layers) - 1) / (k - 1)) for i in range(k)})
    return [layers[i] for i in idx]


def plot_init(layers: Sequence[LayerStats], path: Path, *, title: str = "") -> Path:
    """Top: output std per layer call against depth (log scale), weight layers
    and activations apart. Below: histograms of the outputs of up to 12 layers."""
    plt = pyplot()
    shown = pick([r for r in layers if r.values], MAX_HISTOGRAMS)
    rows = max(1, math.ceil(len(shown) / COLUMNS))
    fig = plt.figure(figsize=(12, 3.2 + 2.2 * rows))
    grid = fig.add_gridspec(rows + 1, COLUMNS, height_ratios=[1.4] + [1] * rows)

    ax = fig.add_subplot(grid[0, :])
    for role, marker in (("weight", "o"), ("activation", "s"), ("param", "^")):
        pts = [(r.depth, r.std) for r in layers if r.role == role and r.finite and r.std > 0]
        if pts:
            ax.plot(*zip(*pts), marker=marker, linestyle="-" if role == "weight" else ":",
                    label={"weight": "weight layers", "activation": "activations",
                           "param": "other layers"}[role])
    stds = [r.std for r in layers if r.finite and r.std > 0]
    if stds and max(stds) / min(stds) > 10:
        ax.set_yscale("log")  # vanishing and exploding are exponential in depth
    else:
        ax.set_ylim(bottom=0)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("layer call (depth)")
    ax.set_ylabel("output std")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:  # nothing finite to draw (NaN inputs): no legend
        ax.legend(fontsize=8)

    for i, rec in enumerate(shown):
        h = fig.add_subplot(grid[1 + i // COLUMNS, i % COLUMNS])
        # ReLU zeros are counted in the title; the histogram shows the rest.
        values = [v for v in rec.values if math.isfinite(v) and (rec.dead is None or v != 0)]
        if values:
            # One filled outline, not 50 bar patches: the same picture, drawn far faster.
            counts, edges = np.histogram(values, bins=50)
            h.stairs(counts, edges, fill=True,
                     color="tab:red" if rec.dead and rec.dead >= DEAD_WARN else "tab:blue")
        h.set_title(f"#{rec.depth} {rec.name} ({rec.kind})\nstd {rec.std:.2g}, zeros {rec.zeros:.0%}",
                    fontsize=8)
        h.locator_params(axis="x", nbins=4)
        h.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        h.tick_params(labelsize=7)
        h.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
