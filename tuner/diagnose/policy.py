"""THE policy from a diagnosis to hyperparameter changes.

One table says which way each diagnosis moves which hyperparameter, and by
how much; two callers apply it: :mod:`tuner.diagnose.advice` to one
configuration (``tune diagnose``: ``--hp`` flags to try) and
:mod:`tuner.walk.adjust` to a search space (``tune run``: the next fine
search). So the advice a person reads and the change the walk makes cannot
drift apart. (Advice for one run may add settings a range cannot express,
set rather than moved: warmup and gradient clipping after a divergence, a
cosine schedule, SGD's momentum; those stay in :mod:`tuner.diagnose.advice`.
The walk's retraining uses a cosine schedule anyway.)

Which model hyperparameters move is what the model *declares*: a name
declared with ``role="capacity"`` grows against underfitting and shrinks
against overfitting; ``role="regularization"`` the other way round. A model
that declares no roles gets changes of the training names only (weight
decay, LR, epochs, batch size). A move never leaves the range the model
declared (a ``strict=False`` declaration, like the built-in models' width and
depth, may be outgrown upwards); where it would, the policy says so
(``best-at-edge``) with the change to make in the task file.

Steps: training names are multiplied by the table's factor; a declared name
moves by one step of its declared range: x2 on a log scale, 1 for a whole
number, 40% of the range for a real number (dropout 0-0.5 moves by 0.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from tuner.findings import Finding
from tuner.hp import ParamSpec
from tuner.numbers import fmt
from tuner.params import TRAIN_NAMES

CAPACITY, REGULARIZATION = "capacity", "regularization"
LOG_STEP = 2.0       # a declared log-scale name moves by this factor
LINEAR_STEP = 0.4    # a declared real-valued name moves by this share of its declared range
WD_MIN_START = 1e-4  # more weight decay from none starts here
WD_FLOOR, WD_CEILING = 1e-7, 1e-1  # where a weight-decay range may go
EPOCH_FACTOR = 2
MIN_EPOCHS = 10      # "train longer" never suggests fewer epochs than this


@dataclass(frozen=True)
class Move:
    """Move ``name`` up or down; ``factor`` for a training name (None: one declared step)."""

    name: str
    up: bool
    why: str
    factor: float | None = None


def moves(code: str, declared: Mapping[str, ParamSpec]) -> list[Move]:
    """What ``code`` changes, given the model's declared hyperparameters."""
    capacity = [n for n, s in declared.items() if s.role == CAPACITY]
    regular = [n for n, s in declared.items() if s.role == REGULARIZATION]
    if code == "overfitting":
        return ([Move("weight_decay", True, "more weight decay", 10.0)]
                + [Move(n, True, "more regularisation") for n in regular]
                + [Move(n, False, "a smaller model") for n in capacity])
    if code == "underfitting":
        return ([Move(n, True, "a bigger model") for n in capacity]
                + [Move(n, False, "less regularisation") for n in regular]
                + [Move("weight_decay", False, "less regularisation", 0.1),
                   Move("lr", True, "a higher learning rate", 3.0),
                   Move("epochs", True, "longer training", EPOCH_FACTOR)])
    if code == "still-improving":
        return [Move("epochs", True, "train longer", EPOCH_FACTOR)]
    if code == "diverged":
        return [Move("lr", False, "lower the learning rate", 0.1)]
    if code == "unstable":
        return [Move("lr", False, "lower the learning rate", 1 / 3),
                Move("batch_size", True, "a larger batch averages out noisy steps", 2.0)]
    if code == "lr-too-low":  # learning, far too slowly: one decade up, the probe's step
        return [Move("lr", True, "raise the learning rate", 10.0)]
    # not-learning (a run stuck at chance with nothing moving) points at the sanity
    # checks, not at a hyperparameter; good-fit needs nothing.
    return []


# --- one configuration -------------------------------------------------------------

def rising(move: Move, spec: ParamSpec) -> bool:
    """Whether ``move`` raises the value of ``spec`` (more of a role is a smaller
    value for a ``descending`` name, such as a crop's area fraction)."""
    return move.up != spec.descending


def step_value(move: Move, value: Any, spec: ParamSpec | None) -> Any:
    """``value`` moved one step (within ``spec``'s declared range when given);
    None when the value is unknown or cannot move."""
    if spec is not None and spec.kind == "choice" and move.factor is None:
        options = sorted(spec.options or ())
        if value not in options:
            return None
        i = options.index(value) + (1 if rising(move, spec) else -1)
        return options[i] if 0 <= i < len(options) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if move.factor is not None:
        if move.name == "weight_decay" and move.up and value <= 0:
            return WD_MIN_START
        if move.name == "epochs":
            return max(MIN_EPOCHS, int(value) * int(move.factor)) if move.up else int(value)
        new = value * move.factor
        new = max(1, round(new)) if isinstance(value, int) else _round(new)
    elif spec is None or spec.kind == "choice":
        return None
    else:
        new = _declared_step(spec, value, rising(move, spec))
    return new if new != value else None


