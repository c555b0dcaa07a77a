"""The search space as data: what a search samples, range by range.

A :class:`SearchSpace` maps each searched name to a
:class:`~tuner.hp.ParamSpec` (``float``/``int`` with ``low``, ``high``,
``log``; or ``choice`` with ``options``), plus the conditions under which a
name is sampled at all (``momentum`` only for SGD, ``beta1`` only for Adam).
It is plain, immutable data: callers such as ``tune run`` widen or shift a
range with :meth:`SearchSpace.widen`, :meth:`SearchSpace.shift` or
:meth:`SearchSpace.set` before a search, and the space a study used is stored
with it (:meth:`SearchSpace.to_dict` / :meth:`SearchSpace.from_dict`).

The default space (:func:`default_space`): LR and weight decay log-uniform in
[1e-5, 1e-1] (LR centred on an lr-range result when given), batch size,
optimizer (SGD with momentum, or AdamW with β1), and every hyperparameter the
model declares through ``hp`` with ``search=True``. A name fixed with ``--hp``
is not searched.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from tuner.errors import TuneError
from tuner.hp import ParamSpec

if TYPE_CHECKING:  # reading the space must not import torch
    from tuner.lr_range import LRRangeResult

DEFAULT_LOW, DEFAULT_HIGH = 1e-5, 1e-1

# The training part of the default space. The model's own names are added from its hp declarations.
TRAIN_SPACE: dict[str, ParamSpec] = {
    "lr": ParamSpec("lr", "float", DEFAULT_LOW, DEFAULT_HIGH, log=True),
    "weight_decay": ParamSpec("weight_decay", "float", DEFAULT_LOW, DEFAULT_HIGH, log=True),
    "batch_size": ParamSpec("batch_size", "choice", options=(32, 64, 128)),
    "optimizer": ParamSpec("optimizer", "choice", options=("sgd", "adamw")),
    "momentum": ParamSpec("momentum", "float", 0.8, 0.99),
    "beta1": ParamSpec("beta1", "float", 0.8, 0.99),
}

# Augmentation, searched on image data only (samples shaped channels x height x width).
# They regularise, so the diagnosis policy raises them against overfitting and lowers
# them against underfitting within these ranges (crop: a smaller area is stronger).
AUGMENT_SPACE: dict[str, ParamSpec] = {
    "flip": ParamSpec("flip", "choice", options=(0.0, 0.5), role="regularization"),
    "crop": ParamSpec("crop", "float", 0.35, 1.0, role="regularization", descending=True),
    "translate": ParamSpec("translate", "float", 0.0, 0.25, role="regularization"),
    "jitter": ParamSpec("jitter", "float", 0.0, 0.4, role="regularization"),
    "cutout": ParamSpec("cutout", "float", 0.0, 0.5, role="regularization"),
}

# Names whose values set how fast a trial learns (an augmented trial starts slower):
# short trials compare a trial only with those that share its value, when pruning
# (tuner.search.pruning) and when narrowing the fine space (driver.fine_space).
STRATA = ("augment",)

AUGMENT_GATE = ParamSpec("augment", "choice", options=(False, True), role="regularization")

# Added to the default space when the model starts from pretrained weights.
TRANSFER_SPACE: dict[str, ParamSpec] = {
    "freeze": ParamSpec("freeze", "choice", options=("none", "backbone", "1", "2")),
    "backbone_lr": ParamSpec("backbone_lr", "float", 0.01, 1.0, log=True),
}

# name -> (parent, parent values under which the name matters)
TRAIN_CONDITIONS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "momentum": ("optimizer", ("sgd",)),
    "beta1": ("optimizer", ("adam", "adamw")),
    **{name: ("augment", (True,)) for name in AUGMENT_SPACE},
}
# name -> (parent, the one parent value under which the name does not matter):
# nothing but the head trains with freeze=backbone, so its LR ratio and its
# head-only epochs change nothing.
TRAIN_UNLESS: dict[str, tuple[str, Any]] = {
    "backbone_lr": ("freeze", "backbone"),
    "probe_epochs": ("freeze", "backbone"),
}


@dataclass(frozen=True)
class SearchSpace:
    """Searched names and their ranges or choices.

    Attributes:
        params: name -> :class:`~tuner.hp.ParamSpec` (the range or choices; ``default``
            and ``search`` are ignored here).
        when: name -> ``(parent, values)``: sample ``name`` only when the
            sampled ``parent`` is one of ``values``.
    """

    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    when: Mapping[str, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)

    # --- reading -----------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __getitem__(self, name: str) -> ParamSpec:
        return self.params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def active(self, name: str, sampled: Mapping[str, Any]) -> bool:
        """Whether ``name`` is sampled, given the values sampled so far."""
        cond = self.when.get(name)
        return cond is None or sampled.get(cond[0]) in cond[1]

    def contains(self, values: Mapping[str, Any]) -> bool:
        """Whether every searched name present in ``values`` lies in its range or choices."""
        for name, spec in self.params.items():
            if name not in values:
                continue
            v = values[name]
            if spec.kind == "choice":
                if v not in spec.options:
                    return False
            elif not spec.low - 1e-12 * abs(spec.low) <= v <= spec.high + 1e-12 * abs(spec.high):
                return False
        return True

    def width(self, name: str) -> float:
        """The span of a range (in decades when log), or the number of choices."""
        spec = self.params[name]
        if spec.kind == "choice":
            return float(len(spec.options))
        if spec.log:
            return math.log10(spec.high) - math.log10(spec.low)
        return float(spec.high - spec.low)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{name: {kind, low, high, log} | {kind, choices}, plus when: {parent: [values]}}``."""
        out: dict[str, dict[str, Any]] = {}
        for name, spec in self.params.items():
            entry = spec.to_dict()
            if name in self.when:
                parent, values = self.when[name]
                entry["when"] = {parent: list(values)}
            out[name] = entry
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Mapping[str, Any]]) -> "SearchSpace":
        """The inverse of :meth:`to_dict` (for a space stored with a study)."""
        params: dict[str, ParamSpec] = {}
        when: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for name, entry in data.items():
            params[name] = ParamSpec.from_dict(name, entry)
            for parent, values in (entry.get("when") or {}).items():
                when[name] = (parent, tuple(values))
        return SearchSpace(params, when)

    # --- changing (each returns a new space) -------------------------------------------
    def set(self, name: str, *, low: float | None = None, high: float | None = None,
            log: bool | None = None, choices: list[Any] | tuple[Any, ...] | None = None,
            kind: str | None = None) -> "SearchSpace":
        """A copy where ``name`` gets the given range or choices (added if new)."""
        old = self.params.get(name)
        if choices is not None:
            spec = ParamSpec(name, "choice", options=tuple(choices))
        else:
            base_kind = kind or (old.kind if old is not None and old.kind != "choice" else "float")
            lo = low if low is not None else (old.low if old is not None else None)
            hi = high if high is not None else (old.high if old is not None else None)
            lg = log if log is not None else bool(old is not None and old.log)
            if base_kind == "int":
                lo, hi = int(math.floor(lo)), int(math.ceil(hi))
            role = old.role if old is not None and old.kind != "choice" else None
            spec = ParamSpec(name, base_kind, lo, hi, lg, role=role)
        return dataclasses.replace(self, params={**self.params, name: spec})

    def widen(self, name: str, factor: float, *, floor: float | None = None,
              ceiling: float | None = None) -> "SearchSpace":
        """A copy with ``name``'s range ``factor`` times as wide about its centre
        (in log space for log ranges), clipped to ``[floor, ceiling]``.

        A linear range that starts at or above 0 never goes below 0.
        """
        spec = self.params[name]
        if spec.kind == "choice":
            raise ValueError(f"{name} is a choice; use set(name, choices=...)")
        to, back = transform(spec.log)
        lo, hi = to(spec.low), to(spec.high)
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * factor
        low, high = back(centre - half), back(centre + half)
        if not spec.log and spec.low >= 0:
            low = max(low, 0.0)
        low = low if floor is None else max(low, floor)
        high = high if ceiling is None else min(high, ceiling)
        return self.set(name, low=low, high=high)

    def shift(self, name: str, factor: float, *, floor: float | None = None,
              ceiling: float | None = None) -> "SearchSpace":
        """A copy with ``name``'s range moved: both ends multiplied by ``factor``
        (``factor=10`` raises a log range by one decade), clipped to ``[floor, ceiling]``."""
        spec = self.params[name]
        if spec.kind == "choice":
            raise ValueError(f"{name} is a choice; use set(name, choices=...)")
        low, high = spec.low * factor, spec.high * factor
        low = low if floor is None else max(low, floor)
        high = high if ceiling is None else min(high, ceiling)
        return self.set(name, low=min(low, high), high=max(low, high))



