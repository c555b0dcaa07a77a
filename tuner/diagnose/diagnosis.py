"""``diagnose(history)``: read learning curves and prescribe.

The rules (:mod:`tuner.diagnose.rules`) decide which codes hold; this module
puts each into words with its numbers and attaches the advice
(:mod:`tuner.diagnose.advice`). Several codes can hold at once; ``good-fit``
holds only when none of the others does.
"""

from __future__ import annotations

from typing import Any, Mapping

from tuner.diagnose import rules
from tuner.diagnose.advice import advise
from tuner.diagnose.result import Diagnosis, DiagnoseResult
from tuner.diagnose.stats import end_value
from tuner.engine import History
from tuner.errors import TuneError
from tuner.hp import ParamSpec
from tuner.numbers import fmt


def diagnose(history: History, *, hyper: Mapping[str, Any] | None = None,
             declared: Mapping[str, ParamSpec] | None = None, source: str = "") -> DiagnoseResult:
    """Diagnose one run's per-epoch curves.

    Args:
        history: The curves (``train_acc``/``val_acc`` may be NaN: loss-only rules apply).
        hyper: The run's hyperparameters, when known, to make the advice concrete.
        declared: The model's hyperparameter declarations, when known: their
            roles decide which model names the advice moves.
        source: What the curves are, for the report.

    Raises:
        TuneError: the history has no epochs.
    """
    if not history.epochs:
        raise TuneError(f"{source or 'the curves'}: no epochs to diagnose",
                        "give per-epoch rows: epoch, train_loss, val_loss")
    hyper = dict(hyper or {})
    c = rules.Curves.of(history)
    epochs = int(hyper.get("epochs") or len(history.epochs))
    found: dict[str, dict[str, Any]] = {}

    div = rules.diverged(c)
    if div is not None:
        found["diverged"] = div
    if c.n:
        unst = rules.unstable(c)
        if unst is not None:
            found["unstable"] = unst
    if div is None:
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
    return DiagnoseResult(diagnoses, summary(history, c), source, hyper)


def good_fit_evidence(c: rules.Curves) -> dict[str, Any]:
    ev: dict[str, Any] = {"epochs": c.n, "val_loss": end_value(c.val_loss),
                          "train_loss": end_value(c.train_loss)}
    if c.has_acc:
        ev.update(val_acc=end_value(c.val_acc),
                  acc_gap=end_value(c.train_acc) - end_value(c.val_acc))
    return ev


def summary(history: History, c: rules.Curves) -> dict[str, Any]:
    """The run's headline numbers, for the report and the plot."""
    out: dict[str, Any] = {"epochs": len(history.epochs), "finite_epochs": c.n}
    if c.n:
        out.update(best_epoch=c.epoch[rules.best_epoch_index(c)], best_val_loss=min(c.val_loss),
                   final_train_loss=c.train_loss[-1], final_val_loss=c.val_loss[-1])
        if c.has_acc:
            out.update(best_val_acc=max(c.val_acc), final_val_acc=c.val_acc[-1],
                       final_train_acc=c.train_acc[-1])
    return out


def _f(x: float) -> str:
    return fmt(x, 3)


def _diverged_msg(ev: dict[str, Any]) -> str:
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
        return (f"training accuracy is only {_f(ev['train_acc'])} (validation "
                f"{_f(ev['val_acc'])}) and has stopped improving")
    return (f"training loss is still {_f(ev['train_loss'])}, "
            f"{ev['train_loss'] / ev['start_train_loss']:.0%} of its epoch-1 level, "
            f"and has stopped improving")


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


MESSAGES = {"diverged": _diverged_msg, "unstable": _unstable_msg, "overfitting": _overfitting_msg,
            "underfitting": _underfitting_msg, "still-improving": _improving_msg,
            "good-fit": _good_fit_msg}
