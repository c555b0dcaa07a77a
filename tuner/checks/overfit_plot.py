"""overfit-small: training loss and accuracy on the subset, one line per LR tried."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from tuner.checks.overfit_findings import TARGET_ACC, Attempt
from tuner.plotting import pyplot, save_figure


def plot_overfit(attempts: Sequence[Attempt], path: Path, *, title: str = "") -> Path:
    """Loss (log scale when it spans a wide range) and accuracy against step, with
    the check's target accuracy."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for a in attempts:
        steps = [p[0] for p in a.curve]
        tag = f"lr {a.lr:g}" + (" ✓" if a.success else " (NaN)" if a.diverged else "")
        ax_loss.plot(steps, [p[1] for p in a.curve], label=tag)
        ax_acc.plot(steps, [p[2] for p in a.curve], label=tag)
    losses = [p[1] for a in attempts for p in a.curve if math.isfinite(p[1])]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
        ax_loss.set_yscale("log")
    ax_acc.axhline(TARGET_ACC, color="grey", linestyle=":", linewidth=1, label=f"target {TARGET_ACC:.0%}")
    ax_acc.set_ylim(-0.02, 1.02)
    for ax, label in ((ax_loss, "training loss"), (ax_acc, "training accuracy")):
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
