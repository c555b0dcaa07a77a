"""Turn a diagnosis into the next fine search: a shifted space and a length.

The Deep Learning Tuning Playbook's loop, made mechanical with the one
diagnosis policy (:mod:`tuner.diagnose.policy`) applied to ranges instead of
values: each range the policy moves shifts by one step (weight decay a
decade, a declared log-scale name x2, a whole number by 1, dropout by 0.2),
never beyond the range the model declares; ``still-improving`` and
``underfitting`` double the next trials and the final training. A name the
user fixed with ``--hp`` is not in the space and stays fixed. Where the
policy would move a name past its declared range, the adjustment says so
(``best-at-edge``) with the change to make in the task file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tuner.diagnose.policy import EPOCH_FACTOR, Move, at_bound, edge_finding, moves, rising, step_range
from tuner.findings import Finding
from tuner.hp import ParamSpec
from tuner.numbers import fmt
from tuner.search.space import SearchSpace, resolve_conditions


@dataclass
class Adjustment:
    """The next fine search's space and how much longer it trains (and why)."""

    space: SearchSpace
    epoch_factor: int = 1
    changes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space.to_dict(), "epoch_factor": self.epoch_factor,
                "changes": self.changes, "findings": [f.to_dict() for f in self.findings]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Adjustment":
        return Adjustment(SearchSpace.from_dict(d["space"]), int(d.get("epoch_factor", 1)),
                          list(d.get("changes", [])),
                          [Finding.from_dict(f) for f in d.get("findings", [])])


def adjust_space(space: SearchSpace, codes: list[str],
                 declared: Mapping[str, ParamSpec] | None = None, *,
                 fixed: Mapping[str, Any] = (), train_fixed: Mapping[str, Any] | None = None
                 ) -> Adjustment:
    """The space and trial length for the next fine search, given the diagnosis codes
    and the declarations (whose roles say which names move).

    A declared name that the narrowed space no longer searches (its best trials
    all left it off, say augmentation) comes back with its whole declared range
    when the diagnosis asks for more of what it does, unless ``--hp`` fixed it
    (``fixed``); ``train_fixed`` (the training values in force) settles the
    conditions of names that come back.
    """
    declared = declared or {}
    adj = Adjustment(space)
    moved: set[str] = set()
    for code in codes:
        for move in moves(code, declared):
            if move.name in moved:
                continue  # one move per name: the first diagnosis that asks for it
            moved.add(move.name)
            if move.name == "epochs":
                adj.epoch_factor = EPOCH_FACTOR
                adj.changes.append(f"{EPOCH_FACTOR}x the epochs")
                continue
            spec, decl = adj.space.params.get(move.name), declared.get(move.name)
            if spec is None and decl is not None and move.up and move.name not in fixed:
                back = decl if decl.kind != "choice" else ParamSpec(
                    decl.name, "choice", options=(max(decl.options) if rising(move, decl)
                                                  else min(decl.options),))
                adj.space = SearchSpace({**adj.space.params, move.name: back}, adj.space.when)
                adj.changes.append(f"{move.name} searched again: {_span(back)} ({move.why})")
                continue
            if spec is None or (move.factor is None and decl is None):
                continue
            moved_spec = step_range(move, spec, decl)
            if moved_spec == spec:
                if decl is not None and at_bound(_far_end(spec, move, decl), decl, move):
                    adj.findings.append(edge_finding(move.name, decl, move))
                continue
            adj.space = SearchSpace({**adj.space.params, move.name: moved_spec}, adj.space.when)
            adj.changes.append(f"{move.name} {_span(spec)} -> {_span(moved_spec)} ({move.why})")
    if train_fixed is not None:
        adj.space = resolve_conditions(adj.space, train_fixed)
    return adj


def _far_end(spec: ParamSpec, move: Move, declared: ParamSpec) -> float:
    """The end of a range (or choices) that ``move`` pushes against."""
    values = spec.options if spec.kind == "choice" else (spec.low, spec.high)
    return max(values) if rising(move, declared) else min(values)


def _span(spec: ParamSpec) -> str:
    if spec.kind == "choice":
        return "{" + ", ".join(fmt(o, 3) for o in spec.options or ()) + "}"
    return f"range {fmt(spec.low, 3)}-{fmt(spec.high, 3)}"
