"""What to change for each diagnosis, for one configuration, in tune's own names.

The changes come from the one policy (:mod:`tuner.diagnose.policy`), applied
to the run's hyperparameters: ``tune train``'s history.json and every search
trial record them all, and the model's declarations (with their roles) where
tune made the run. For curves from elsewhere the current values are unknown:
the advice then says the change in relative terms ("lower lr 10x") and
suggests only values that do not depend on the current one. The changes come
back both as text and as a dict (``hp`` in the JSON), so that a script can
act on them and a person can paste the flags into ``tune train``.
"""

from __future__ import annotations

from typing import Any, Mapping

from tuner.diagnose.policy import Move, at_bound, edge_finding, moves, step_value
from tuner.hp import ParamSpec
from tuner.search.best import format_best

Hyper = Mapping[str, Any]
Evidence = Mapping[str, Any]
Declared = Mapping[str, ParamSpec]

EARLY_STOP_SHARE = 0.75  # suggest stopping at the best epoch only when it came this early


def _moved(move: Move, hyper: Hyper, declared: Declared, changes: dict[str, Any],
           notes: list[str]) -> str | None:
    """``lr 0.02 -> 0.00667`` (recorded in ``changes``); ``lr ÷3`` when the value is
    unknown; a note when a declared name is already at its bound; None for a
    move that means nothing here (less weight decay than none)."""
    value = hyper.get(move.name)
    if value == 0 and not move.up:
        return None
    spec = declared.get(move.name)
    new = step_value(move, value, spec)
    if new is not None:
        changes[move.name] = new
        return f"{move.name} {_show(value)} -> {_show(new)}"
    if isinstance(value, bool):  # an on/off switch already where the move goes: nothing to say
        return None
    if spec is not None and isinstance(value, (int, float)) and at_bound(value, spec, move):
        notes.append(edge_finding(move.name, spec, move).advice)
        return f"{move.name} is already at {value:g}, the end of its range"
    if move.factor is not None:
        f = move.factor
        return f"{move.name} ×{f:g}" if f >= 1 else f"{move.name} ÷{1 / f:g}"
    return f"{move.name} {'up' if move.up else 'down'}"


