"""The diagnoses as rules over a learning curve, with their thresholds.

Each rule reads a :class:`Curves` (the columns of one run, cut at the first
non-finite loss, with the task's chance level and the best accuracy other runs
of the task reached, when known) and returns its evidence, the numbers it saw,
when it holds, else ``None``. The thresholds are named constants; README's
``diagnose`` section lists them with the reasoning. They were set on the labelled runs in
``tests/fixtures/curves`` (made by ``tests/fixtures/make_curves.py``) with a
margin on both sides, and every quantity they compare is robust (see
:mod:`tuner.diagnose.stats`), so that epoch-to-epoch noise does not flip a code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tuner.chance import Chance
from tuner.diagnose.stats import (end_value, finite, has_values, smooth, swings, tail_change,
                                  tail_length, theil_sen, wiggle)
from tuner.engine import History, best_index

# diverged: a loss that is not a number, that climbs above where it started, or
# that exploded within an epoch.
DIVERGED_RISE = 1.5    # training loss after epoch 1 above 1.5x its epoch-1 mean
DIVERGED_SPIKE = 30.0  # an epoch's mean training loss >= 30x the validation loss at its end:
#                        only a loss that blew up during the epoch averages that far above
#                        where it ended (healthy first epochs measure 3-7x, blow-ups 80x+)

# unstable: the training loss jumps up from one epoch to the next.
UNSTABLE_RISE = 0.5         # an epoch whose training loss is >= 50% above the epoch before
UNSTABLE_RISE_FLOOR = 0.01  # rises are relative to max(previous, 1% of epoch-1 loss), so
#                             wiggles of a loss already near zero do not count
UNSTABLE_MIN_RISES = 2      # unstable with at least this many such rises ...
UNSTABLE_SPIKE = 2.0        # ... or with one rise of at least 200% (the loss tripled)
UNSTABLE_ACC_SWING = 0.02   # validation accuracy off its running median by 2 points: shown as
#                             evidence; alone it is not instability (label noise does it too)

# still-improving: the validation curve is still getting better at its end.
IMPROVING_LOSS = 0.10  # the trend window made >= 10% of the run's whole validation-loss gain
IMPROVING_ACC = 0.02   # or validation accuracy rose >= 2 points over the trend window (a
#                        small validation set moves a point from noise alone)

# overfitting: training is fitted much better than validation.
OVERFIT_ACC_GAP = 0.05    # train_acc - val_acc >= 5 points at the end
OVERFIT_VAL_RISE = 0.20   # or validation loss ended >= 20% above its best ...
OVERFIT_TRAIN_FALL = 0.5  # ... while training loss fell to half its value at that best epoch ...
OVERFIT_NOISE = 3.0       # ... and the climb is >= 3x the curve's own epoch-to-epoch wiggle
OVERFIT_LOSS_GAP = 0.50   # without accuracy: val_loss - train_loss >= half the epoch-1 val loss

# underfitting: training itself is poor, close to validation, and has stopped improving,
# or improves so slowly that twice the epochs would not get it where it should be.
UNDERFIT_ACC = 0.90            # training accuracy below 90% at the end
UNDERFIT_LOSS_FRACTION = 0.30  # without accuracy: training loss still >= 30% of its epoch-1 level
UNDERFIT_REF_GAP = 0.05        # with a reference (the best validation accuracy other runs of the
#                                task reached): validation accuracy >= 5 points below it instead

# chance level (tuner.chance): what a model that learned nothing scores. A run that ends
# there learned nothing, whatever its curves' shapes: it diverged, its LR is far too low,
# or something is broken, and it never needs a bigger model.
NEAR_CHANCE = 0.10       # an accuracy that closed < 10% of the way from chance to 1 is at chance
NEAR_CHANCE_LOSS = 0.97  # without accuracy: both losses end >= 97% of their chance level
CHANCE_BLOWUP = 3.0      # an epoch's mean training loss >= 3x the chance loss: the loss exploded
#                          (an untrained net starts near 1x; tune's default MLP at 1.5x)
STILL_FALLING = 0.03     # at chance, the training loss fell >= 3% of its level over the second
#                          half of the run (and training accuracy rose): learning, far too slowly
STILL_RISING_ACC = 0.01  # ... training accuracy rose >= 1 point over that half (a net that only
#                          learns the label shares lowers the loss with its accuracy flat)


@dataclass
class Curves:
    """The columns of one run, cut before the first non-finite loss.

    ``bad_epoch`` is the first epoch whose training or validation loss is NaN
    or infinite (``None`` if none); ``cut`` holds the epochs before it.
    ``has_acc`` says whether both accuracy columns were recorded for them.
    ``chance`` is the task's chance level and ``reference`` the best validation
    accuracy other runs of the task reached, each ``None`` when unknown.
    """

    epoch: list[int]
    train_loss: list[float]
    val_loss: list[float]
    train_acc: list[float]
    val_acc: list[float]
    bad_epoch: int | None
    bad_values: dict[str, float]
    reason: str | None
    chance: Chance | None = None
    reference: float | None = None

    @property
    def n(self) -> int:
        return len(self.epoch)

    @property
    def has_acc(self) -> bool:
        return self.n > 0 and finite(self.train_acc) and finite(self.val_acc)

    @staticmethod
    def of(history: History, *, chance: Chance | None = None,
           reference: float | None = None) -> "Curves":
        """The curves of ``history``; ``chance`` defaults to the one the history records."""
        recs = history.epochs
        bad = next((i for i, e in enumerate(recs)
                    if not (math.isfinite(e.train_loss) and math.isfinite(e.val_loss))), None)
        kept = recs if bad is None else recs[:bad]
        bad_values = {} if bad is None else {"train_loss": recs[bad].train_loss,
                                             "val_loss": recs[bad].val_loss}
        return Curves([int(e.epoch) for e in kept], [e.train_loss for e in kept],
                      [e.val_loss for e in kept], [e.train_acc for e in kept],
                      [e.val_acc for e in kept], None if bad is None else int(recs[bad].epoch),
                      bad_values, history.reason, chance or history.chance, reference)


Evidence = dict[str, Any]


def diverged(c: Curves) -> Evidence | None:
    if c.bad_epoch is not None:
        ev: Evidence = {"epoch": c.bad_epoch, **c.bad_values, "finite_epochs": c.n}
        if c.reason:
            ev["reason"] = c.reason
        return ev
    if c.n >= 2:
        start = c.train_loss[0]
        peak_i = max(range(1, c.n), key=lambda i: c.train_loss[i])
        if c.train_loss[peak_i] > DIVERGED_RISE * start:
            return {"epoch": c.epoch[peak_i], "train_loss": c.train_loss[peak_i],
                    "start_train_loss": start, "ratio": c.train_loss[peak_i] / start}
    # A validation loss of exactly 0 gives no scale to compare with: such an epoch is skipped.
    ratios = [(t / v if v > 0 else 0.0, i) for i, (t, v) in enumerate(zip(c.train_loss, c.val_loss))]
    ratio, i = max(ratios, default=(0.0, 0))
    if ratio >= DIVERGED_SPIKE:
        return {"epoch": c.epoch[i], "train_loss": c.train_loss[i], "val_loss": c.val_loss[i],
                "ratio": ratio}
    return None


def loss_rises(c: Curves) -> list[tuple[int, float]]:
    """``(epoch, relative rise)`` of each epoch whose training loss jumped >= UNSTABLE_RISE."""
    if c.n < 2:
        return []
    floor = UNSTABLE_RISE_FLOOR * abs(c.train_loss[0])
    out = []
    for i in range(1, c.n):
        base = max(c.train_loss[i - 1], floor)
        rise = (c.train_loss[i] - c.train_loss[i - 1]) / base if base > 0 else 0.0
        if rise >= UNSTABLE_RISE:
            out.append((c.epoch[i], rise))
    return out


def acc_swings(c: Curves) -> list[tuple[int, float]]:
    """``(epoch, points)`` where validation accuracy sticks out of its running median."""
    if not has_values(c.val_acc) or not finite(c.val_acc):
        return []
    return [(c.epoch[i], r) for i, r in swings(c.val_acc) if abs(r) >= UNSTABLE_ACC_SWING]


def unstable(c: Curves) -> Evidence | None:
    rises = loss_rises(c)
    if len(rises) >= UNSTABLE_MIN_RISES or any(r >= UNSTABLE_SPIKE for _, r in rises):
        big = max(rises, key=lambda er: er[1])
        return {"loss_rises": len(rises), "rise_epochs": [e for e, _ in rises],
                "largest_rise": big[1], "largest_rise_epoch": big[0],
                "val_acc_swings": len(acc_swings(c))}
    return None


def _before_tail(values: list[float]) -> list[float]:
    return values[:len(values) - tail_length(len(values))]


def still_improving(c: Curves) -> Evidence | None:
    if c.n == 1:
        return {"epochs": 1, "why": "a single epoch shows no trend yet"}
    window = tail_length(c.n)
    ev: Evidence = {"window_epochs": window}
    total = c.val_loss[0] - min(smooth(c.val_loss))
    gain = -tail_change(c.val_loss)
    earlier = _before_tail(c.val_loss)
    # The end must also beat everything before the window (by half the threshold):
    # a curve climbing back from a spike is recovering, not improving.
    beats = (min(smooth(earlier)) - end_value(c.val_loss)) if earlier else gain
    loss_share = gain / total if total > 0 else 0.0
    ev.update(val_loss_gain=gain, val_loss_gain_share=loss_share)
    holds = total > 0 and loss_share >= IMPROVING_LOSS and beats >= IMPROVING_LOSS / 2 * total
    if c.has_acc:
        acc_gain = tail_change(c.val_acc)
        earlier_acc = _before_tail(c.val_acc)
        acc_beats = (end_value(c.val_acc) - max(smooth(earlier_acc))) if earlier_acc else acc_gain
        ev["val_acc_gain"] = acc_gain
        holds = holds or (acc_gain >= IMPROVING_ACC and acc_beats >= IMPROVING_ACC / 2)
    return ev if holds else None


def best_epoch_index(c: Curves) -> int:
    """Index of the best epoch, by the engine's one definition (:func:`best_index`)."""
    i = best_index(c.val_acc if c.has_acc else [], c.val_loss)
    return 0 if i is None else i


