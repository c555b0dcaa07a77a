"""``freeze``, ``backbone_lr`` and ``probe_epochs`` as the engine's parameter groups.

* ``head`` (the classifier head, :func:`~tuner.transfer.head.find_head`):
  trains from the first epoch at the base LR;
* ``backbone``: the blocks that train (all of them for ``freeze=none``, the
  last k for ``freeze=k``), at ``backbone_lr`` times the base LR, from epoch
  ``probe_epochs + 1`` (kept in eval mode until then, so BatchNorm keeps its
  pretrained statistics during the probe);
* ``frozen``: the other blocks (all of them for ``freeze=backbone``): no
  gradient, no optimizer state, eval mode throughout.

At the defaults (``none``, 1, 0) the model trains as the one group it always was.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tuner.engine import ParamGroup, default_groups
from tuner.errors import TuneError
from tuner.params import FREEZE_BACKBONE, FREEZE_NONE, TrainParams
from tuner.transfer.head import Block, blocks, find_head, head_parameters


def uses_groups(params: TrainParams) -> bool:
    """Whether ``params`` train the head apart from the rest."""
    return params.freeze != FREEZE_NONE or params.backbone_lr != 1.0 or params.probe_epochs > 0


def transfer_groups(model: nn.Module, params: TrainParams, head_spec: Any = None) -> list[ParamGroup]:
    """The parameter groups ``params`` ask for (one group at the defaults).

    Raises:
        TuneError: the head has nothing to train.
    """
    if not uses_groups(params):
        return default_groups(model)
    head = find_head(model, head_spec)
    head_params = [p for p in head_parameters(model, head) if p.requires_grad]
    if not head_params:
        raise TuneError(f"--hp freeze={params.freeze}: the head {head} has no trainable parameters",
                        "the head must be trainable for a probe; name another module with head = "
                        "'...' in the task file")
    backbone = blocks(model, head)
    k = (len(backbone) if params.freeze == FREEZE_NONE else 0 if params.freeze == FREEZE_BACKBONE
         else min(params.freeze_blocks or 0, len(backbone)))
    training, frozen = backbone[len(backbone) - k:], backbone[:len(backbone) - k]
    groups = [ParamGroup("head", head_params)]
    if training:
        groups.append(_group("backbone", training, params.backbone_lr, 1 + params.probe_epochs))
    if frozen:
        groups.append(_group("frozen", frozen, params.backbone_lr, None))
    return [g for g in groups if g.params]


def _group(name: str, part: list[Block], lr_mult: float, start: int | None) -> ParamGroup:
    return ParamGroup(name, [p for b in part for p in b.params if p.requires_grad], lr_mult, start,
                      tuple(m for b in part for m in b.modules))