def _show(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else f"{v:g}"


def _grouped(code: str, hyper: Hyper, declared: Declared, changes: dict[str, Any],
             notes: list[str], skip: tuple[str, ...] = ()) -> list[str]:
    """One sentence per reason: ``more regularisation (dropout 0 -> 0.2)``."""
    by_why: dict[str, list[str]] = {}
    for move in moves(code, declared):
        said = None if move.name in skip else _moved(move, hyper, declared, changes, notes)
        if said is not None:
            by_why.setdefault(move.why, []).append(said)
    return [f"{why} ({', '.join(parts)})" for why, parts in by_why.items()]


def _diverged(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
              changes: dict[str, Any], notes: list[str]) -> list[str]:
    text = _grouped("diverged", hyper, declared, changes, notes)
    if not hyper.get("warmup_epochs"):
        changes["warmup_epochs"] = 1.0
    if not hyper.get("grad_clip"):
        changes["grad_clip"] = 1.0
    return text + ["add warmup and gradient clipping against early spikes",
                   "`tune lr-range` shows where the loss starts to blow up"]


def _unstable(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
              changes: dict[str, Any], notes: list[str]) -> list[str]:
    text = _grouped("unstable", hyper, declared, changes, notes)
    if hyper.get("schedule") in (None, "constant"):
        changes["schedule"] = "cosine"
        text.append("a decaying schedule calms the end of training")
    return text


def _overfitting(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
                 changes: dict[str, Any], notes: list[str]) -> list[str]:
    text = _grouped("overfitting", hyper, declared, changes, notes)
    if not any(s.role == "capacity" for s in declared.values()):
        text.append("or a smaller model")
    text.append("more data or augmentation helps most")
    best = int(ev.get("best_epoch") or 0)
    if 0 < best <= EARLY_STOP_SHARE * epochs:
        changes["epochs"] = best
        text.append(f"stop at the best epoch ({best} of {epochs})")
    return text


def _underfitting(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
                  changes: dict[str, Any], notes: list[str]) -> list[str]:
    text = _grouped("underfitting", hyper, declared, changes, notes, skip=("epochs",))
    if not any(s.role == "capacity" for s in declared.values()):
        text.insert(0, "a bigger model")
    return text + _longer(epochs, changes, "longer training")


def _still_improving(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
                     changes: dict[str, Any], notes: list[str]) -> list[str]:
    text = _longer(epochs, changes, "train longer")
    schedule = hyper.get("schedule")
    if schedule in (None, "constant"):
        changes["schedule"] = "cosine"
        text.append("a cosine schedule lets the run settle within its budget")
    else:
        text.append(f"the {schedule} schedule stretches with the epochs")
    return text + ["if progress is slow, raise lr"]


def _longer(epochs: int, changes: dict[str, Any], what: str) -> list[str]:
    """Epochs from the policy's epoch move applied to the run's length."""
    move = next(m for m in moves("still-improving", {}) if m.name == "epochs")
    changes["epochs"] = step_value(move, epochs, None) or epochs
    return [f"{what} ({epochs} -> {changes['epochs']} epochs)"]


SGD_MOMENTUM = 0.9          # what plain SGD is given when it has none
STRONG_WEIGHT_DECAY = 0.1   # weight decay at or above this is named as a suspect
SANITY = ("run the sanity checks: `tune check-init` (dead or saturated units), `tune check-loss` "
          "(the loss at initialisation, a graph that does not reach the weights) and "
          "`tune overfit-small` (can the model fit a few hundred samples at all?)")


def _lr_too_low(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
                changes: dict[str, Any], notes: list[str]) -> list[str]:
    """Learning, far too slowly: never a bigger model or more epochs."""
    text = _grouped("lr-too-low", hyper, declared, changes, notes)
    if hyper.get("optimizer") == "sgd" and hyper.get("momentum") == 0:
        changes["momentum"] = SGD_MOMENTUM
        text.append(f"give SGD momentum (momentum 0 -> {SGD_MOMENTUM:g}): without it, "
                    "each step moves about ten times less")
    return text + ["`tune lr-range` measures where the loss falls fastest"]


def _not_learning(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
                  changes: dict[str, Any], notes: list[str]) -> list[str]:
    """Stuck at chance with nothing moving: a bug until the checks say otherwise."""
    suspects = ["a learning rate far too low (`tune lr-range`)"]
    wd = hyper.get("weight_decay")
    if isinstance(wd, (int, float)) and wd >= STRONG_WEIGHT_DECAY:
        suspects.append(f"weight_decay {wd:g}, strong enough to pin the weights at zero")
    return [SANITY, "they find most bugs that keep a model at chance",
            "if they pass, suspect " + " or ".join(suspects)]


def _good_fit(hyper: Hyper, declared: Declared, ev: Evidence, epochs: int,
              changes: dict[str, Any], notes: list[str]) -> list[str]:
    return ["nothing to fix: these settings are a good final configuration"]


ADVICE = {
    "diverged": _diverged,
    "unstable": _unstable,
    "overfitting": _overfitting,
    "underfitting": _underfitting,
    "still-improving": _still_improving,
    "lr-too-low": _lr_too_low,
    "not-learning": _not_learning,
    "good-fit": _good_fit,
}


def advise(code: str, hyper: Hyper, evidence: Evidence, epochs: int,
           declared: Declared | None = None) -> tuple[str, dict[str, Any]]:
    """Advice text (ending with the ``--hp`` flags) and the changes as a dict.

    ``epochs`` is the run's length: its ``epochs`` hyperparameter when known,
    else the number of epochs in the curve. ``declared`` are the model's
    hyperparameter declarations (their roles decide which model names move).
    """
    changes: dict[str, Any] = {}
    notes: list[str] = []
    sentences = ADVICE[code](hyper, declared or {}, evidence, epochs, changes, notes)
    text = "; ".join(sentences + notes)
    text = text[:1].upper() + text[1:]
    flags = format_best(changes, "args")
    return (f"{text}: {flags}" if flags else text), changes
