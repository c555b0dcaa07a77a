"""Checkpoints that describe themselves: ``model.pt``.

A checkpoint is a plain dict (so ``torch.load(path, weights_only=True)``
reads it: only containers, numbers, strings and tensors), after nanoGPT's
habit of keeping the config with the weights:

* ``state_dict``: the weights of the epoch with the best validation accuracy;
* ``recipe``: what made the model (:class:`~tuner.recipe.Recipe` as a dict);
* ``hyperparameters``: every training and model hyperparameter of the run;
* ``normalization``: ``{"mean", "std"}`` tensors applied to inputs, or None;
* ``classes``: the class names, index by index;
* ``input_shape``: the shape of one input sample;
* ``best_val_acc``, ``final_val_acc``, ``epoch`` (where the weights come
  from), ``epochs_run``.

:func:`load` rebuilds the model from the recipe (the task file's
``build_model``, or the built-in model) and loads the weights, ready for
inference, in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tuner.data import Normalizer
from tuner.errors import TuneError
from tuner.params import TRAIN_NAMES
from tuner.recipe import Recipe
from tuner.tta import tta_probabilities

FORMAT = "tune-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """What ``model.pt`` holds, typed."""

    state_dict: dict[str, torch.Tensor]
    recipe: Recipe
    hyperparameters: dict[str, Any]
    normalization: Normalizer | None
    classes: list[str]
    input_shape: tuple[int, ...]
    best_val_acc: float
    final_val_acc: float
    epoch: int
    epochs_run: int

    @property
    def model_hp(self) -> dict[str, Any]:
        """The model's own hyperparameters (what ``build_model(hp)`` asks for)."""
        return {k: v for k, v in self.hyperparameters.items() if k not in TRAIN_NAMES}

    def to_dict(self) -> dict[str, Any]:
        """The saved form (plain containers and tensors)."""
        norm = None if self.normalization is None else {
            "mean": self.normalization.mean.detach().cpu(), "std": self.normalization.std.detach().cpu()}
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
                "recipe": self.recipe.to_dict(), "hyperparameters": dict(self.hyperparameters),
                "normalization": norm, "classes": list(self.classes),
                "input_shape": list(self.input_shape), "best_val_acc": float(self.best_val_acc),
                "final_val_acc": float(self.final_val_acc), "epoch": int(self.epoch),
                "epochs_run": int(self.epochs_run)}

    @staticmethod
    def from_dict(d: Any, where: str = "checkpoint") -> "Checkpoint":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise TuneError(f"{where}: not a tune checkpoint",
                            "give a model.pt written by tune train or tune run")
        norm = d.get("normalization")
        return Checkpoint(
            dict(d["state_dict"]), Recipe.from_dict(d["recipe"]), dict(d["hyperparameters"]),
            None if norm is None else Normalizer(norm["mean"], norm["std"]),
            [str(c) for c in d["classes"]], tuple(int(v) for v in d["input_shape"]),
            float(d["best_val_acc"]), float(d["final_val_acc"]), int(d["epoch"]),
            int(d["epochs_run"]))


def save(checkpoint: Checkpoint, path: Path) -> Path:
    """Write ``checkpoint`` to ``path`` atomically."""
    from tuner.outdir import write_atomic

    data = checkpoint.to_dict()
    return write_atomic(Path(path), lambda p: torch.save(data, p))


def read(path: str | Path) -> Checkpoint:
    """The checkpoint in ``path``, read with ``weights_only=True`` (no code runs).

    Raises:
        TuneError: no such file, or not a tune checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise TuneError(f"{p}: no such checkpoint", "give the model.pt that tune train wrote")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle of something else, a truncated file, not a torch file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TuneError(f"{p}: not a readable tune checkpoint ({first[:160]})",
                        "give the model.pt that tune train wrote") from None
    try:
        return Checkpoint.from_dict(data, str(p))
    except (KeyError, TypeError, ValueError) as e:
        raise TuneError(f"{p}: an incomplete tune checkpoint (missing {e})",
                        "train again with tune train") from None


@dataclass
class LoadedModel:
    """A checkpoint's model, rebuilt and in eval mode, with what it needs for inference."""

    model: nn.Module
    checkpoint: Checkpoint
    device: torch.device

    @property
    def classes(self) -> list[str]:
        return self.checkpoint.classes

    def prepare_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs as the model saw them in training: float32, normalised."""
        x = x.to(self.device, torch.float32)
        norm = self.checkpoint.normalization
        return norm(x) if norm is not None else x

    def probabilities(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Class probabilities of raw inputs ``x`` (N, *input_shape), on the CPU: the
        plain prediction :mod:`tuner.tta` makes for ``tune evaluate`` and ``tune predict``."""
        if len(x) == 0:
            return torch.zeros(0, len(self.classes))
        return tta_probabilities(self.model, self.prepare_inputs(x), (), batch_size=batch_size,
                                 device=self.device)


def load(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model a checkpoint describes, load its weights, ready for inference.

    The task file named in the recipe must exist (its ``build_model`` is
    called; ``load_data`` is not). Raises :class:`TuneError` on bad input.
    """
    from tuner.experiment import resolve_device, seed_everything
    from tuner.hp import HP
    from tuner.task import build_user_model, load_builder

    ckpt = read(path)
    dev = resolve_device(device)
    build = load_builder(ckpt.recipe.task, ckpt.input_shape, len(ckpt.classes))
    seed_everything(ckpt.recipe.seed)
    model = build_user_model(build, HP(fixed=ckpt.model_hp))
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise TuneError(f"{path}: the weights do not fit the model build_model(hp) returns now "
                        f"({first[:160]})",
                        "the task file changed since training; restore it or train again") from None
    model.to(dev).eval()
    return LoadedModel(model, ckpt, dev)
