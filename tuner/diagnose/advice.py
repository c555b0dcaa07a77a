"""What to change for each diagnosis, in tune's own hyperparameter names.

Each code maps to a few concrete ``--hp`` changes computed from the run's
hyperparameters (``tune train``'s history.json and every search trial record
them all). For curves from elsewhere the current values are unknown: the
advice then says the change in relative terms ("lower lr 10x") and suggests
only values that do not depend on the current one. The changes come back both
as text and as a dict (``hp`` in the JSON), so that a script can act on them
and a person can paste the flags into ``tune train``. ``tune run`` changes a
search space rather than one configuration: its rules are in
:mod:`tuner.walk.adjust`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from tuner.search.best import format_best

Hyper = Mapping[str, Any]
Evidence = Mapping[str, Any]
Advice = tuple[list[str], dict[str, Any]]  # sentences, --hp changes

EARLY_STOP_SHARE = 0.75  # suggest stopping at the best epoch only when it came this early
MAX_DROPOUT = 0.5
MIN_EPOCHS = 10  # "train longer" never suggests fewer epochs than this


def _num(x: float) -> float:
    """Three significant digits, so suggestions read like values a person would pick."""
    return float(f"{x:.3g}")


def _float(hyper: Hyper, name: str) -> float | None:
    value = hyper.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _scale(hyper: Hyper, changes: dict[str, Any], name: str, factor: float,
           as_int: bool = False) -> str:
    """Multiply a known value by ``factor`` (recorded in ``changes``) and say so, as
    ``lr 0.02 -> 0.00667``; when the value is unknown say it relatively: ``lr ÷3``."""
    value = _float(hyper, name)
    if value is None or value == 0:
        return f"{name} ×{factor:g}" if factor >= 1 else f"{name} ÷{1 / factor:g}"
    new = max(1, round(value * factor)) if as_int else _num(value * factor)
    changes[name] = new
    return f"{name} {value:g} -> {new:g}"


def longer(epochs: int) -> int:
    """Epochs to suggest when a run needs to be longer: double, and at least MIN_EPOCHS."""
    return max(MIN_EPOCHS, epochs * 2)


def _diverged(hyper: Hyper, ev: Evidence, epochs: int) -> Advice:
    changes: dict[str, Any] = {}
    lr = f"lower the learning rate ({_scale(hyper, changes, 'lr', 0.1)})"
    if not _float(hyper, "warmup_epochs"):
        changes["warmup_epochs"] = 1.0
    if not _float(hyper, "grad_clip"):
        changes["grad_clip"] = 1.0
    return [lr, "add warmup and gradient clipping against early spikes",
            "`tune lr-range` shows where the loss starts to blow up"], changes


def _unstable(hyper: Hyper, ev: Evidence, epochs: int) -> Advice:
    changes: dict[str, Any] = {}
    lr = _scale(hyper, changes, "lr", 1 / 3)
    batch = _scale(hyper, changes, "batch_size", 2, as_int=True)
    text = [f"lower the learning rate ({lr})", f"a larger batch ({batch}) averages out noisy steps"]
    if hyper.get("schedule") in (None, "constant"):
        changes["schedule"] = "cosine"
        text.append("a decaying schedule calms the end of training")
    return text, changes


def _declared(hyper: Hyper, name: str) -> bool:
    """Whether to name ``name`` in advice: the run has it, or nothing about the run is known.

    A task file's model may not declare ``width``, ``depth`` or ``dropout``; its
    advice then says "a smaller model" without a flag it could not take.
    """
    return not hyper or name in hyper


def _overfitting(hyper: Hyper, ev: Evidence, epochs: int) -> Advice:
    changes: dict[str, Any] = {}
    wd = _float(hyper, "weight_decay")
    if wd is None:
        reg = "more weight decay"
    else:
        changes["weight_decay"] = _num(max(wd * 10, 1e-4))
        reg = f"more weight decay (weight_decay {wd:g} -> {changes['weight_decay']:g})"
    dropout = _float(hyper, "dropout")
    if dropout is None and _declared(hyper, "dropout"):
        reg += ", dropout"
    elif dropout is not None and dropout < MAX_DROPOUT:
        changes["dropout"] = _num(min(MAX_DROPOUT, dropout + 0.2))
        reg += f", dropout ({dropout:g} -> {changes['dropout']:g})"
    smaller = "or a smaller model"
    if _declared(hyper, "width"):
        smaller += f" ({_scale(hyper, changes, 'width', 0.5, as_int=True)})"
    text = [reg, smaller, "more data or augmentation helps most"]
    best = int(ev.get("best_epoch") or 0)
    if 0 < best <= EARLY_STOP_SHARE * epochs:
        changes["epochs"] = best
        text.append(f"stop at the best epoch ({best} of {epochs})")
    return text, changes


def _underfitting(hyper: Hyper, ev: Evidence, epochs: int) -> Advice:
    changes: dict[str, Any] = {}
    bigger = []
    if _declared(hyper, "width"):
        bigger.append(f"wider ({_scale(hyper, changes, 'width', 2, as_int=True)})")
    depth = _float(hyper, "depth")
    if depth is not None:
        changes["depth"] = int(depth) + 1
        bigger.append(f"deeper (depth {depth:g} -> {int(depth) + 1})")
    elif _declared(hyper, "depth"):
        bigger.append("deeper")
    text = [f"a bigger model{': ' + ' or '.join(bigger) if bigger else ''}"]
    wd, dropout = _float(hyper, "weight_decay"), _float(hyper, "dropout")
    less = []
    if wd:
        changes["weight_decay"] = _num(wd / 10)
        less.append(f"weight_decay {wd:g} -> {changes['weight_decay']:g}")
    if dropout:
        changes["dropout"] = _num(dropout / 2)
        less.append(f"dropout {dropout:g} -> {changes['dropout']:g}")
    if less or not hyper:
        text.append("less regularisation" + (f" ({', '.join(less)})" if less else ""))
    text.append(f"a higher learning rate ({_scale(hyper, changes, 'lr', 3)})")
    changes["epochs"] = longer(epochs)
    text.append(f"longer training ({epochs} -> {changes['epochs']} epochs)")
    return text, changes


def _still_improving(hyper: Hyper, ev: Evidence, epochs: int) -> Advice:
    changes: dict[str, Any] = {"epochs": longer(epochs)}
    text = [f"train longer ({epochs} -> {changes['epochs']} epochs)"]
    schedule = hyper.get("schedule")
    if schedule in (None, "constant"):
        changes["schedule"] = "cosine"
        text.append("a cosine schedule lets the run settle within its budget")
    else:
        text.append(f"the {schedule} schedule stretches with the epochs")
    text.append("if progress is slow, raise lr")
    return text, changes


def _good_fit(hyper: Hyper, ev: Evidence, epochs: int) -> Advice:
    return ["nothing to fix: these settings are a good final configuration"], {}


ADVICE: dict[str, Callable[[Hyper, Evidence, int], Advice]] = {
    "diverged": _diverged,
    "unstable": _unstable,
    "overfitting": _overfitting,
    "underfitting": _underfitting,
    "still-improving": _still_improving,
    "good-fit": _good_fit,
}


def advise(code: str, hyper: Hyper, evidence: Evidence, epochs: int) -> tuple[str, dict[str, Any]]:
    """Advice text (ending with the ``--hp`` flags) and the changes as a dict.

    ``epochs`` is the run's length: its ``epochs`` hyperparameter when known,
    else the number of epochs in the curve.
    """
    sentences, changes = ADVICE[code](hyper, evidence, epochs)
    text = "; ".join(sentences)
    text = text[:1].upper() + text[1:]
    flags = format_best(changes, "args")
    return (f"{text}: {flags}" if flags else text), changes