def _declared_step(spec: ParamSpec, value: float, up: bool) -> float:
    """``value`` one step up (or down) ``spec``'s declared range."""
    if spec.log:
        new = value * LOG_STEP if up else value / LOG_STEP
    elif spec.kind == "int":
        new = value + (1 if up else -1)
    else:
        new = value + (1 if up else -1) * LINEAR_STEP * (spec.high - spec.low)
    # A strict declaration is a bound; a non-strict one (strict=False: only where a search
    # looks, like the built-in models' width) may be outgrown, never undercut.
    new = max(new, spec.low) if not spec.strict else min(max(new, spec.low), spec.high)
    return int(round(new)) if spec.kind == "int" else _round(new)


def _round(x: float) -> float:
    """Three significant digits, so suggestions read like values a person would pick."""
    return float(f"{x:.3g}")


# --- a search range -----------------------------------------------------------------

def step_range(move: Move, spec: ParamSpec, declared: ParamSpec | None) -> ParamSpec:
    """``spec`` (a search range or choices) moved one step of ``move``, kept inside
    the range the model declares (``declared``) or, for weight decay, a sane span.
    Choices move by dropping the option furthest from where the move goes."""
    if spec.kind == "choice":
        if declared is None or not spec.options:
            return spec
        options = sorted(spec.options)
        if len(options) == 1:  # one option left: the next declared one, if there is one
            nxt = step_value(move, options[0], declared)
            return spec if nxt is None else ParamSpec(spec.name, "choice", options=(nxt,))
        kept = options[1:] if rising(move, declared) else options[:-1]
        return ParamSpec(spec.name, "choice", options=tuple(kept))
    if move.factor is not None:
        factor = move.factor if move.up or move.factor < 1 else 1 / move.factor
        low, high = spec.low * factor, spec.high * factor
        if move.name == "weight_decay":
            low, high = max(low, WD_FLOOR), min(high, WD_CEILING)
        low, high = min(low, high), max(low, high)
    else:
        assert declared is not None
        up = rising(move, declared)
        low, high = _declared_step(declared, spec.low, up), _declared_step(declared, spec.high, up)
        if spec.kind == "int":
            low, high = int(low), int(high)
    return ParamSpec(spec.name, spec.kind, low, high, spec.log, role=spec.role)


def edge_finding(name: str, declared: ParamSpec, move: Move) -> Finding:
    """``best-at-edge``: the diagnosis asks for more (or less) of ``name`` than its
    declared range allows: the model's declaration to widen in the task file, or,
    for a training name (augmentation), the ``--hp`` that goes beyond tune's range."""
    up = rising(move, declared)
    side = "upper" if up else "lower"
    if declared.kind == "choice":
        bound = max(declared.options) if up else min(declared.options)
        span = ", ".join(fmt(o, 3) for o in declared.options)
    else:
        bound = declared.high if up else declared.low
        span = f"[{fmt(declared.low, 3)}, {fmt(declared.high, 3)}]"
    said = (f"the diagnosis asks for {move.why} ({name} {'up' if up else 'down'}), but {name} "
            f"already sits at the {side} end ({fmt(bound, 3)}) of")
    if name in TRAIN_NAMES:
        return Finding("best-at-edge", "warn", f"{said} the range tune searches, {span}",
                       f"to go further, set it yourself, e.g. --hp {name}=..., and watch the "
                       "validation accuracy")
    low, high = (declared.low, _beyond(declared, True)) if up else (_beyond(declared, False),
                                                                      declared.high)
    wider = f'hp.{declared.kind}("{name}", {fmt(low, 3)}, {fmt(high, 3)}, ...)'
    return Finding("best-at-edge", "warn", f"{said} the range build_model declares, {span}",
                   f"widen the declaration in the task file, e.g. {wider}")


def _beyond(spec: ParamSpec, up: bool) -> float:
    """One step past the declared bound, for the suggested declaration."""
    bound = spec.high if up else spec.low
    if spec.log:
        return bound * LOG_STEP if up else bound / LOG_STEP
    step = 1 if spec.kind == "int" else LINEAR_STEP * (spec.high - spec.low)
    new = bound + step if up else bound - step
    if not up and spec.low >= 0:
        new = max(new, 0)
    return int(new) if spec.kind == "int" else _round(new)


def at_bound(value: float, spec: ParamSpec, move: Move) -> bool:
    """Whether ``value`` already sits at the bound of ``spec`` that ``move`` goes
    towards (a non-strict declaration has no upper bound)."""
    up = rising(move, spec)
    if up and not spec.strict:
        return False
    if spec.kind == "choice":
        bound = max(spec.options) if up else min(spec.options)
    else:
        bound = spec.high if up else spec.low
    return math.isclose(value, bound, rel_tol=1e-9, abs_tol=1e-12)
