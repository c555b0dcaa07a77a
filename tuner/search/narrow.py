"""From a coarse search to a fine one: narrow the space around the best trials,
and say when the ranges themselves look wrong.

Narrowing (:func:`narrow_space`): each numeric range shrinks to the span of
the top-k trials' values (in log space for log ranges) plus a margin, never
leaving the coarse range; each choice keeps only the values seen among the
top-k. The best trial is among the top-k, so the fine space always contains it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tuner.findings import Finding
from tuner.hp import ParamSpec
from tuner.numbers import fmt
from tuner.search.space import SearchSpace, transform

MARGIN = 0.25        # of the top-k span, added on each side
MIN_PAD = 0.05       # of the coarse span, so a range never collapses to a point
SPARSE_PAD = 0.25    # of the coarse span, divided by the number of values the range rests on:
#                      a range narrowed around one trial keeps a quarter of the span on each
#                      side (one trial says little about where the optimum is), five trials 5%
EDGE = 0.05          # "at the edge": within 5% of the span from a bound
BELOW_ONE = {"momentum": 0.999, "beta1": 0.999, "beta2": 0.9999}  # must stay < 1


def default_top_k(completed: int) -> int:
    """How many of the best trials define the fine space: the top fifth, at least 3."""
    return max(1, min(completed, max(3, round(completed / 5))))


def narrow_space(space: SearchSpace, top: Sequence[Mapping[str, Any]], *,
                 margin: float = MARGIN, min_pad: float = MIN_PAD) -> SearchSpace:
    """The fine space around the ``top`` trials' parameters (best first).

    A name that none of the top trials sampled (an SGD-only ``momentum`` when
    all of them used Adam) leaves the space.
    """
    params: dict[str, ParamSpec] = {}
    for name, spec in space.params.items():
        values = [t[name] for t in top if name in t]
        if not values:
            continue
        if spec.kind == "choice":
            kept = tuple(o for o in spec.options if o in values)
            params[name] = ParamSpec(name, "choice", options=kept)
        else:
            params[name] = _narrow_range(spec, values, margin, min_pad)
    when: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for name, (parent, values) in space.when.items():
        if name not in params or parent not in params:
            continue
        seen = tuple(v for v in values if v in params[parent].options)
        if seen:
            when[name] = (parent, seen)
        else:  # its parent value is gone from the space: nothing would sample it
            del params[name]
    return SearchSpace(params, when)


def _narrow_range(spec: ParamSpec, values: list[float], margin: float, min_pad: float) -> ParamSpec:
    to, back = transform(spec.log)
    lo, hi = to(spec.low), to(spec.high)
    t_values = [to(v) for v in values]
    pad = max(margin * (max(t_values) - min(t_values)), min_pad * (hi - lo),
              SPARSE_PAD / len(t_values) * (hi - lo))
    low = back(max(lo, min(t_values) - pad))
    high = back(min(hi, max(t_values) + pad))
    # Guard the ends against float round-off so the top values stay inside.
    low, high = min(low, min(values)), max(high, max(values))
    low, high = max(low, spec.low), min(high, spec.high)
    if spec.kind == "int":
        low, high = int(math.floor(low)), int(math.ceil(high))
    return ParamSpec(spec.name, spec.kind, low, high, spec.log, role=spec.role)


def is_narrower(fine: SearchSpace, coarse: SearchSpace) -> bool:
    """Every fine range inside its coarse one, and at least one strictly smaller."""
    smaller = False
    for name, spec in fine.params.items():
        if name not in coarse:
            return False
        old = coarse[name]
        if spec.kind == "choice":
            if not set(spec.options) <= set(old.options or ()):
                return False
            smaller |= len(spec.options) < len(old.options)
        else:
            if spec.low < old.low or spec.high > old.high:
                return False
            smaller |= fine.width(name) < coarse.width(name) - 1e-12
    return smaller or len(fine) < len(coarse)


# --- what the search should tell the user ----------------------------------------------

def edge_findings(space: SearchSpace, best: Mapping[str, Any],
                  limits: Mapping[str, ParamSpec] | None = None) -> list[Finding]:
    """``best-at-edge`` for each numeric best value within 5% of a bound of its range.

    Natural limits are not reported: a bound at 0 (no dropout) or a whole
    number's lower bound of 1 (one layer). ``limits`` are the ranges the model
    declares: past them the advice is to change the declaration.
    """
    findings = []
    for name, spec in space.params.items():
        if spec.kind == "choice" or name not in best or spec.low == spec.high:
            continue
        to, _ = transform(spec.log)
        lo, hi, v = to(spec.low), to(spec.high), to(best[name])
        natural_low = spec.low == 0 or (spec.kind == "int" and spec.low <= 1)
        if v - lo <= EDGE * (hi - lo) and not natural_low:
            side = "lower"
        elif hi - v <= EDGE * (hi - lo) and spec.high != 0:
            side = "upper"
        else:
            continue
        advice = _widen_advice(spec, side, (limits or {}).get(name))
        findings.append(Finding(
            "best-at-edge", "warn",
            f"the best {name} ({fmt(best[name], 3)}) sits at the {side} edge of its range "
            f"[{fmt(spec.low, 3)}, {fmt(spec.high, 3)}]; the optimum may lie beyond it", advice))
    return findings


def _widen_advice(spec: ParamSpec, side: str, declared: ParamSpec | None) -> str:
    """Widen by half the span (a decade for log ranges), within what the model declares.

    A whole number's new end is a whole number at least one step out (``width`` 32
    at the lower edge of a log range: 3, not 3.2), and a log range's stays above 0.
    """
    low = side == "lower"
    if spec.log:
        bound = spec.low / 10 if low else spec.high * 10
    else:
        half = (spec.high - spec.low) / 2
        bound = max(spec.low - half, 0) if low and spec.low >= 0 else \
            (spec.low - half if low else spec.high + half)
    if spec.kind == "int":
        bound = (min(math.floor(bound), int(spec.low) - 1) if low
                 else max(math.ceil(bound), int(spec.high) + 1))
        if spec.log or spec.low >= 0:
            bound = max(bound, 1 if spec.log else 0)
    bound = min(bound, BELOW_ONE.get(spec.name, bound))
    if declared is not None and declared.kind != "choice":
        if (low and spec.low <= declared.low) or (not low and spec.high >= declared.high):
            return (f"build_model declares {spec.name} in [{fmt(declared.low, 3)}, "
                    f"{fmt(declared.high, 3)}]: allow a wider range there to search beyond it")
        bound = max(bound, declared.low) if low else min(bound, declared.high)
    ends = (bound, spec.high) if low else (spec.low, bound)
    log = ":log" if spec.log else ""
    return f"widen the range, e.g. --space {spec.name}={fmt(ends[0], 3)}:{fmt(ends[1], 3)}{log}"


def failure_findings(trials: int, failed: int, reasons: Sequence[str] = ()) -> list[Finding]:
    """``many-failed`` when more than half of the trials diverged or failed."""
    if trials == 0 or failed * 2 <= trials:
        return []
    example = f" (e.g. {reasons[0]})" if reasons else ""
    return [Finding("many-failed", "warn",
                    f"{failed} of {trials} trials diverged or failed{example}",
                    "lower the LR range (--space lr=LOW:HIGH:log, or --from-lr-range after "
                    "tune lr-range), or fix the model (tune check-init, tune check-loss)")]
