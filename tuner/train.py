"""``tune train``: one training run with the given hyperparameters, saved.

The checkpoint keeps the weights of the epoch with the best validation
accuracy (the run's ``best_val_acc``), not those of the last epoch, so the
number the run reports is the number its model delivers. A run that diverged
writes into ``<out>/diverged/`` instead, so it never replaces an earlier good
model and history in ``<out>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.augment import Augmentation
from tuner.checkpoint import Checkpoint, save
from tuner.engine import EpochRecord, History, OnEpoch, best_index
from tuner.experiment import Experiment
from tuner.outdir import out_dir, save_json, write_atomic
from tuner.plotting import plot_history

DIVERGED_DIR = "diverged"


@dataclass
class TrainResult:
    """One training run: its curves, hyperparameters, the epoch its weights come
    from, the files written (``folder`` holds them) and, with ``--pretrained``,
    what loading the weights did (:meth:`~tuner.transfer.load.LoadReport.to_dict`)."""

    history: History
    hyperparameters: dict[str, Any]
    files: list[str] = field(default_factory=list)
    weights_epoch: int | None = None
    folder: str = ""
    pretrained: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        h = self.history
        return {"best_val_acc": h.best_val_acc, "final_val_acc": h.final_val_acc,
                "weights_epoch": self.weights_epoch, "epochs_run": len(h.epochs),
                "diverged": h.diverged, "reason": h.reason,
                "hyperparameters": self.hyperparameters, "folder": self.folder, "files": self.files,
                "pretrained": self.pretrained}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TrainResult":
        return TrainResult(History.from_dict(d["history"]), dict(d["hyperparameters"]),
                           list(d.get("files", [])), d.get("weights_epoch"), str(d.get("folder", "")),
                           d.get("pretrained"))


def train_and_save(exp: Experiment, out: str | Path, *,
                   on_epoch: OnEpoch | None = None) -> TrainResult:
    """Train ``exp``'s configuration once and write, to ``out`` (to
    ``out/diverged/`` when the run diverged): ``model.pt`` (a self-describing
    checkpoint, see :mod:`tuner.checkpoint`), ``history.json``, ``history.csv``
    and ``curves.png``."""
    exp.require_trainable()
    out_dir(out)
    built = exp.build()
    model = built.model
    best: dict[str, Any] = {"state": None, "epoch": None}
    seen: list[EpochRecord] = []

    def keep_best(rec: EpochRecord) -> bool | None:
        # The weights of THE best epoch (engine.best_index, as History.best_epoch): snapshot
        # whenever the epoch just ended is it.
        seen.append(rec)
        if best_index([r.val_acc for r in seen], [r.val_loss for r in seen]) == len(seen) - 1:
            best.update(epoch=rec.epoch,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
        return on_epoch(rec) if on_epoch is not None else None

    history = exp.fit(built, on_epoch=keep_best)
    folder = out_dir(Path(out) / DIVERGED_DIR if history.diverged else out)
    hyper = exp.all_hp()
    paths = {
        "model": folder / "model.pt",
        "history_json": folder / "history.json",
        "history_csv": folder / "history.csv",
        "curves": folder / "curves.png",
    }
    state = best["state"] if best["state"] is not None else model.state_dict()
    last = history.epochs[-1] if history.epochs else None
    save(Checkpoint(state, exp.recipe, hyper, exp.normalizer, exp.task.classes(),
                    tuple(exp.input_shape), history.best_val_acc, history.final_val_acc,
                    int(best["epoch"] or (last.epoch if last else 0)), len(history.epochs)),
         paths["model"])
    save_json(paths["history_json"], {**history.to_dict(), "hyperparameters": hyper,
                                      "recipe": exp.recipe.to_dict(),
                                      "declared": {n: spec.to_dict(declaration=True) for n, spec in exp.declared.items()},
                                      "task": exp.recipe.task.label(),
                                      "seed": exp.seed, "weights_epoch": best["epoch"]})
    write_atomic(paths["history_csv"], history.write_csv)
    augmentation = Augmentation.from_values(exp.params)
    plot_history(history, paths["curves"], title=exp.recipe.task.label(),
                 notes=[] if augmentation.is_identity() else [f"augmentation: {augmentation.describe()}"])
    return TrainResult(history, hyper, [str(p) for p in paths.values()], best["epoch"], str(folder),
                       None if built.pretrained is None else built.pretrained.to_dict())
