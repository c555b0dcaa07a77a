"""Plotting shared by every step: matplotlib on the Agg backend (no screen),
atomic PNG saving, and the loss/accuracy curves of one training run.

A leaf: it imports nothing from the steps; each step keeps its own plots in
its package (``checks/init_plot.py``, ``lr_range/plot.py``, ...)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from tuner.engine import History


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and free it."""
    from tuner.outdir import write_atomic

    plt = pyplot()
    try:
        fig.tight_layout()
        write_atomic(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return path


def plot_history(history: History, path: Path, *, title: str = "",
                 notes: list[str] | None = None,
                 annotate: Callable[[Any, Any], None] | None = None) -> Path:
    """Two panels (loss, accuracy) against epoch; ``notes`` are printed under the title.

    ``annotate(ax_loss, ax_acc)``, when given, draws extra marks before saving.
    """
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history.column("epoch")
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
        for split, style in (("train", "-"), ("val", "--")):
            values = history.column(f"{split}_{metric}")
            ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None,
                    markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if metric == "acc" else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    losses = [v for v in history.column("train_loss") + history.column("val_loss") if math.isfinite(v)]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 50:
        ax_loss.set_yscale("log")
    if history.diverged:
        ax_loss.set_title("diverged", color="red")
    heading = title + ("\n" + "; ".join(notes) if notes else "")
    if heading:
        fig.suptitle(heading, fontsize=10)
    if annotate is not None:
        annotate(ax_loss, ax_acc)
    return save_figure(fig, path)


def plot_confusion(matrix: list[list[int]], classes: list[str], path: Path, *,
                   title: str = "") -> Path:
    """A confusion matrix: rows the true class, columns the predicted one, counts in
    the cells (shaded by each row's share, so rare classes show their errors too)."""
    plt = pyplot()
    n = len(classes)
    side = min(12.0, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(side, side))
    totals = [max(1, sum(row)) for row in matrix]
    shares = [[v / t for v in row] for row, t in zip(matrix, totals)]
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                            color="white" if shares[i][j] > 0.5 else "black")
        ax.set_xticks(range(n), classes, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
