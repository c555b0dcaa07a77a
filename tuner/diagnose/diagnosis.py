"""``diagnose(history)``: read learning curves and prescribe.

The rules (:mod:`tuner.diagnose.rules`) decide which codes hold; this module
puts each into words with its numbers and attaches the advice
(:mod:`tuner.diagnose.advice`, the one policy applied to the run). Several codes can hold at once; ``good-fit``
holds only when none of the others does.

The order of the rules: ``diverged`` first (a non-finite or exploding loss,
or a blow-up after which the run sat at chance), then ``unstable``. A run
that did not diverge but ended at chance level gets ``lr-too-low`` or
``not-learning`` and none of the shape codes: whatever the shape of a curve
that learned nothing, a bigger model, more regularisation or more epochs is
not the cure. Otherwise the shapes decide: ``overfitting``, ``underfitting``,
``still-improving`` (underfitting and still-improving together when the run
creeps up too slowly to get where it should), else ``good-fit``.
"""

from __future__ import annotations

from typing import Any, Mapping

from tuner.chance import Chance
from tuner.diagnose import rules
from tuner.diagnose.advice import advise
from tuner.diagnose.result import CODES, Diagnosis, DiagnoseResult
from tuner.diagnose.stats import end_value
from tuner.engine import History
from tuner.errors import TuneError
from tuner.hp import ParamSpec
from tuner.numbers import fmt

CHANCE_UNKNOWN = ("chance level unknown: the curves do not say how many classes the task has, "
                  "so a run that learned nothing cannot be told apart; --classes N (or the label "
                  "shares) supplies it")


def diagnose(history: History, *, hyper: Mapping[str, Any] | None = None,
             declared: Mapping[str, ParamSpec] | None = None, source: str = "",
             chance: Chance | None = None, reference: float | None = None) -> DiagnoseResult:
    """Diagnose one run's per-epoch curves.

    Args:
        history: The curves (``train_acc``/``val_acc`` may be NaN: loss-only rules apply).
        hyper: The run's hyperparameters, when known, to make the advice concrete.
        declared: The model's hyperparameter declarations, when known: their
            roles decide which model names the advice moves.
        source: What the curves are, for the report.
        chance: The task's chance level; defaults to ``history.chance`` (tune records
            it). Unknown, the rules that need it do not apply.
        reference: The best validation accuracy other runs of the same task reached
            (a study's best trial, a walk's search), when known: ``underfitting`` then
            means ending well below it rather than below a fixed 90%.

    Raises:
        TuneError: the history has no epochs.
    """
    if not history.epochs:
        raise TuneError(f"{source or 'the curves'}: no epochs to diagnose",
                        "give per-epoch rows: epoch, train_loss, val_loss")
    hyper = dict(hyper or {})
    c = rules.Curves.of(history, chance=chance, reference=reference)
    epochs = int(hyper.get("epochs") or len(history.epochs))
    found: dict[str, dict[str, Any]] = {}

    div = rules.diverged(c)
    if div is None and c.n:
        div = rules.diverged_to_chance(c)
    if div is not None:
        found["diverged"] = div
    stuck_code = None if div is not None else rules.stuck_at_chance(c)
    if stuck_code is not None:
        found[stuck_code[0]] = stuck_code[1]
    if c.n:
        unst = rules.unstable(c)
        if unst is not None:
            found["unstable"] = unst
    if div is None and stuck_code is None:
        improving = rules.still_improving(c)
        overfit = rules.overfitting(c)
        under = rules.underfitting(c, improving is not None, overfit is not None)
        for code, ev in (("overfitting", overfit), ("underfitting", under),
                         ("still-improving", improving)):
            if ev is not None:
                found[code] = ev
        if not found:
            found["good-fit"] = good_fit_evidence(c)

    diagnoses = []
    for code, ev in found.items():
        advice, changes = advise(code, hyper, ev, epochs, declared)
        diagnoses.append(Diagnosis(code, MESSAGES[code](ev), ev, advice, changes))
    diagnoses.sort(key=lambda d: CODES.index(d.code))
    notes = [] if c.chance is not None else [CHANCE_UNKNOWN]
    return DiagnoseResult(diagnoses, summary(history, c), source, hyper, chance=c.chance,
                          reference=reference, notes=notes)


def good_fit_evidence(c: rules.Curves) -> dict[str, Any]:
    ev: dict[str, Any] = {"epochs": c.n, "val_loss": end_value(c.val_loss),
                          "train_loss": end_value(c.train_loss)}
    if c.has_acc:
        ev.update(val_acc=end_value(c.val_acc),
                  acc_gap=end_value(c.train_acc) - end_value(c.val_acc))
        if c.reference is not None:
            ev["reference"] = c.reference
    return ev


def summary(history: History, c: rules.Curves) -> dict[str, Any]:
    """The run's headline numbers, for the report and the plot: with the chance
    level and the reference when known."""
    out: dict[str, Any] = {"epochs": len(history.epochs), "finite_epochs": c.n}
    if c.n:
        out.update(best_epoch=c.epoch[rules.best_epoch_index(c)], best_val_loss=min(c.val_loss),
                   final_train_loss=c.train_loss[-1], final_val_loss=c.val_loss[-1])
        if c.has_acc:
            out.update(best_val_acc=max(c.val_acc), final_val_acc=c.val_acc[-1],
                       final_train_acc=c.train_acc[-1])
    if c.chance is not None:
        out.update(chance_val_acc=c.chance.val_acc)
        if c.chance.val_loss is not None:
            out["chance_val_loss"] = c.chance.val_loss
    if c.reference is not None:
        out["reference_val_acc"] = c.reference
    return out


def _f(x: float) -> str:
    return fmt(x, 3)


