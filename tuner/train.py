"""``tune train``: one training run with the given hyperparameters, saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuner.engine import History, OnEpoch
from tuner.experiment import Experiment
from tuner.outdir import out_dir, save_json, write_atomic
from tuner.plots.curves import plot_history


@dataclass
class TrainResult:
    history: History
    hyperparameters: dict[str, Any]
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        h = self.history
        return {"best_val_acc": h.best_val_acc, "final_val_acc": h.final_val_acc,
                "epochs_run": len(h.epochs), "diverged": h.diverged, "reason": h.reason,
                "hyperparameters": self.hyperparameters, "files": self.files}


def train_and_save(exp: Experiment, out: str | Path, *,
                   on_epoch: OnEpoch | None = None) -> TrainResult:
    """Train ``exp``'s configuration once and write, to ``out``: ``model.pt``
    (the state_dict), ``history.json``, ``history.csv`` and ``curves.png``."""
    exp.require_trainable()
    folder = out_dir(out)
    model, _ = exp.build_model()
    history = exp.fit(model, on_epoch=on_epoch)
    hyper = exp.all_hp()
    paths = {
        "model": folder / "model.pt",
        "history_json": folder / "history.json",
        "history_csv": folder / "history.csv",
        "curves": folder / "curves.png",
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    write_atomic(paths["model"], lambda p: torch.save(state, p))
    save_json(paths["history_json"], {**history.to_dict(), "hyperparameters": hyper,
                                      "task": exp.task.spec.describe(), "seed": exp.seed})
    write_atomic(paths["history_csv"], history.write_csv)
    plot_history(history, paths["curves"], title=f"{exp.task.spec.describe()}")
    return TrainResult(history, hyper, [str(p) for p in paths.values()])
