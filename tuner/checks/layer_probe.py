"""One forward and backward pass with every layer watched.

Forward hooks record, for every module that owns parameters and every
activation module, the statistics of its output (mean, std, share of exact
zeros, dead units) in call order, which is the order of depth. After the
backward pass each parameter reports its gradient norm, or that it got none.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from tuner.task import call_user

ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Softplus, nn.Softsign, nn.LogSigmoid, nn.Softmax, nn.LogSoftmax, nn.Threshold,
)
# Share of a ReLU layer's units that are zero for every sample: a warning, a failure.
DEAD_WARN, DEAD_FAIL = 0.25, 0.5
# Units of these are "dead" when their output is exactly 0 for every sample.
ZEROING = (nn.ReLU, nn.ReLU6, nn.Threshold)
HIST_VALUES = 4000


@dataclass
class LayerStats:
    """The output of one module call.

    ``role`` is ``weight`` for a module with a weight matrix or kernel (Linear,
    Conv, Embedding: the layers whose scale the initialisation sets),
    ``activation``, or ``param`` (other parametrised modules, e.g. norms).
    ``dead`` is the share of units (features or channels) that output exactly
    zero for every sample, for ReLU-like activations only. ``fan_in`` and
    ``weight_std`` are set for weight layers.
    """

    depth: int
    name: str
    kind: str
    role: str
    mean: float
    std: float
    zeros: float
    finite: bool
    dead: float | None = None
    fan_in: int | None = None
    weight_std: float | None = None
    grad_norm: float | None = None
    values: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["values"]
        return d


@dataclass
class ParamStats:
    name: str
    shape: tuple[int, ...]
    trainable: bool
    norm: float
    grad_norm: float | None  # None: no gradient reached it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Probe:
    layers: list[LayerStats]
    params: list[ParamStats]
    loss: float
    logits_std: float


def weight_of(module: nn.Module) -> torch.Tensor | None:
    w = getattr(module, "weight", None)
    return w if isinstance(w, torch.Tensor) and w.dim() >= 2 else None


def role_of(module: nn.Module) -> str | None:
    if weight_of(module) is not None:
        return "weight"
    if isinstance(module, ACTIVATIONS):
        return "activation"
    if any(True for _ in module.parameters(recurse=False)):
        return "param"
    return None


def first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


def output_stats(depth: int, name: str, module: nn.Module, role: str, out: torch.Tensor) -> LayerStats:
    o = out.detach().float()
    finite = bool(torch.isfinite(o).all())
    dead = None
    if isinstance(module, ZEROING) and o.dim() >= 2:
        axes = (0,) + tuple(range(2, o.dim()))  # a unit is a feature or a channel
        dead = float((o == 0).all(dim=axes).float().mean())
    flat = o.flatten()
    step = max(1, flat.numel() // HIST_VALUES)
    rec = LayerStats(depth, name, type(module).__name__, role, float(flat.mean()),
                     float(flat.std()) if flat.numel() > 1 else 0.0,
                     float((flat == 0).float().mean()), finite, dead,
                     values=flat[::step][:HIST_VALUES].cpu().tolist())
    weight = weight_of(module)
    if weight is not None:
        rec.fan_in = int(weight[0].numel())
        rec.weight_std = float(weight.detach().float().std())
    return rec


def probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable) -> Probe:
    """Run ``loss_fn(model(x), y).backward()`` in train mode and record every layer."""
    names = {m: (n or "model") for n, m in model.named_modules()}  # for display only
    # Each record beside the module that made it: its gradient is read from the
    # module object, never looked up by name (a user's submodule may be called
    # "model" too, or a name may hold a '#').
    watched: list[tuple[LayerStats, nn.Module]] = []
    calls: dict[nn.Module, int] = {}

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        out = first_tensor(output)
        if out is None or not out.is_floating_point():
            return
        calls[module] = calls.get(module, 0) + 1
        name = names[module] + (f"#{calls[module]}" if calls[module] > 1 else "")
        watched.append((output_stats(len(watched) + 1, name, module, role_of(module) or "", out), module))

    handles = [m.register_forward_hook(hook) for m in model.modules() if role_of(m)]
    model.train()
    for p in model.parameters():
        p.grad = None
    try:
        out = call_user(model, "the model's forward", x)
        loss = call_user(loss_fn, "loss_fn(outputs, targets)", out, y)
    finally:
        for h in handles:
            h.remove()
    if loss.requires_grad:
        loss.backward()

    params = [ParamStats(n, tuple(p.shape), p.requires_grad, float(p.detach().float().norm()),
                         None if p.grad is None else float(p.grad.detach().float().norm()))
              for n, p in model.named_parameters()]
    for rec, module in watched:
        grads = [p.grad for p in module.parameters(recurse=False) if p.grad is not None]
        if grads:
            rec.grad_norm = math.sqrt(sum(float(g.detach().float().pow(2).sum()) for g in grads))
    logits = out.detach().float()
    return Probe([rec for rec, _ in watched], params, float(loss.detach()),
                 float(logits.std()) if logits.numel() > 1 else 0.0)
