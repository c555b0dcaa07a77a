"""The curves annotated with their diagnosis (``tune diagnose``'s PNG).

On top of the loss/accuracy panels of :func:`tuner.plotting.plot_history`:
the codes in the title, a dotted line at the best epoch, red crosses where the
training loss jumped (unstable), a red line where the loss became non-finite
or blew up (diverged), a shaded trend window (still-improving), the climb of
the validation loss from its best (overfitting), and grey dashed lines at
chance level (and the reference accuracy) when they are known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuner.augment import Augmentation
from tuner.diagnose.result import DiagnoseResult
from tuner.engine import History
from tuner.plotting import plot_history

VERDICT_COLOR = {"fail": "red", "warn": "darkorange", "pass": "green"}
SHOWN_RISE = 0.1  # mark the validation loss's best point when it climbed this much since


def plot_diagnosis(history: History, result: DiagnoseResult, path: Path) -> Path:
    """Write the annotated curves of ``history`` to ``path`` (PNG)."""
    codes = ", ".join(result.codes)
    notes = [f"{d.code}: {d.message}" for d in result.diagnoses]
    augmentation = Augmentation.from_values(result.hyperparameters)
    if not augmentation.is_identity():
        notes.append(f"augmentation: {augmentation.describe()}")
    name = Path(result.source).name if result.source else ""
    title = f"{name + ': ' if name else ''}{codes} ({result.verdict})"

    def annotate(ax_loss: Any, ax_acc: Any) -> None:
        best = result.metrics.get("best_epoch")
        _baselines(ax_loss, ax_acc, result)
        for ax in (ax_loss, ax_acc):
            if best is not None:
                ax.axvline(best, color="green", linestyle=":", linewidth=1, label=f"best epoch {best}")
            for d in result.diagnoses:
                _mark(ax, ax is ax_loss, d.code, d.evidence, history)
            ax.legend(fontsize=7)
        ax_loss.text(0.99, 0.98, "\n".join(result.codes), transform=ax_loss.transAxes,
                     ha="right", va="top", fontsize=9, fontweight="bold",
                     color=VERDICT_COLOR.get(result.verdict, "black"))

    return plot_history(history, path, title=title, notes=_wrap(notes), annotate=annotate)


def _baselines(ax_loss: Any, ax_acc: Any, result: DiagnoseResult) -> None:
    """Chance level on both panels (validation's), and the reference accuracy."""
    if result.chance is not None:
        if result.chance.val_loss is not None:
            ax_loss.axhline(result.chance.val_loss, color="grey", linestyle="--", linewidth=1,
                            label="chance")
        ax_acc.axhline(result.chance.val_acc, color="grey", linestyle="--", linewidth=1,
                       label="chance")
    if result.reference is not None:
        ax_acc.axhline(result.reference, color="grey", linestyle="-.", linewidth=1,
                       label="other runs' best")


def _wrap(notes: list[str], width: int = 150) -> list[str]:
    """Keep each note on one title line (matplotlib does not wrap suptitles)."""
    return [n if len(n) <= width else n[:width - 1] + "…" for n in notes]


def _mark(ax: Any, is_loss: bool, code: str, ev: dict[str, Any], history: History) -> None:
    if code == "diverged" and "epoch" in ev:
        ax.axvline(ev["epoch"], color="red", linewidth=1.5, alpha=0.7, label="diverged")
    elif code == "unstable" and is_loss:
        by_epoch = {e.epoch: e.train_loss for e in history.epochs}
        xs = ev.get("rise_epochs", [])
        ax.plot(xs, [by_epoch[x] for x in xs], "x", color="red", markersize=8, label="loss jumps")
    elif code == "still-improving" and ev.get("window_epochs"):
        last = history.epochs[-1].epoch
        ax.axvspan(last - ev["window_epochs"] + 1, last, color="gold", alpha=0.2,
                   label="still improving")
    elif code == "overfitting":
        last = history.epochs[-1].epoch
        if not is_loss and "acc_gap" in ev:
            ax.annotate("", xy=(last, ev["train_acc"]), xytext=(last, ev["val_acc"]),
                        arrowprops={"arrowstyle": "<->", "color": "darkorange"})
            ax.text(last, (ev["train_acc"] + ev["val_acc"]) / 2, f"gap {ev['acc_gap'] * 100:.1f} pts ",
                    ha="right", va="center", fontsize=8, color="darkorange")
        if is_loss and ev.get("val_loss_rise", 0) >= SHOWN_RISE:
            ax.plot([ev["val_loss_best_epoch"]], [ev["val_loss_best"]], "v", color="darkorange",
                    label=f"val loss +{ev['val_loss_rise']:.0%} since")