def overfitting(c: Curves) -> Evidence | None:
    ev: Evidence = {}
    holds = False
    if c.has_acc:
        gap = end_value(c.train_acc) - end_value(c.val_acc)
        ev.update(train_acc=end_value(c.train_acc), val_acc=end_value(c.val_acc), acc_gap=gap)
        holds = gap >= OVERFIT_ACC_GAP
    else:
        gap = end_value(c.val_loss) - end_value(c.train_loss)
        ev.update(train_loss=end_value(c.train_loss), val_loss=end_value(c.val_loss), loss_gap=gap,
                  loss_gap_share=gap / c.val_loss[0] if c.val_loss[0] > 0 else 0.0)
        holds = c.val_loss[0] > 0 and gap >= OVERFIT_LOSS_GAP * c.val_loss[0]
    smoothed = smooth(c.val_loss)
    i_best = min(range(c.n), key=lambda i: (smoothed[i], i))
    best, end = smoothed[i_best], end_value(c.val_loss)
    rise = (end - best) / best if best > 0 else 0.0
    noise = wiggle(c.val_loss)
    train_fell = end_value(c.train_loss) <= OVERFIT_TRAIN_FALL * smooth(c.train_loss)[i_best]
    ev.update(val_loss_best=best, val_loss_best_epoch=c.epoch[i_best], val_loss_end=end,
              val_loss_rise=rise, val_loss_noise=noise)
    if rise >= OVERFIT_VAL_RISE and end - best >= OVERFIT_NOISE * noise and train_fell:
        holds = True
    ev["best_epoch"] = c.epoch[best_epoch_index(c)]
    return ev if holds else None


