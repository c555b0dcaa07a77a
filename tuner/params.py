"""Training hyperparameters: the names every command shares, their defaults,
and the parsing of ``--hp key=value``.

This module must stay free of torch so that the CLI can parse and validate
flags before paying for a torch import.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from tuner.augment import augmentation_problems
from tuner.errors import TuneError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
# ``freeze``: train everything, only the head, or (a whole number k as text) the head and the last k blocks.
FREEZE_NONE, FREEZE_BACKBONE = "none", "backbone"


@dataclass(frozen=True)
class TrainParams:
    """How to train, independent of the model.

    ``normalize=None`` means "decide by the data": on for built-in data, off for
    a task file's data (a task usually normalises its own inputs).
    ``grad_clip=0`` turns gradient-norm clipping off.

    Transfer learning (see :mod:`tuner.transfer`): ``freeze`` is ``none``
    (train everything), ``backbone`` (train only the classifier head: a linear
    probe) or a whole number k written as text (``"2"``: the head and the last
    k blocks), text so that one choice of a search holds all three forms;
    ``backbone_lr`` multiplies the LR of every non-head parameter
    (discriminative learning rates); ``probe_epochs`` trains the head alone for
    that many epochs before the rest joins (probe, then fine-tune).
    """

    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 20
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    normalize: bool | None = None
    grad_clip: float = 0.0
    # Training-time augmentation of image batches (tuner.augment): all off by default;
    # augment=False turns all five off at once (the search's on/off gate).
    augment: bool = True
    flip: float = 0.0
    crop: float = 1.0
    translate: float = 0.0
    jitter: float = 0.0
    cutout: float = 0.0
    freeze: str = FREEZE_NONE
    backbone_lr: float = 1.0
    probe_epochs: int = 0

    @property
    def freeze_blocks(self) -> int | None:
        """``freeze=k``'s k (the blocks that train with the head), or None for ``none``/``backbone``."""
        return int(self.freeze) if self.freeze.isdigit() else None

    def replace(self, **changes: Any) -> "TrainParams":
        """A copy with ``changes`` applied and validated."""
        return check_params(dataclasses.replace(self, **changes))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRAIN_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainParams))


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_train_value(name: str, text: str) -> Any:
    """Convert the text of ``--hp name=text`` for a training hyperparameter."""
    kind = {f.name: f.type for f in dataclasses.fields(TrainParams)}[name]
    try:
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise TuneError(f"--hp {name}={text}: {name} must be a finite number",
                                f"for example --hp {name}={getattr(TrainParams(), name)}")
            return value
        if kind == "int":
            return int(text)
        if kind == "bool | None":
            return None if text.strip().lower() in ("auto", "none") else parse_bool(text)
        if kind == "bool":
            return parse_bool(text)
        if name == "freeze" and text.strip().isdigit():
            return str(int(text))  # one spelling per value: 02 and 2 are one experiment
        return text.strip().lower()
    except ValueError:
        expected = {"float": "a number", "int": "a whole number"}.get(kind, "true or false")
        raise TuneError(f"--hp {name}={text}: {name} must be {expected}",
                        f"for example --hp {name}={getattr(TrainParams(), name)}") from None


def check_params(params: TrainParams) -> TrainParams:
    """Reject values no training run could use, naming the flag to fix.

    Returns ``params``, with a whole-number ``freeze`` given as a number (from
    Python or JSON rather than ``--hp``) written as its text.
    """
    if isinstance(params.freeze, int) and not isinstance(params.freeze, bool):
        params = dataclasses.replace(params, freeze=str(params.freeze))
    problems = [(f.name, "must be a finite number") for f in dataclasses.fields(params)
                if f.type == "float" and not math.isfinite(getattr(params, f.name))]
    if not params.lr > 0:
        problems.append(("lr", "must be > 0"))
    if params.optimizer not in OPTIMIZERS:
        problems.append(("optimizer", f"must be one of {', '.join(OPTIMIZERS)}"))
    if params.schedule not in SCHEDULES:
        problems.append(("schedule", f"must be one of {', '.join(SCHEDULES)}"))
    for name in ("momentum", "beta1", "beta2"):
        if not 0 <= getattr(params, name) < 1:
            problems.append((name, "must be in [0, 1)"))
    for name in ("weight_decay", "warmup_epochs", "grad_clip"):
        if not getattr(params, name) >= 0:
            problems.append((name, "must be >= 0"))
    if params.batch_size < 1:
        problems.append(("batch_size", "must be >= 1"))
    if params.epochs < 1:
        problems.append(("epochs", "must be >= 1"))
    problems += augmentation_problems(params)
    if params.freeze not in (FREEZE_NONE, FREEZE_BACKBONE) and not (
            isinstance(params.freeze, str) and params.freeze.isdigit() and int(params.freeze) >= 1):
        problems.append(("freeze", "must be none, backbone, or a whole number of blocks >= 1"))
    if not params.backbone_lr > 0:
        problems.append(("backbone_lr", "must be > 0"))
    if params.probe_epochs < 0:
        problems.append(("probe_epochs", "must be >= 0"))
    if problems:
        name, why = problems[0]
        raise TuneError(f"--hp {name}={getattr(params, name)}: {name} {why}")
    return params


def parse_hp_args(args: list[str] | None) -> dict[str, str]:
    """Split repeated ``--hp key=value`` flags into a dict of raw strings."""
    raw: dict[str, str] = {}
    for arg in args or []:
        key, sep, value = arg.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise TuneError(f"--hp {arg!r} is not of the form key=value",
                            "write it as --hp lr=0.01 (repeat --hp for more)")
        raw[key] = value.strip()
    return raw


def train_params_from(raw: Mapping[str, str], base: TrainParams | None = None) -> TrainParams:
    """Apply the training names found in ``raw`` to ``base`` (default values if None)."""
    changes = {k: parse_train_value(k, v) for k, v in raw.items() if k in TRAIN_NAMES}
    return check_params(dataclasses.replace(base or TrainParams(), **changes))
