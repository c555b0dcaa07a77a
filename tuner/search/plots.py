"""Plots of a search study: validation accuracy against LR, the optimisation
history and the parameter importances (the last two are Optuna's own
matplotlib visualisations)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from tuner.plotting import pyplot, save_figure
from tuner.search.study import is_failure


def plot_search(study: Any, prefix: Path) -> list[Path]:
    """Write ``<prefix>_lr.png``, ``<prefix>_history.png`` and
    ``<prefix>_importance.png`` (each only when the study has what it needs);
    returns the paths written."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    written = []
    if any("lr" in t.params for t in trials):
        written.append(plot_accuracy_vs_lr(trials, Path(f"{prefix}_lr.png"), title=study.study_name))
    if not done:
        return written
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

        pyplot()  # selects the Agg backend before Optuna touches matplotlib
        ax = plot_optimization_history(study, target_name="validation accuracy")
        set_only_title(ax, f"{study.study_name}: optimisation history")
        written.append(save_figure(ax.figure, Path(f"{prefix}_history.png")))
        varied = len(done) >= 3 and any(len({repr(t.params.get(k)) for t in done}) > 1
                                        for k in done[0].params)
        if varied:
            warnings.simplefilter("ignore", UserWarning)  # "few trials per regime": we know
            try:
                ax = plot_param_importances(study, target_name="validation accuracy")
            except (ValueError, RuntimeError, ZeroDivisionError):
                return written  # too few distinct trials for an importance estimate
            set_only_title(ax, f"{study.study_name}: parameter importances")
            written.append(save_figure(ax.figure, Path(f"{prefix}_importance.png")))
    return written


def set_only_title(ax: Any, title: str) -> None:
    """Replace the title Optuna drew, wherever it put it (the importances plot puts
    its own on the left, where a centred one would not cover it), with ``title``."""
    for loc in ("left", "right"):
        ax.set_title("", loc=loc)
    ax.set_title(title)


def plot_accuracy_vs_lr(trials: list[Any], path: Path, *, title: str = "") -> Path:
    """Validation accuracy of each trial against its LR (log x): completed trials
    as dots (the best as a star), pruned ones as grey crosses at their last
    reported accuracy, failed ones as red triangles along the bottom."""
    from optuna.trial import TrialState

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    done = [(t.params["lr"], t.value) for t in trials
            if t.state == TrialState.COMPLETE and "lr" in t.params]
    pruned = [(t.params["lr"], t.intermediate_values[t.last_step]) for t in trials
              if t.state == TrialState.PRUNED and "lr" in t.params and t.last_step is not None]
    failed = [t.params["lr"] for t in trials if is_failure(t) and "lr" in t.params]
    if done:
        ax.scatter(*zip(*done), s=28, color="tab:blue", label=f"completed ({len(done)})", zorder=3)
        best = max(done, key=lambda p: p[1])
        ax.scatter([best[0]], [best[1]], s=160, marker="*", color="gold", edgecolor="black",
                   label=f"best {best[1]:.4f} at lr {best[0]:.2g}", zorder=4)
    if pruned:
        ax.scatter(*zip(*pruned), s=28, marker="x", color="grey", label=f"pruned ({len(pruned)})")
    values = [v for _, v in done + pruned if math.isfinite(v)]
    bottom = min(values + [0.0])
    if failed:
        ax.scatter(failed, [bottom] * len(failed), s=36, marker="v", color="red",
                   label=f"failed/diverged ({len(failed)})", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{title}: validation accuracy against LR" if title else "validation accuracy against LR")
    return save_figure(fig, path)