def underfitting(c: Curves, improving: bool, overfit: bool) -> Evidence | None:
    """Training is poor and close to validation, and either stopped improving or
    creeps up so slowly that twice the epochs (still-improving's advice) would not
    reach the level it falls short of.

    That level: with accuracy, the reference (the best validation accuracy other
    runs of the task reached) less UNDERFIT_REF_GAP when known, else a training
    accuracy of UNDERFIT_ACC; with losses only, UNDERFIT_LOSS_FRACTION of the
    epoch-1 training loss.
    """
    if c.n < 2 or overfit:
        return None
    train_gain_share = _train_gain_share(c)
    window = tail_length(c.n)
    if c.has_acc:
        level = end_value(c.train_acc)
        ev: Evidence = {"train_acc": level, "val_acc": end_value(c.val_acc),
                        "acc_gap": level - end_value(c.val_acc)}
        acc_gain = tail_change(c.train_acc)
        ev["train_acc_gain"] = acc_gain
        plateau = acc_gain < IMPROVING_ACC and train_gain_share < IMPROVING_LOSS
        if c.reference is not None:
            curve, target = c.val_acc, c.reference - UNDERFIT_REF_GAP
            ev["reference"] = c.reference
        else:
            curve, target = c.train_acc, UNDERFIT_ACC
        short = target - end_value(curve)
        pace = tail_change(curve) / max(window - 1, 1)
    else:
        level = end_value(c.train_loss)
        ev = {"train_loss": level, "start_train_loss": c.train_loss[0],
              "val_loss": end_value(c.val_loss)}
        target = UNDERFIT_LOSS_FRACTION * c.train_loss[0]
        short = level - target if c.train_loss[0] > 0 else 0.0
        pace = -tail_change(c.train_loss) / max(window - 1, 1)
        plateau = train_gain_share < IMPROVING_LOSS
    ev["train_loss_gain_share"] = train_gain_share
    low = short > 0
    if not improving:
        return ev if low and plateau else None
    needed = short / pace if pace > 0 else math.inf
    ev.update(target=target, pace_per_epoch=pace, epochs_to_target=needed)
    return ev if low and needed > c.n else None