def _at_chance(ev: dict[str, Any]) -> str:
    """Where the run ended against chance level, e.g. ``validation accuracy 0.1 (chance 0.1)``."""
    if "val_acc" in ev:
        return (f"validation accuracy {_f(ev['val_acc'])} (chance {_f(ev['chance_val_acc'])}), "
                f"training accuracy {_f(ev['train_acc'])} (chance {_f(ev['chance_train_acc'])})")
    return (f"validation loss {_f(ev['end_val_loss'])} (chance {_f(ev['chance_val_loss'])}), "
            f"training loss {_f(ev['end_train_loss'])} (chance {_f(ev['chance_train_loss'])})")


def _diverged_msg(ev: dict[str, Any]) -> str:
    if "chance_ratio" in ev:
        return (f"the training loss exploded to {_f(ev['train_loss'])} in epoch {ev['epoch']}, "
                f"{_f(ev['chance_ratio'])}x chance level {_f(ev['chance_train_loss'])}, and the run "
                f"ended at chance: {_at_chance(ev)}")
    if "finite_epochs" in ev:
        return (f"the loss became non-finite in epoch {ev['epoch']} (train_loss "
                f"{_f(ev['train_loss'])}, val_loss {_f(ev['val_loss'])})")
    if "start_train_loss" in ev:
        return (f"the training loss blew up to {_f(ev['train_loss'])} in epoch {ev['epoch']}, "
                f"{_f(ev['ratio'])}x its epoch-1 level {_f(ev['start_train_loss'])}")
    return (f"the loss exploded in epoch {ev['epoch']}: its mean training loss "
            f"{_f(ev['train_loss'])} is {_f(ev['ratio'])}x the validation loss "
            f"{_f(ev['val_loss'])} at its end")


def _unstable_msg(ev: dict[str, Any]) -> str:
    epochs = ", ".join(str(e) for e in ev["rise_epochs"][:8])
    text = (f"the training loss jumped up {ev['loss_rises']} time(s) (epochs {epochs}), by up to "
            f"{ev['largest_rise']:.0%} in epoch {ev['largest_rise_epoch']}")
    if ev.get("val_acc_swings"):
        text += f"; validation accuracy swung by 2+ points {ev['val_acc_swings']} time(s)"
    return text


def _overfitting_msg(ev: dict[str, Any]) -> str:
    if "acc_gap" in ev:
        text = (f"train accuracy {_f(ev['train_acc'])} vs validation {_f(ev['val_acc'])} "
                f"(gap {ev['acc_gap'] * 100:.1f} points)")
    else:
        text = (f"validation loss {_f(ev['val_loss'])} vs training loss {_f(ev['train_loss'])} "
                f"(gap {_f(ev['loss_gap'])})")
    if ev["val_loss_rise"] > 0.05:
        text += (f"; validation loss climbed {ev['val_loss_rise']:.0%} from its best "
                 f"{_f(ev['val_loss_best'])} at epoch {ev['val_loss_best_epoch']}")
    return text


def _underfitting_msg(ev: dict[str, Any]) -> str:
    if "train_acc" in ev:
        text = f"training accuracy is only {_f(ev['train_acc'])} (validation {_f(ev['val_acc'])})"
        if "reference" in ev:
            text += f", well below the {_f(ev['reference'])} other runs of this task reached"
    else:
        text = (f"training loss is still {_f(ev['train_loss'])}, "
                f"{ev['train_loss'] / ev['start_train_loss']:.0%} of its epoch-1 level")
    if "epochs_to_target" not in ev:
        return text + (", and" if "reference" in ev else " and") + " has stopped improving"
    unit = "points" if "train_acc" in ev else ""
    pace = (f"{ev['pace_per_epoch'] * 100:.2g} points" if unit else _f(ev["pace_per_epoch"]))
    needed = ev["epochs_to_target"]
    more = "never" if needed == float("inf") else f"in ~{needed:.0f} more epochs"
    return (f"{text}; it still improves, but at {pace} per epoch it would reach "
            f"{_f(ev['target'])} {more}: twice the epochs alone will not get there")


def _improving_msg(ev: dict[str, Any]) -> str:
    if ev.get("epochs") == 1:
        return "one epoch only: a single epoch shows no trend, and is rarely enough to converge"
    parts = [f"validation loss fell {_f(ev['val_loss_gain'])} "
             f"({ev['val_loss_gain_share']:.0%} of the run's gain)"]
    if "val_acc_gain" in ev:
        parts.append(f"validation accuracy rose {ev['val_acc_gain'] * 100:.1f} points")
    return f"over the last {ev['window_epochs']} epochs " + " and ".join(parts)


def _good_fit_msg(ev: dict[str, Any]) -> str:
    if "val_acc" in ev:
        return (f"converged at validation accuracy {_f(ev['val_acc'])} with a "
                f"{ev['acc_gap'] * 100:.1f}-point train/validation gap")
    return f"converged at validation loss {_f(ev['val_loss'])} (training {_f(ev['train_loss'])})"


def _stuck_msg(ev: dict[str, Any]) -> str:
    share = ev["train_loss_fall_share"]
    if share > 0:
        trend = f"its training loss fell {share:.1%} over the last {ev['half_epochs']} epochs"
    else:
        trend = f"its training loss did not fall over the last {ev['half_epochs']} epochs"
    return f"after {ev['epochs']} epochs the run is at chance level ({_at_chance(ev)}); {trend}"


MESSAGES = {"diverged": _diverged_msg, "lr-too-low": _stuck_msg, "not-learning": _stuck_msg,
            "unstable": _unstable_msg, "overfitting": _overfitting_msg,
            "underfitting": _underfitting_msg, "still-improving": _improving_msg,
            "good-fit": _good_fit_msg}
