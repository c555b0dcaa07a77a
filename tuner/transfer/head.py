"""The classifier head, the backbone's blocks, and replacing the head.

**The head** is, in this order of precedence:

1. what the task names with an optional ``head`` in its task file: the dotted
   name of a module (``head = "fc"``, ``head = "classifier.3"``), or a function
   ``head(model)`` returning such a name or the module itself;
2. what the model names itself in ``model.pretrained_cfg["classifier"]`` (every
   timm model does: ``fc``, ``head``, ``head.fc``);
3. the model's last ``nn.Linear`` (in ``named_modules()`` order, which is the
   order the modules were assigned in ``__init__``).

**A block** (what ``freeze=k`` counts, from the end): the model's top-level
children that hold parameters, in order, the head excluded; a child named
``blocks`` or ``stages`` (timm's lists of transformer blocks or network
stages) counts each of its own children as a block; parameters registered on
the model itself (a ViT's ``cls_token``, ``pos_embed``) form the first block.
So the built-in CNN's blocks are its conv layers, a ResNet's ``conv1``,
``bn1``, ``layer1`` … ``layer4``, a ViT's ``patch_embed``, ``blocks.0`` … and
its final ``norm``.

**Replacing the head** is a module swap: a fresh ``nn.Linear`` with the
task's number of outputs set as the attribute of the head's parent. It is
needed only when the model was built with the source's number of classes
(``torchvision.models.resnet18()`` has 1000); a head that already has the
task's width keeps ``build_model``'s own fresh initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from tuner.errors import TuneError, describe_exception

EXPANDED = ("blocks", "stages")  # children whose own children are the blocks (timm)
HEAD_HINT = ("name the head in the task file: head = 'name.of.module' (a module of "
             "model.named_modules()), or a function head(model) returning it")


@dataclass
class Block:
    """One unit of the backbone that ``freeze=k`` trains or freezes as a whole."""

    name: str
    params: list[nn.Parameter]
    modules: tuple[nn.Module, ...]


def find_head(model: nn.Module, spec: Any = None) -> str:
    """The dotted name of ``model``'s classifier head (see the module docstring).

    Args:
        spec: The task's ``head``: a module name, a function of the model, or None.

    Raises:
        TuneError: the task names no module of the model; no head can be found.
    """
    named = dict(model.named_modules())
    if spec is not None:
        found = spec
        if callable(spec) and not isinstance(spec, nn.Module):
            try:
                found = spec(model)
            except Exception as e:  # the user's code: report it, do not crash
                raise TuneError(f"head(model) raised {describe_exception(e)}",
                                "fix head(model) in the task file") from None
        if isinstance(found, nn.Module):
            found = next((n for n, m in named.items() if m is found and n), None)
        if not isinstance(found, str) or not found or found not in named:
            raise TuneError(f"the task's head ({spec!r}) is not a module of the model", HEAD_HINT)
        return found
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and cfg.get("classifier"):
        name = cfg["classifier"]
        name = name[0] if isinstance(name, (tuple, list)) else name
        if isinstance(name, str) and name in named:
            return name
    linears = [n for n, m in named.items() if isinstance(m, nn.Linear) and n]
    if not linears:
        raise TuneError("the model has no nn.Linear to use as the classifier head", HEAD_HINT)
    return linears[-1]


def under(name: str, head: str) -> bool:
    """Whether the parameter or module ``name`` belongs to the module ``head``."""
    return name == head or name.startswith(head + ".")


def head_parameters(model: nn.Module, head: str) -> list[nn.Parameter]:
    return [p for n, p in model.named_parameters() if under(n, head)]


def blocks(model: nn.Module, head: str) -> list[Block]:
    """The backbone's blocks in order (see the module docstring); every parameter
    that is not the head's is in exactly one of them."""
    seen = {id(p) for p in head_parameters(model, head)}
    found: list[Block] = []

    def add(name: str, params: list[nn.Parameter], modules: tuple[nn.Module, ...]) -> None:
        fresh = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        if fresh:
            found.append(Block(name, fresh, modules))

    add("(model)", list(model.parameters(recurse=False)), ())
    for name, child in model.named_children():
        if name in EXPANDED and isinstance(child, (nn.Sequential, nn.ModuleList)):
            for sub, block in child.named_children():
                add(f"{name}.{sub}", _own(block, f"{name}.{sub}", head), (block,))
        elif under(head, name) and head != name:
            # The head sits inside this child (timm's head.fc): the rest of it is a block.
            add(name, _own(child, name, head), _beside(child, name, head))
        elif not under(name, head):
            add(name, _own(child, name, head), (child,))
    return found


def _own(module: nn.Module, prefix: str, head: str) -> list[nn.Parameter]:
    return [p for n, p in module.named_parameters(prefix=prefix) if not under(n, head)]


def _beside(module: nn.Module, prefix: str, head: str) -> tuple[nn.Module, ...]:
    """The children of ``module`` that neither are nor hold the head."""
    return tuple(m for n, m in module.named_children()
                 if not under(f"{prefix}.{n}", head) and not under(head, f"{prefix}.{n}"))


def fit_head(model: nn.Module, head: str, num_classes: int) -> bool:
    """Swap the head for a fresh ``nn.Linear`` with ``num_classes`` outputs when it is a
    Linear of another width; True when it did. Any other head is left as it is
    (the forward check then says whether its outputs fit)."""
    module = model.get_submodule(head)
    if not isinstance(module, nn.Linear) or module.out_features == num_classes:
        return False
    new = nn.Linear(module.in_features, num_classes, bias=module.bias is not None,
                    device=module.weight.device, dtype=module.weight.dtype)
    parent_name, _, attr = head.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return True