def _train_gain_share(c: Curves) -> float:
    total = c.train_loss[0] - min(smooth(c.train_loss))
    return -tail_change(c.train_loss) / total if total > 0 else 0.0


# --- chance level ------------------------------------------------------------------------

def _closed(value: float, chance: float) -> float:
    """How much of the way from chance to a perfect 1 an accuracy has come."""
    return (value - chance) / (1 - chance) if chance < 1 else 0.0


def at_chance(c: Curves) -> Evidence | None:
    """The run ends where a model that learned nothing would: both accuracies
    within NEAR_CHANCE of chance (without accuracy, both losses at >= NEAR_CHANCE_LOSS
    of theirs). ``None`` also when the chance level is unknown."""
    ch = c.chance
    if ch is None or c.n == 0:
        return None
    ev: Evidence = {"end_train_loss": end_value(c.train_loss), "end_val_loss": end_value(c.val_loss),
                    "chance_train_loss": ch.train_loss, "chance_val_loss": ch.val_loss}
    if c.has_acc:
        ev.update(train_acc=end_value(c.train_acc), val_acc=end_value(c.val_acc),
                  chance_train_acc=ch.train_acc, chance_val_acc=ch.val_acc)
        holds = (_closed(ev["train_acc"], ch.train_acc) < NEAR_CHANCE
                 and _closed(ev["val_acc"], ch.val_acc) < NEAR_CHANCE)
    elif ch.train_loss and ch.val_loss:
        holds = (ev["end_train_loss"] >= NEAR_CHANCE_LOSS * ch.train_loss
                 and ev["end_val_loss"] >= NEAR_CHANCE_LOSS * ch.val_loss)
    else:
        return None
    return ev if holds else None


def diverged_to_chance(c: Curves) -> Evidence | None:
    """The training loss exploded (an epoch's mean >= CHANCE_BLOWUP x the chance
    loss) and the run ended at chance: it diverged, though every loss is finite and
    none climbed far above epoch 1 (the blow-up may be inside epoch 1)."""
    ev = at_chance(c)
    if ev is None or not c.chance or not c.chance.train_loss:
        return None
    i = max(range(c.n), key=lambda k: c.train_loss[k])
    ratio = c.train_loss[i] / c.chance.train_loss
    if ratio < CHANCE_BLOWUP:
        return None
    return {"epoch": c.epoch[i], "train_loss": c.train_loss[i], "chance_ratio": ratio, **ev}


def stuck_at_chance(c: Curves) -> tuple[str, Evidence] | None:
    """A run that ended at chance without a blow-up: ``lr-too-low`` when its training
    loss is still falling (STILL_FALLING over the second half of the run, with the
    training accuracy rising) and ``not-learning`` when it is not."""
    ev = at_chance(c)
    if ev is None or c.n < 2:
        return None
    half = max(2, math.ceil(c.n / 2))
    fall = -theil_sen(c.train_loss[-half:]) * (half - 1)
    level = end_value(c.train_loss)
    share = fall / level if level > 0 else 0.0
    ev.update(epochs=c.n, half_epochs=half, train_loss_fall=fall, train_loss_fall_share=share)
    rising = True
    if c.has_acc:
        ev["train_acc_rise"] = theil_sen(c.train_acc[-half:]) * (half - 1)
        rising = ev["train_acc_rise"] >= STILL_RISING_ACC
    return ("lr-too-low" if share >= STILL_FALLING and rising else "not-learning"), ev