def transform(log: bool) -> tuple[Any, Any]:
    """``(to, back)``: log10 and its inverse for a log range, identity otherwise."""
    if log:
        return math.log10, lambda v: 10.0 ** v
    return (lambda v: v), (lambda v: v)


# --- the default space ------------------------------------------------------------------

def default_space(model_space: Mapping[str, ParamSpec], *, fixed: Mapping[str, Any] = (),
                  train_fixed: Mapping[str, Any] | None = None,
                  lr_range: "LRRangeResult | None" = None, images: bool = False,
                  transfer: bool = False) -> SearchSpace:
    """The coarse search's space for a model.

    Args:
        model_space: What the model declared through ``hp`` (``Experiment.space``);
            specs with ``search=False`` stay at their defaults.
        fixed: Names set with ``--hp``: not searched.
        train_fixed: The training values in force (``TrainParams.to_dict()``),
            used to decide conditional names when their parent is fixed
            (``--hp optimizer=sgd`` keeps ``momentum``, drops ``beta1``).
        images: The samples are images: the augmentation names join the space.
        lr_range: An lr-range result: the LR range
            is then centred on the suggestion (see :func:`lr_span`).
        transfer: The model starts from pretrained weights: search ``freeze``
            and ``backbone_lr`` too (:data:`TRANSFER_SPACE`), and not the model's
            ``capacity`` names (width, depth: they shape the architecture the
            weights fit).
    """
    params: dict[str, ParamSpec] = {**TRAIN_SPACE, **(AUGMENT_SPACE if images else {}),
                                    **(TRANSFER_SPACE if transfer else {})}
    if images and not any(name in fixed for name in (*AUGMENT_SPACE, "augment")):
        # Half the trials train without augmentation: where it hurts (a flip on digits)
        # the search sees that plainly, instead of every trial carrying some of it.
        params["augment"] = AUGMENT_GATE
    if lr_range is not None:
        low, high = lr_span(lr_range)
        params["lr"] = ParamSpec("lr", "float", low, high, log=True)
    for name, spec in model_space.items():
        if transfer and spec.role == "capacity":
            continue  # the architecture the pretrained weights were made for: not searched
        if spec.search and name not in params:
            params[name] = ParamSpec(name, spec.kind, spec.low, spec.high, spec.log, spec.options,
                                     role=spec.role)
    params = {k: v for k, v in params.items() if k not in fixed}
    return resolve_conditions(SearchSpace(params, {}), train_fixed or {})


