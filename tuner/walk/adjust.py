"""Turn a diagnosis into the next fine search: a shifted space and a length.

The Deep Learning Tuning Playbook's loop, made mechanical:

* ``overfitting``: regularise more. The weight-decay range moves up a decade
  and the dropout range up by 0.2 (as far as 0.7).
* ``underfitting``: more capacity, less regularisation. Width's upper end
  doubles, depth gains a layer, the weight-decay range moves down a decade.
* ``still-improving``: the next trials and the final training run twice as long.
* ``diverged`` / ``unstable``: the LR range moves down half a decade.

A name the user fixed with ``--hp`` is not in the space and stays fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuner.search import SearchSpace

WD_FLOOR, WD_CEILING = 1e-7, 1e-1
DROPOUT_STEP, DROPOUT_CEILING = 0.2, 0.7
WIDTH_CEILING = 4096
EPOCH_FACTOR = 2
LR_STEP_DOWN = 10 ** -0.5


@dataclass
class Adjustment:
    space: SearchSpace
    epoch_factor: int = 1
    changes: list[str] = field(default_factory=list)


def adjust_space(space: SearchSpace, codes: list[str]) -> Adjustment:
    """The space and trial length for the next fine search, given the diagnosis codes."""
    adj = Adjustment(space)
    if "overfitting" in codes:
        _shift(adj, "weight_decay", 10, "weight_decay range up a decade", WD_FLOOR, WD_CEILING)
        if "dropout" in adj.space:
            spec = adj.space["dropout"]
            adj.space = adj.space.set("dropout", low=min(spec.low + DROPOUT_STEP, DROPOUT_CEILING),
                                      high=min(spec.high + DROPOUT_STEP, DROPOUT_CEILING))
            adj.changes.append(f"dropout range {spec.low:.2g}-{spec.high:.2g} -> "
                               f"{adj.space['dropout'].low:.2g}-{adj.space['dropout'].high:.2g}")
    if "underfitting" in codes:
        if "width" in adj.space:
            spec = adj.space["width"]
            adj.space = adj.space.set("width", high=min(int(spec.high) * 2, WIDTH_CEILING))
            adj.changes.append(f"width up to {adj.space['width'].high:g}")
        if "depth" in adj.space:
            adj.space = adj.space.set("depth", high=int(adj.space["depth"].high) + 1)
            adj.changes.append(f"depth up to {adj.space['depth'].high:g}")
        _shift(adj, "weight_decay", 0.1, "weight_decay range down a decade", WD_FLOOR, WD_CEILING)
    if "still-improving" in codes or "underfitting" in codes:
        adj.epoch_factor = EPOCH_FACTOR
        adj.changes.append(f"{EPOCH_FACTOR}x the epochs")
    if "diverged" in codes or "unstable" in codes:
        _shift(adj, "lr", LR_STEP_DOWN, "lr range down half a decade")
    return adj


def _shift(adj: Adjustment, name: str, factor: float, note: str,
           floor: float | None = None, ceiling: float | None = None) -> None:
    if name in adj.space and adj.space[name].kind != "choice":
        adj.space = adj.space.shift(name, factor, floor=floor, ceiling=ceiling)
        adj.changes.append(note)
