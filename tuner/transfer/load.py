"""Load pretrained weights into a freshly built model and say what happened.

Every tensor of the weights whose name and shape match one of the model's is
loaded. The classifier head (:func:`~tuner.transfer.head.find_head`) is
loaded only when all its tensors fit and, for a tune checkpoint, its class
names are the task's; otherwise it is re-initialised (swapped for a fresh
``nn.Linear`` with the task's number of outputs when the model was built with
another). When fewer than half of the backbone's parameter values (counted as
numbers; the head is left out, being replaced by design) find a match, the
weights belong to another architecture and :func:`load_pretrained` refuses,
naming the first mismatches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from tuner.errors import TuneError
from tuner.params import TRAIN_NAMES
from tuner.transfer.head import find_head, fit_head, under
from tuner.transfer.weights import Weights

MIN_MATCHED = 0.5  # share of the backbone's parameter values that must load
SHOWN_MISMATCHES = 3


@dataclass
class LoadReport:
    """What loading pretrained weights did to one model.

    ``loaded``: the model's tensors (parameters and buffers) taken from the
    weights; ``reinitialised``: the model's tensors left at their fresh
    initialisation (the head's when it was replaced, and any the weights
    lack); ``skipped``: the weights' tensors not used, each ``{name, why}``;
    ``matched``: the share of the backbone's parameter values loaded.
    """

    source: str
    head: str
    loaded: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    head_replaced: bool = False
    matched: float = 1.0

    @property
    def head_loaded(self) -> bool:
        """Whether the head kept the pretrained weights (a warm start on the same classes)."""
        return not self.head_replaced and not any(under(n, self.head) for n in self.reinitialised)

    def summary(self) -> str:
        """One line for people: counts, and the head's fate."""
        head = (f"head {self.head} replaced (new Linear)" if self.head_replaced else
                f"head {self.head} loaded" if self.head_loaded else f"head {self.head} re-initialised")
        return (f"{self.source}: loaded {len(self.loaded)} tensors ({self.matched:.0%} of the backbone), "
                f"{head}, {len(self.reinitialised)} re-initialised, "
                f"{len(self.skipped)} in the file skipped")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "head": self.head, "head_replaced": self.head_replaced,
                "matched": self.matched, "loaded": list(self.loaded),
                "reinitialised": list(self.reinitialised), "skipped": list(self.skipped)}


def load_pretrained(model: nn.Module, weights: Weights, num_classes: int,
                    class_names: list[str], head_spec: Any = None) -> LoadReport:
    """Load ``weights`` into ``model`` (in place) and fit its head to ``num_classes``.

    Raises:
        TuneError: fewer than half of the backbone's parameter values match.
    """
    head = find_head(model, head_spec)
    own = model.state_dict()
    params = dict(model.named_parameters())
    theirs = weights.tensors
    head_keys = [k for k in own if under(k, head)]
    head_fits = bool(head_keys) and all(k in theirs and theirs[k].shape == own[k].shape
                                        for k in head_keys)
    other_classes = weights.classes is not None and list(weights.classes) != list(class_names)
    module = model.get_submodule(head)
    width = module.out_features if isinstance(module, nn.Linear) else num_classes
    take_head = head_fits and not other_classes and width == num_classes

    matched: dict[str, Any] = {}
    skipped: list[dict[str, str]] = []
    for name, tensor in theirs.items():
        if name not in own:
            skipped.append({"name": name, "why": "not in the model"})
        elif tensor.shape != own[name].shape:
            skipped.append({"name": name, "why": f"shape {tuple(tensor.shape)} in the file, "
                                                 f"{tuple(own[name].shape)} in the model"})
        elif under(name, head) and not take_head:
            why = (f"the head, {width} outputs for {num_classes} classes" if width != num_classes
                   else "the head, trained on other classes")
            skipped.append({"name": name, "why": why})
        else:
            matched[name] = tensor
    backbone = {n: p.numel() for n, p in params.items() if not under(n, head)} or {
        n: p.numel() for n, p in params.items()}
    total = sum(backbone.values())
    share = sum(v for n, v in backbone.items() if n in matched) / total if total else 1.0
    if share < MIN_MATCHED:
        raise TuneError(f"--pretrained {weights.where}: only {share:.0%} of the model's parameters "
                        f"(head left out) match the weights by name and shape; first mismatches: "
                        f"{_mismatches(backbone, own, theirs)}", _hint(weights))
    model.load_state_dict(matched, strict=False)
    replaced = fit_head(model, head, num_classes)
    names = list(model.state_dict())
    return LoadReport(weights.where, head, [n for n in names if n in matched],
                      [n for n in names if n not in matched], skipped, replaced, share)


def _mismatches(backbone: dict[str, int], own: dict[str, Any], theirs: dict[str, Any]) -> str:
    shown = []
    for name in backbone:
        if name not in theirs:
            shown.append(f"{name} (not in the file)")
        elif theirs[name].shape != own[name].shape:
            shown.append(f"{name} ({tuple(theirs[name].shape)} in the file, "
                         f"{tuple(own[name].shape)} in the model)")
        if len(shown) == SHOWN_MISMATCHES:
            break
    return "; ".join(shown)


def _hint(weights: Weights) -> str:
    model_hp = {k: v for k, v in weights.hyperparameters.items() if k not in TRAIN_NAMES}
    if model_hp or weights.made_by:
        flags = " ".join([*weights.made_by, *(f"--hp {k}={v}" for k, v in sorted(model_hp.items()))])
        return (f"build the architecture the checkpoint was trained with: {flags} "
                f"(--data may differ)")
    return ("build the architecture the weights were saved from (--model/--task and its --hp); "
            "python -c \"import torch; print(list(torch.load('FILE')))\" lists the file's names")
