"""``transfer.png``: the validation accuracy of each strategy, epoch by epoch, on one chart,
with chance marked, beside their training losses."""

from __future__ import annotations

import math
from pathlib import Path

from tuner.engine import History
from tuner.plotting import pyplot, save_figure


def plot_strategies(runs: list[tuple[str, History]], path: Path, *, title: str = "",
                    chance: float | None = None) -> Path:
    plt = pyplot()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in runs:
        epochs = history.column("epoch")
        best = history.best_val_acc
        label = f"{name} (best {best:.3f})" if math.isfinite(best) else f"{name} (failed)"
        ax_acc.plot(epochs, history.column("val_acc"), marker="o", markersize=3, label=label)
        ax_loss.plot(epochs, history.column("train_loss"), marker="o", markersize=3, label=name)
    if chance is not None and math.isfinite(chance):
        ax_acc.axhline(chance, color="grey", linestyle=":", label=f"chance {chance:.2f}")
    ax_acc.set_ylabel("validation accuracy")
    ax_loss.set_ylabel("training loss")
    for ax in (ax_acc, ax_loss):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
