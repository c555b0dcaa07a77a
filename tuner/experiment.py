"""One task plus how to train it: the starting point of every command.

:func:`prepare` loads the task a :class:`~tuner.recipe.Recipe` names, applies its ``--hp`` values (training names and
the model's own), normalises the inputs, moves data to the device, loads the
pretrained weights the recipe names (once, so that weights of another
architecture are refused up front), and checks with one forward pass that
model, data and loss fit together, so that a mistake surfaces as one clear
error before any file is written.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tuner.augment import Augmentation, check_image_samples, takes_augmentation
from tuner.chance import Chance, measure_chance
from tuner.data import BatchTransform, Data, Normalizer, first_batch
from tuner.engine import NOTHING_TO_TRAIN_HINT, History, ParamGroup, fit, untrainable
from tuner.errors import TuneError
from tuner.hp import HP, ParamSpec, Suggest
from tuner.params import TRAIN_NAMES, TrainParams, check_params
from tuner.recipe import Recipe
from tuner.threads import ThreadChoice
from tuner.task import Task, build_user_model, call_user, load_task
from tuner.transfer.groups import transfer_groups
from tuner.transfer.load import LoadReport, load_pretrained
from tuner.transfer.weights import read_weights


AUGMENT_SEED_OFFSET = 0x5EED  # augmentation draws: a stream apart from the shuffling's


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
class Built:
    """One freshly built model with what the engine trains it with.

    ``groups`` are the optimizer's parameter groups (one group by default; a
    pretrained backbone may get its own LR multiplier or be frozen);
    ``transform`` is the training-time batch transform (augmentation), or None.
    ``hp`` recorded what ``build_model`` asked for; ``pretrained`` what loading
    the recipe's weights did (None without ``--pretrained``); ``params`` the
    training values the groups and transform were made for, which ``fit``
    trains with (one set, so the optimizer cannot disagree with them).
    """

    model: nn.Module
    hp: HP
    groups: list[ParamGroup]
    transform: BatchTransform | None = None
    pretrained: LoadReport | None = None
    params: TrainParams | None = None


@dataclass
class Experiment:
    """A loaded task, its training settings, and the model's hyperparameters.

    ``recipe`` describes it (task, fixed ``--hp`` values typed, seed);
    ``train``/``val`` are normalised (when ``params.normalize``, by
    ``normalizer``) and, for in-memory data, already on ``device``. ``space`` is
    what the model declared through ``hp``; ``model_hp`` the values this
    configuration uses. ``chance``
    is the task's chance level, recorded in every history :meth:`fit` returns.
    """

    task: Task
    recipe: Recipe
    params: TrainParams
    model_hp: dict[str, Any]
    space: dict[str, ParamSpec]
    train: Data
    val: Data
    device: torch.device
    normalizer: Normalizer | None = None
    input_shape: tuple[int, ...] = ()
    threads: ThreadChoice | None = None  # set by the CLI's --threads (tuner.threads)
    # Why the model prepare() built cannot be trained (engine.untrainable), or None.
    # Kept rather than raised: check-init and overfit-small report it as their finding.
    untrainable_reason: str | None = None
    chance: Chance | None = None
    # What loading the recipe's pretrained weights did in prepare() (None without them).
    pretrained: LoadReport | None = None
    # Swap a Linear head of another width for one with the task's classes: set for an
    # experiment with pretrained weights and kept by without_weights() (its scratch baseline).
    adapt_head: bool = False

    def require_trainable(self) -> None:
        """Refuse, before anything is written, to train a model with nothing to train.

        Raises:
            TuneError: the model has no parameters, or every one is frozen.
        """
        if self.untrainable_reason is not None:
            raise TuneError(f"the model {self.untrainable_reason}: nothing can learn",
                            NOTHING_TO_TRAIN_HINT)

    @property
    def seed(self) -> int:
        return self.recipe.seed

    @property
    def fixed(self) -> dict[str, Any]:
        """The names held fixed with ``--hp`` (a search does not sample them)."""
        return dict(self.recipe.hp)

    def build(self, *, suggest: Suggest | None = None, seed: int | None = None,
              params: TrainParams | None = None) -> Built:
        """A freshly initialised model on the device (seeded, so repeatable), with the
        recipe's pretrained weights loaded, its parameter groups and training transform.

        With ``suggest`` (a search trial) only the recipe's fixed names stay
        fixed; every other searchable hyperparameter is asked of ``suggest``.
        ``params`` are the training settings this model will train with (a
        trial's sampled ones; default this experiment's): the groups follow its
        ``freeze``, ``backbone_lr`` and ``probe_epochs``, its augmentation becomes
        the transform.
        """
        seed_everything(self.seed if seed is None else seed)
        base = self.model_hp if suggest is None else {
            k: v for k, v in self.model_hp.items() if k in self.recipe.hp}
        hp = HP(fixed=base, suggest=suggest)
        model = build_user_model(self.task.build_model, hp)
        loaded = self.load_weights(model)
        model = model.to(self.device)
        params = params or self.params
        groups = transfer_groups(model, params, self.task.head)
        return Built(model, hp, groups, self.augmentation(params), loaded, params)

    def augmentation(self, params: TrainParams) -> BatchTransform | None:
        """The training batch transform ``params`` ask for (None when every
        augmentation is off). Its draws come from a stream of their own, seeded
        from the experiment's seed, so a CPU run repeats; jitter acts on the raw
        colours through the normaliser's statistics."""
        aug = Augmentation.from_values(params)
        if aug.is_identity():
            return None
        from tuner.augment.batch import BatchAugment

        norm = self.normalizer
        return BatchAugment(aug, AUGMENT_SEED_OFFSET + self.seed,
                            mean=None if norm is None else norm.mean,
                            std=None if norm is None else norm.std)

    @property
    def declared(self) -> dict[str, ParamSpec]:
        """What the diagnosis policy may move: the model's declarations and, on
        image data, augmentation (see :func:`tuner.search.space.declarations`)."""
        from tuner.search.space import declarations

        return declarations(self.space, images=self.images,
                            transfer=self.recipe.pretrained is not None)

    @property
    def images(self) -> bool:
        """Whether the samples are images (channels, height, width): augmentation applies."""
        return takes_augmentation(self.input_shape)

    def load_weights(self, model: nn.Module) -> LoadReport | None:
        """Load the recipe's pretrained weights into ``model`` and fit its head to the
        task (:mod:`tuner.transfer.load`); without weights only the head is fitted,
        and only for the scratch baseline of a pretrained experiment."""
        if self.recipe.pretrained is None:
            if self.adapt_head:
                from tuner.transfer.head import find_head, fit_head

                fit_head(model, find_head(model, self.task.head), self.task.num_classes)
            return None
        weights = read_weights(self.recipe.pretrained, self.recipe.task.model)
        return load_pretrained(model, weights, self.task.num_classes, self.task.classes(),
                               self.task.head)

    def without_weights(self) -> "Experiment":
        """This experiment trained from the model's own initialisation (the scratch
        baseline of ``tune transfer``): its recipe names no pretrained weights."""
        return dataclasses.replace(self, recipe=self.recipe.with_pretrained(None), pretrained=None)

    def fit(self, built: Built, **kwargs: Any) -> History:
        """Train ``built`` with the one engine on this experiment's data, with the
        training values it was built for."""
        history = fit(built.model, self.train, self.val, built.params or self.params,
                      loss_fn=self.task.loss_fn, device=self.device, seed=self.seed,
                      groups=built.groups, transform=built.transform, **kwargs)
        history.chance = self.chance
        return history

    def with_hp(self, values: dict[str, Any]) -> "Experiment":
        """This experiment configured with ``values`` held fixed (training and model
        names together, as a search trial records them), e.g. to retrain the best
        trial: its recipe then reproduces exactly this configuration.

        ``normalize`` keeps this experiment's setting: the data is already
        prepared for it. Unknown names raise :class:`TuneError`.
        """
        train = {k: v for k, v in values.items() if k in TRAIN_NAMES and k != "normalize"}
        model = {k: v for k, v in values.items() if k not in TRAIN_NAMES}
        unknown = sorted(set(model) - set(self.space))
        if unknown:
            raise TuneError(f"hyperparameter {unknown[0]!r} is not declared by this model",
                            f"known ones: {', '.join(list(TRAIN_NAMES) + sorted(self.space))}")
        return dataclasses.replace(self, params=self.params.replace(**train),
                                   model_hp={**self.model_hp, **model},
                                   recipe=self.recipe.with_hp({**train, **model}))

    def all_hp(self, params: TrainParams | None = None) -> dict[str, Any]:
        """Training and model hyperparameters together, as ``--hp`` would set them."""
        return {**(params or self.params).to_dict(), **self.model_hp}


