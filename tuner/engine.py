"""THE training loop. Every step that trains (``tune train``, overfit-small,
the LR probe and range test, every search trial) goes through :class:`Trainer`
and, for whole epochs, :func:`fit`.

Speed rules: batches of in-memory data come from indexing, losses and
correct-counts accumulate on the device (no host sync per step), and the
learning rate is set by a plain multiplication when a schedule is on.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from tuner.chance import Chance
from tuner.data import Batch, BatchTransform, Data, batch_count
from tuner.errors import TuneError
from tuner.params import TrainParams

EVAL_BATCH = 1024
KEEP_OUTPUTS = 4_000_000  # output elements per epoch kept to count accuracy at its end (16 MB)
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr", "seconds")


# --- parameter groups, optimizer and schedule ------------------------------------

@dataclass
class ParamGroup:
    """Parameters that share an LR multiplier and a training window.

    A model trains as one group by default. A pretrained backbone can be its own
    group: a smaller ``lr_mult`` (discriminative learning rates), frozen
    throughout (``start_epoch=None``: a linear probe) or frozen until an epoch
    (probe, then fine-tune). A frozen group's parameters take no gradient and
    cost no optimizer state, and its ``modules`` stay in eval mode, so BatchNorm
    keeps its pretrained statistics.
    """

    name: str
    params: list[nn.Parameter]
    lr_mult: float = 1.0
    start_epoch: int | None = 1
    modules: tuple[nn.Module, ...] = ()

    def active(self, epoch: int) -> bool:
        return self.start_epoch is not None and epoch >= self.start_epoch


def default_groups(model: nn.Module) -> list[ParamGroup]:
    """One group of every parameter that requires a gradient."""
    return [ParamGroup("all", [p for p in model.parameters() if p.requires_grad])]


NOTHING_TO_TRAIN_HINT = ("build the layers in __init__ as nn.Module attributes and leave some of them "
                         "trainable (requires_grad=True); tune check-init lists the frozen ones")


def untrainable(model: nn.Module) -> str | None:
    """Why no optimizer could train ``model`` ("has no parameters", "has every
    parameter frozen (requires_grad=False)"), or ``None`` when it has something to train."""
    params = list(model.parameters())
    if any(p.requires_grad for p in params):
        return None
    return "has every parameter frozen (requires_grad=False)" if params else "has no parameters"


def make_optimizer(model: nn.Module, params: TrainParams, lr: float | None = None,
                   groups: list[ParamGroup] | None = None) -> torch.optim.Optimizer:
    """The optimizer over the groups active in epoch 1, each at ``lr`` times its multiplier.

    Raises:
        TuneError: nothing to train (torch would say "optimizer got an empty
            parameter list").
    """
    why = untrainable(model)
    if why is not None:
        raise TuneError(f"the model {why}: nothing can learn", NOTHING_TO_TRAIN_HINT)
    lr = params.lr if lr is None else lr
    active = [g for g in (groups if groups is not None else default_groups(model)) if g.active(1)]
    entries = [{"params": g.params, "lr": lr * g.lr_mult, "lr_mult": g.lr_mult, "name": g.name}
               for g in active if g.params]
    if not entries:
        raise TuneError("the model has no trainable parameters",
                        "check requires_grad and the freeze setting (tune check-init lists them)")
    if params.optimizer == "sgd":
        return torch.optim.SGD(entries, lr=lr, momentum=params.momentum,
                               weight_decay=params.weight_decay)
    cls = torch.optim.AdamW if params.optimizer == "adamw" else torch.optim.Adam
    return cls(entries, lr=lr, betas=(params.beta1, params.beta2), weight_decay=params.weight_decay)


def lr_factor(params: TrainParams, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of the base LR at ``step``: linear warmup, then the schedule.

    ``cosine`` anneals to 0 at the last step; ``step`` divides by 10 at 50% and
    again at 75% of training. Every parameter group's LR is its multiplier times
    the base LR times this factor.
    """
    warmup = int(params.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if params.schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total_steps - warmup)
    if params.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))


# --- one model, one optimizer: the training step ------------------------------

class Trainer:
    """A model with its optimizer and loss; ``step`` is the only place tune trains.

    Args:
        model: Already on ``device``.
        params: Optimizer, LR, weight decay, schedule, clipping.
        loss_fn: ``loss_fn(outputs, targets)`` returning a mean over the batch.
        total_steps: Schedule length; ``None`` means ``params.epochs`` epochs.
        groups: The parameter groups (default: the whole model as one); groups
            that start later are frozen until :meth:`begin_epoch` reaches them.
    """

    def __init__(self, model: nn.Module, params: TrainParams, *, loss_fn: Callable,
                 device: torch.device, steps_per_epoch: int, total_steps: int | None = None,
                 groups: list[ParamGroup] | None = None) -> None:
        self.model, self.params, self.loss_fn, self.device = model, params, loss_fn, device
        self.groups = groups if groups is not None else default_groups(model)
        self.optimizer = make_optimizer(model, params, groups=self.groups)
        self.frozen = [g for g in self.groups if not g.active(1)]
        for g in self.frozen:
            for p in g.params:
                p.requires_grad_(False)
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps or params.epochs * steps_per_epoch
        self.steps_done = 0
        self.scheduled = params.schedule != "constant" or params.warmup_epochs > 0
        self.clip = params.grad_clip
        self.base_lr = params.lr

    @property
    def lr(self) -> float:
        """The base LR now (before group multipliers)."""
        return self.base_lr

    def set_lr(self, lr: float) -> None:
        self.base_lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)

    def begin_epoch(self, epoch: int) -> None:
        """Put the model in train mode for ``epoch``: unfreeze the groups that start
        now (added to the optimizer), keep the still-frozen ones in eval mode."""
        self.model.train()
        starting = [g for g in self.frozen if g.active(epoch)]
        for g in starting:
            for p in g.params:
                p.requires_grad_(True)
            self.optimizer.add_param_group({"params": g.params, "lr": self.base_lr * g.lr_mult,
                                            "lr_mult": g.lr_mult, "name": g.name})
        self.frozen = [g for g in self.frozen if g not in starting]
        for g in self.frozen:
            for m in g.modules:
                m.eval()

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step; returns the loss and the outputs, detached, on the
        device (no host sync; callers that want accuracy count it when they need it)."""
        if self.scheduled:
            self.set_lr(self.params.lr * lr_factor(self.params, self.steps_done, self.total_steps,
                                                   self.steps_per_epoch))
        out = self.model(xb)
        loss = self.loss_fn(out, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.steps_done += 1
        return loss.detach(), out.detach()


def correct_count(out: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    if out.dim() == 2 and out.shape[0] == yb.shape[0] and not yb.is_floating_point():
        return (out.argmax(dim=1) == yb).sum()
    return torch.zeros((), device=out.device, dtype=torch.long)


def evaluate(model: nn.Module, data: Data, loss_fn: Callable, device: torch.device, *,
             train_mode: bool = False, batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``data``, without training it.

    By default in eval mode. ``train_mode=True`` measures what the optimizer
    sees (BatchNorm on batch statistics, so ``batch_size`` matters; dropout as
    the model has it), which overfit-small uses on its subset; norm layers'
    running statistics then update, as in a training step. The model's mode is
    restored afterwards either way.
    """
    # inference_mode is cheaper than no_grad (no autograd bookkeeping at all), but
    # a tensor it creates can never enter autograd later. In train mode, modules
    # may store such tensors (e.g. an EMA buffer reassigned in forward) that the next
    # training step reads, so train mode uses no_grad.
    with torch.no_grad() if train_mode else torch.inference_mode():
        was_training = model.training
        model.train(train_mode)
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.long)
        n = 0
        for xb, yb in data.batches(batch_size, shuffle=False, device=device):
            out = model(xb)
            loss_sum += loss_fn(out, yb).double() * len(yb)
            correct += correct_count(out, yb)
            n += len(yb)
        model.train(was_training)
        return (loss_sum / max(n, 1)).item(), correct.item() / max(n, 1)


def endless_batches(data: Data, batch_size: int, generator: torch.Generator,
                    device: torch.device) -> Iterator[Batch]:
    """Shuffled batches, epoch after epoch, for step-capped training."""
    while True:
        yield from data.batches(batch_size, shuffle=True, generator=generator, device=device)


# --- the epoch loop -------------------------------------------------------------

@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    train_acc: float
    val_acc: float
    lr: float
    seconds: float


def best_index(val_acc: list[float], val_loss: list[float]) -> int | None:
    """THE best epoch of a run, by index: the highest validation accuracy (the
    earliest on a tie), else, for curves without accuracy, the lowest validation
    loss. Non-finite values never win; None when nothing is finite."""
    for values, sign in ((val_acc, -1.0), (val_loss, 1.0)):
        finite = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
        if finite:
            return min(finite, key=lambda i: (sign * values[i], i))
    return None


@dataclass
class History:
    """Per-epoch curves of one training run.

    ``diverged`` is set when the training loss became NaN or infinite; the run
    stops there and ``reason`` says where. ``stopped`` is set when the caller's
    ``on_epoch`` asked to stop (for example a pruned search trial). ``chance``
    is the task's chance level (what a model that learned nothing scores),
    when known: ``tune diagnose`` judges the curves against it.
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    diverged: bool = False
    reason: str | None = None
    stopped: bool = False
    chance: Chance | None = None

    @property
    def best_epoch(self) -> EpochRecord | None:
        """The epoch whose weights a run keeps (see :func:`best_index`)."""
        i = best_index(self.column("val_acc"), self.column("val_loss"))
        return None if i is None else self.epochs[i]

    @property
    def best_val_acc(self) -> float:
        best = self.best_epoch
        return best.val_acc if best is not None else float("nan")

    @property
    def final_val_acc(self) -> float:
        return self.epochs[-1].val_acc if self.epochs else float("nan")

    def column(self, name: str) -> list[float]:
        return [getattr(e, name) for e in self.epochs]

    def to_dict(self) -> dict:
        return {"epochs": [asdict(e) for e in self.epochs], "diverged": self.diverged,
                "reason": self.reason, "stopped": self.stopped,
                "chance": None if self.chance is None else self.chance.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "History":
        """The inverse of :meth:`to_dict`; records written before ``chance`` existed read as unknown."""
        recs = [EpochRecord(**{k: (float("nan") if e.get(k) is None else e[k]) for k in HISTORY_COLUMNS})
                for e in d.get("epochs", [])]
        return History(recs, bool(d.get("diverged")), d.get("reason"), bool(d.get("stopped")),
                       Chance.from_dict(d.get("chance")))

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(HISTORY_COLUMNS)
            for e in self.epochs:
                w.writerow([getattr(e, c) for c in HISTORY_COLUMNS])



def epoch_means(losses: list[torch.Tensor], rights: list[torch.Tensor],
                sizes: list[int]) -> tuple[float, float]:
    """Sample-weighted mean loss and accuracy of an epoch's steps (one host sync)."""
    if not sizes:
        return float("nan"), float("nan")
    n = torch.tensor(sizes, dtype=torch.float64, device=losses[0].device)
    loss = torch.stack(losses).double() @ n / n.sum()
    acc = torch.stack(rights).sum().double() / n.sum()
    both = torch.stack([loss, acc]).tolist()
    return both[0], both[1]


OnEpoch = Callable[[EpochRecord], "bool | None"]


def fit(model: nn.Module, train: Data, val: Data, params: TrainParams, *, loss_fn: Callable,
        device: torch.device, seed: int = 0, epochs: int | None = None,
        on_epoch: OnEpoch | None = None, groups: list[ParamGroup] | None = None,
        transform: BatchTransform | None = None) -> History:
    """Train ``model`` for ``epochs`` (default ``params.epochs``) and validate after each.

    ``groups`` are the optimizer's parameter groups (default: the whole model);
    ``transform`` is applied to each training batch's inputs, on the device,
    before the step (training-time augmentation; validation never sees it).
    ``on_epoch(record)`` may return True to stop early (the run is marked
    ``stopped``).
    A NaN/inf training loss ends the run as diverged; it never raises.
    """
    epochs = epochs or params.epochs
    steps_per_epoch = batch_count(len(train), params.batch_size)
    trainer = Trainer(model, params, loss_fn=loss_fn, device=device, groups=groups,
                      steps_per_epoch=steps_per_epoch, total_steps=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        trainer.begin_epoch(epoch)
        # Per-step results stay on the device and are reduced once per epoch. Appending
        # costs a fraction of a microsecond; counting correct predictions every step
        # (argmax, compare, sum) costs more than the rest of tune's bookkeeping, so the
        # outputs are kept and counted in one go, unless they would take much memory.
        losses: list[torch.Tensor] = []
        rights: list[torch.Tensor] = []
        outs: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        sizes: list[int] = []
        keep: bool | None = None
        for i, (xb, yb) in enumerate(train.batches(params.batch_size, shuffle=True,
                                                    generator=generator, device=device)):
            if transform is not None:
                xb = transform(xb)
            loss, out = trainer.step(xb, yb)
            losses.append(loss)
            sizes.append(len(yb))
            if keep is None:
                keep = out.numel() // max(len(yb), 1) * len(train) <= KEEP_OUTPUTS
            if keep:
                outs.append(out)
                labels.append(yb)
            else:
                rights.append(correct_count(out, yb))
            if i % 50 == 49 and not torch.isfinite(loss):
                break  # no point finishing an epoch of NaNs
        if outs:
            rights.append(correct_count(torch.cat(outs), torch.cat(labels)))
        train_loss, train_acc = epoch_means(losses, rights, sizes)
        if not math.isfinite(train_loss):
            history.epochs.append(EpochRecord(epoch, train_loss, float("nan"), train_acc,
                                              float("nan"), trainer.lr, time.perf_counter() - start))
            history.diverged = True
            history.reason = f"training loss became {train_loss} in epoch {epoch} (lr {params.lr:g})"
            break
        val_loss, val_acc = evaluate(model, val, loss_fn, device)
        record = EpochRecord(epoch, train_loss, val_loss, train_acc, val_acc,
                             trainer.lr, time.perf_counter() - start)
        history.epochs.append(record)
        if on_epoch is not None and on_epoch(record):
            history.stopped = True
            break
    return history
