"""Advice for a run that ended at chance level without diverging.

Two codes, told apart by whether the training loss is still falling
(:func:`tuner.diagnose.rules.stuck_at_chance`):

* ``lr-too-low``: it is learning, far too slowly: a larger learning rate
  (ten times, the step the range test's decades take), momentum for plain SGD,
  and ``tune lr-range`` to measure it.
* ``not-learning``: nothing moves: the sanity checks find most bugs that keep
  a model at chance (dead units, a detached graph, labels that do not match
  the inputs); if they pass, the learning rate may be far too low or the
  regularisation far too strong.

Neither ever advises a bigger model or more epochs: a run at chance is not
short of capacity or time. Kept apart from :mod:`tuner.diagnose.advice` so
the policy that maps codes to changes can take it over as it is.
"""

from __future__ import annotations

from typing import Any, Mapping

from tuner.search.best import format_best

CODES = ("lr-too-low", "not-learning")
LR_FACTOR = 10.0        # one decade up: the range test's and the probe's step
SGD_MOMENTUM = 0.9      # what plain SGD is given when it has none
STRONG_WEIGHT_DECAY = 0.1  # weight decay at or above this is named as a suspect

SANITY = ("run the sanity checks: `tune check-init` (dead or saturated units), `tune check-loss` "
          "(the loss at initialisation, a graph that does not reach the weights) and "
          "`tune overfit-small` (can the model fit a few hundred samples at all?)")


def _num(hyper: Mapping[str, Any], name: str) -> float | None:
    value = hyper.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def advise(code: str, hyper: Mapping[str, Any], evidence: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Advice text (ending with the ``--hp`` flags, if any) and the changes as a dict."""
    changes: dict[str, Any] = {}
    lr = _num(hyper, "lr")
    if code == "lr-too-low":
        if lr:
            changes["lr"] = float(f"{lr * LR_FACTOR:.3g}")
            text = [f"raise the learning rate (lr {lr:g} -> {changes['lr']:g})"]
        else:
            text = [f"raise the learning rate (lr ×{LR_FACTOR:g})"]
        if hyper.get("optimizer") == "sgd" and _num(hyper, "momentum") == 0:
            changes["momentum"] = SGD_MOMENTUM
            text.append(f"give SGD momentum (momentum 0 -> {SGD_MOMENTUM:g}): without it, "
                        f"each step moves about ten times less")
        text.append("`tune lr-range` measures where the loss falls fastest")
    elif code == "not-learning":
        text = [SANITY, "they find most bugs that keep a model at chance"]
        suspects = ["a learning rate far too low (`tune lr-range`)"]
        wd = _num(hyper, "weight_decay")
        if wd is not None and wd >= STRONG_WEIGHT_DECAY:
            suspects.append(f"weight_decay {wd:g}, strong enough to pin the weights at zero")
        text.append("if they pass, suspect " + " or ".join(suspects))
    else:
        raise KeyError(code)
    sentence = "; ".join(text)
    sentence = sentence[:1].upper() + sentence[1:]
    flags = format_best(changes, "args")
    return (f"{sentence}: {flags}" if flags else sentence), changes