def prepare(recipe: Recipe, device: str = "auto") -> Experiment:
    """Load, configure and check the experiment ``recipe`` describes.

    The returned experiment's ``recipe`` has the model's ``--hp`` values typed
    by the model's own declarations. Raises :class:`TuneError` on bad input.
    """
    if recipe.seed < 0:
        raise TuneError(f"--seed {recipe.seed}: the seed must be 0 or more")
    train_fixed = {k: v for k, v in recipe.hp.items() if k in TRAIN_NAMES}
    params = check_params(dataclasses.replace(TrainParams(), **train_fixed))
    dev = resolve_device(device)
    task = load_task(recipe.task)
    if params.normalize is None:
        params = params.replace(normalize=task.builtin_data)

    model_fixed = {k: v for k, v in recipe.hp.items() if k not in TRAIN_NAMES}
    seed_everything(recipe.seed)
    hp = HP(fixed=model_fixed)
    model = build_user_model(task.build_model, hp)
    unknown = sorted(set(model_fixed) - set(hp.declared))
    if unknown:
        known = ", ".join(list(TRAIN_NAMES) + sorted(hp.declared))
        raise TuneError(f"--hp {unknown[0]}: unknown hyperparameter", f"known ones: {known}")

    train, val = task.train, task.val
    norm = Normalizer.fit(train) if params.normalize else None
    if norm is not None:
        train, val = train.map_x(norm), val.map_x(norm)
    chance = (measure_chance(task.train.labels(), task.val.labels(), task.num_classes, task.loss_fn)
              if len(task.train) and len(task.val) else None)
    typed = recipe.with_hp({**train_fixed, **{k: hp.values[k] for k in model_fixed}})
    exp = Experiment(task, typed, params, dict(hp.values), dict(hp.declared), train.to(dev),
                     val.to(dev), dev, norm, untrainable_reason=untrainable(model), chance=chance,
                     adapt_head=recipe.pretrained is not None)
    exp.pretrained = exp.load_weights(model)
    model = model.to(dev)
    transfer_groups(model, params, task.head)  # a model without the head its groups need: refused now
    exp.input_shape = check_fit(exp, model)
    check_image_samples(exp.input_shape, Augmentation.from_values(params))
    return exp


def check_fit(exp: Experiment, model: nn.Module) -> tuple[int, ...]:
    """One forward pass and loss on a few samples: shapes, output width, loss.
    Returns the shape of one input sample."""
    xb, yb = first_batch(exp.train, 8, exp.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(xb)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        # float64 inputs (numpy's and scikit-learn's default) into a float32 model, or a
        # model made .double(): the shape is fine, the number type is not.
        weights = {p.dtype for p in model.parameters() if p.is_floating_point()}
        if xb.is_floating_point() and weights and xb.dtype not in weights:
            raise TuneError(f"the model does not accept the data: the inputs are "
                            f"{str(xb.dtype).replace('torch.', '')} but the model's parameters are "
                            f"{', '.join(sorted(str(w).replace('torch.', '') for w in weights))} ({first})",
                            "convert the inputs to float32 in load_data (X.astype(np.float32), or "
                            "tensor.float()) or the model with .float()") from None
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
    return tuple(xb.shape[1:])
