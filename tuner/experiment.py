"""One task plus how to train it: the starting point of every command.

:func:`prepare` loads the task, applies ``--hp`` overrides (training names and
the model's own), normalises the inputs, moves data to the device, and checks
with one forward pass that model, data and loss fit together, so that a
mistake surfaces as one clear error before any file is written.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tuner.chance import Chance, measure_chance
from tuner.data import Data, Normalizer, first_batch
from tuner.engine import History, fit
from tuner.errors import TuneError
from tuner.hp import HP, ParamSpec, Suggest
from tuner.params import TRAIN_NAMES, TrainParams, parse_hp_args, train_params_from
from tuner.task import Task, TaskSpec, call_user, load_task


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit device must exist."""
    name = name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TuneError("--device cuda: no CUDA device is available", "use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TuneError("--device mps: MPS is not available here", "use --device cpu or auto")
    if name not in ("cpu", "cuda", "mps"):
        raise TuneError(f"--device {name}: unknown device", "use auto, cpu, cuda or mps")
    return torch.device(name)


@dataclass
class Experiment:
    """A loaded task, its training settings, and the model's hyperparameters.

    ``train``/``val`` are normalised (when ``params.normalize``) and, for
    in-memory data, already on ``device``. ``space`` is what the model declared
    through ``hp``; ``model_hp`` the values this configuration uses. ``chance``
    is the task's chance level, recorded in every history :meth:`fit` returns.
    """

    task: Task
    params: TrainParams
    model_hp: dict[str, Any]
    space: dict[str, ParamSpec]
    train: Data
    val: Data
    device: torch.device
    seed: int
    overrides: dict[str, str] = field(default_factory=dict)
    chance: Chance | None = None

    def build_model(self, *, fixed: dict[str, Any] | None = None, suggest: Suggest | None = None,
                    seed: int | None = None) -> tuple[nn.Module, HP]:
        """A freshly initialised model on the device (seeded, so repeatable).

        With ``suggest`` (a search trial) only the ``--hp`` overrides stay
        fixed; every other searchable hyperparameter is asked of ``suggest``.
        """
        seed_everything(self.seed if seed is None else seed)
        base = self.model_hp if suggest is None else {
            k: v for k, v in self.model_hp.items() if k in self.overrides}
        hp = HP(fixed={**base, **(fixed or {})}, suggest=suggest)
        model = call_user(self.task.build_model, "build_model(hp)", hp)
        if not isinstance(model, nn.Module):
            raise TuneError(f"build_model(hp) returned a {type(model).__name__}, not a torch.nn.Module")
        return model.to(self.device), hp

    def fit(self, model: nn.Module, params: TrainParams | None = None, **kwargs: Any) -> History:
        """Train with the one engine on this experiment's data."""
        history = fit(model, self.train, self.val, params or self.params, loss_fn=self.task.loss_fn,
                      device=self.device, seed=self.seed, **kwargs)
        history.chance = self.chance
        return history

    def with_hp(self, values: dict[str, Any]) -> "Experiment":
        """This experiment configured with ``values`` (training and model names
        together, as a search trial records them), e.g. to retrain the best trial.

        ``normalize`` keeps this experiment's setting: the data is already
        prepared for it. Unknown names raise :class:`TuneError`.
        """
        train = {k: v for k, v in values.items() if k in TRAIN_NAMES and k != "normalize"}
        model = {k: v for k, v in values.items() if k not in TRAIN_NAMES}
        unknown = sorted(set(model) - set(self.space))
        if unknown:
            raise TuneError(f"hyperparameter {unknown[0]!r} is not declared by this model",
                            f"known ones: {', '.join(list(TRAIN_NAMES) + sorted(self.space))}")
        overrides = {**self.overrides, **{k: str(v) for k, v in {**train, **model}.items()}}
        return dataclasses.replace(self, params=self.params.replace(**train),
                                   model_hp={**self.model_hp, **model}, overrides=overrides)

    def all_hp(self, params: TrainParams | None = None) -> dict[str, Any]:
        """Training and model hyperparameters together, as ``--hp`` would set them."""
        return {**(params or self.params).to_dict(), **self.model_hp}


def prepare(spec: TaskSpec, hp_args: list[str] | None = None, *, seed: int = 0,
            device: str = "auto") -> Experiment:
    """Load, configure and check a task; raises :class:`TuneError` on bad input."""
    raw = parse_hp_args(hp_args)
    params = train_params_from(raw)
    dev = resolve_device(device)
    task = load_task(spec)
    if params.normalize is None:
        params = params.replace(normalize=task.builtin_data)

    model_raw = {k: v for k, v in raw.items() if k not in TRAIN_NAMES}
    seed_everything(seed)
    hp = HP(fixed=model_raw)
    model = call_user(task.build_model, "build_model(hp)", hp)
    unknown = sorted(set(model_raw) - set(hp.declared))
    if unknown:
        known = ", ".join(list(TRAIN_NAMES) + sorted(hp.declared))
        raise TuneError(f"--hp {unknown[0]}: unknown hyperparameter", f"known ones: {known}")
    if not isinstance(model, nn.Module):
        raise TuneError(f"build_model(hp) returned a {type(model).__name__}, not a torch.nn.Module")

    train, val = task.train, task.val
    if params.normalize:
        norm = Normalizer.fit(train)
        train, val = train.map_x(norm), val.map_x(norm)
    chance = (measure_chance(task.train.labels(), task.val.labels(), task.num_classes, task.loss_fn)
              if len(task.train) and len(task.val) else None)
    exp = Experiment(task, params, dict(hp.values), dict(hp.declared), train.to(dev), val.to(dev),
                     dev, seed, raw, chance)
    check_fit(exp, model.to(dev))
    return exp


def check_fit(exp: Experiment, model: nn.Module) -> None:
    """One forward pass and loss on a few samples: shapes, output width, loss."""
    xb, yb = first_batch(exp.train, 8, exp.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(xb)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TuneError(f"the model does not accept the data: {first} "
                        f"(input batch shape {tuple(xb.shape)})",
                        "make the model's first layer match the input shape") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != xb.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TuneError(f"the model returns {shape} for a batch of {xb.shape[0]}; "
                        f"expected (batch, {exp.task.num_classes}) class scores",
                        "return one row of logits per sample")
    if out.shape[1] != exp.task.num_classes:
        raise TuneError(f"the model outputs {out.shape[1]} values per sample but the data has "
                        f"{exp.task.num_classes} classes",
                        f"make the last layer output {exp.task.num_classes} (one logit per class)")
    loss = call_user(exp.task.loss_fn, "loss_fn(outputs, targets)", out, yb)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TuneError("loss_fn(outputs, targets) must return a scalar tensor",
                        "reduce the loss with .mean()")