def declarations(model_space: Mapping[str, ParamSpec], *, images: bool,
                 transfer: bool = False) -> dict[str, ParamSpec]:
    """Every declaration the diagnosis policy may move: the model's own (not its
    capacity names when it starts from pretrained weights: the architecture is the
    weights') and, on image data, the augmentation names (regularisation within
    tune's ranges)."""
    own = {n: s for n, s in model_space.items() if not (transfer and s.role == "capacity")}
    return {**own, **({**AUGMENT_SPACE, "augment": AUGMENT_GATE} if images else {})}


def resolve_conditions(space: SearchSpace, train_fixed: Mapping[str, Any]) -> SearchSpace:
    """Attach the conditions of conditional names; drop those whose fixed parent rules them out.

    A name of :data:`TRAIN_CONDITIONS` is sampled when its parent takes one of its
    values; a name of :data:`TRAIN_UNLESS` when its parent takes anything but its value.
    """
    params, when = dict(space.params), dict(space.when)
    rules = [(name, parent, lambda v, values=values: v in values)
             for name, (parent, values) in TRAIN_CONDITIONS.items()]
    rules += [(name, parent, lambda v, value=value: v != value)
              for name, (parent, value) in TRAIN_UNLESS.items()]
    for name, parent, applies in rules:
        if name not in params:
            continue
        if parent in params:
            seen = tuple(v for v in params[parent].options if applies(v))
            if seen:
                when[name] = (parent, seen)
            else:
                del params[name]
                when.pop(name, None)
        else:
            when.pop(name, None)
            if not applies(train_fixed.get(parent)):
                del params[name]
    return SearchSpace(params, when)


def lr_span(lr_range: "LRRangeResult") -> tuple[float, float]:
    """The LR range of a search centred on an lr-range result.

    One decade either side of ``suggested_lr`` (geometric centre), but never
    above the top of the measured ``range``, where the loss blew up. The span
    is kept at least half a decade wide below that top.
    """
    lr = float(lr_range.suggested_lr)
    if not lr > 0 or not math.isfinite(lr):
        raise TuneError(f"the lr-range result suggests lr {lr}, which is not usable",
                        "run tune lr-range again, or search without --from-lr-range")
    low, high = lr / 10, lr * 10
    top = float(lr_range.range[1]) if lr_range.range else math.nan
    if math.isfinite(top) and top > lr:
        high = min(high, top)
    return low, max(high, lr * 10 ** 0.5)
