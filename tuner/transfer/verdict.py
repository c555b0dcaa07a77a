"""What ``tune transfer`` concludes from its four measured strategies. Torch-free.

**Similarity** (how close the source is to this data, as far as the frozen
features can tell)::

    similarity = (probe - chance) / (max(probe, scratch) - chance)

clipped to [0, 1], where ``probe`` and ``scratch`` are the best validation
accuracies of a linear probe on the pretrained features and of the whole
network trained from its own initialisation, for the same epochs, and
``chance`` is the share of the most frequent validation class. 1: training
only the head does as well as learning every layer on this data (the
features fit it); 0: the probe is at chance (the features say nothing about
these classes). When neither rises above chance it is 0.

**The verdict** picks among the strategies within :data:`TIE` (1 point) of
the best measured accuracy, so it is always the measured best or within one
point of it; the course's table (Stanford CS231n, "Transfer learning") breaks
the tie:

1. ``scratch`` when it is among them and the similarity is below
   :data:`SIMILAR` (the probe is near chance: the features barely help and
   fine-tuning does not beat scratch), or when it measured best of all (the
   pretrained weights do not help, whatever the probe says): transfer from this
   source is pointless here;
2. ``probe`` when the probe is among them: little data and a similar source,
   train the head only (cheapest, fewest weights to overfit);
3. ``fine-tune`` or ``probe-then-fine-tune``, whichever measured better (a tie
   goes to ``fine-tune``, the simpler), when one is among them: enough data to
   adapt the features, or the probe falls short of fine-tuning;
4. else ``scratch``: training from scratch beat every pretrained start by more
   than a point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

SCRATCH, PROBE, PROBE_THEN_FINE_TUNE, FINE_TUNE = "scratch", "probe", "probe-then-fine-tune", "fine-tune"
STRATEGIES = (SCRATCH, PROBE, PROBE_THEN_FINE_TUNE, FINE_TUNE)
# Epochs each strategy trains by default: here, torch-free, so that the CLI's help can show it.
DEFAULT_EPOCHS = 5
TIE = 0.01  # accuracies this close to the best count as the best (one point)
SIMILAR = 0.5  # similarity from which the source counts as close to the data


@dataclass(frozen=True)
class Similarity:
    """How far the probe gets from chance towards the best of probe and scratch."""

    score: float
    probe: float
    scratch: float
    chance: float

    def to_dict(self) -> dict[str, float]:
        return {"score": self.score, "probe": self.probe, "scratch": self.scratch,
                "chance": self.chance}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "Similarity":
        return Similarity(*(float("nan") if d.get(k) is None else float(d[k])
                            for k in ("score", "probe", "scratch", "chance")))


def similarity(probe: float, scratch: float, chance: float) -> Similarity:
    """The similarity measure of the module docstring (NaN accuracies count as chance)."""
    p, s = _acc(probe, chance), _acc(scratch, chance)
    top = max(p, s) - chance
    score = 0.0 if top <= 0 else min(1.0, max(0.0, (p - chance) / top))
    return Similarity(score, probe, scratch, chance)


def decide(best_val_acc: Mapping[str, float], chance: float) -> str:
    """The verdict (one of :data:`STRATEGIES`) from each strategy's best validation accuracy."""
    acc = {name: _acc(best_val_acc.get(name, float("nan")), chance) for name in STRATEGIES}
    top = max(acc.values())
    near = {name for name, a in acc.items() if a >= top - TIE}
    sim = similarity(acc[PROBE], acc[SCRATCH], chance).score
    if SCRATCH in near and (sim < SIMILAR or acc[SCRATCH] >= top):
        return SCRATCH
    if PROBE in near:
        return PROBE
    tuned = [n for n in (FINE_TUNE, PROBE_THEN_FINE_TUNE) if n in near]
    if tuned:
        return max(tuned, key=lambda n: (acc[n], n == FINE_TUNE))
    return SCRATCH


def advice(verdict: str, best_val_acc: Mapping[str, float], sim: Similarity,
           samples_per_class: float, flags: str) -> str:
    """What to do, in words, with the ``--hp`` flags (``flags``) of the verdict."""
    acc = {name: _acc(best_val_acc.get(name, float("nan")), sim.chance) for name in STRATEGIES}
    pts = lambda a, b: f"{100 * (acc[a] - acc[b]):+.1f} points"  # noqa: E731
    data = f"{samples_per_class:.3g} training samples per class"
    source = (f"similarity {sim.score:.2f}: the probe gets {sim.score:.0%} of the way from chance "
              f"to the best of probe and scratch")
    if verdict == PROBE:
        return (f"Train the head only ({flags}): {data}, a similar source ({source}). Training more "
                f"of the network does not pay (fine-tune {pts(FINE_TUNE, PROBE)}, scratch "
                f"{pts(SCRATCH, PROBE)} against the probe). Course table: little data, similar "
                f"data set: a linear classifier on the pretrained features.")
    if verdict in (FINE_TUNE, PROBE_THEN_FINE_TUNE):
        how = ("fine-tune everything, the pretrained layers at a tenth of the LR" if verdict == FINE_TUNE
               else "train the head alone first, then fine-tune everything (pretrained layers at a "
                    "tenth of the LR)")
        return (f"{how[0].upper()}{how[1:]} ({flags}): {data}; the probe falls short "
                f"({verdict} {pts(verdict, PROBE)} against it, {pts(verdict, SCRATCH)} against "
                f"scratch; {source}). Course table: enough data to adapt the features: fine-tune.")
    if sim.score < SIMILAR:
        return (f"Transfer from this source is pointless here: {source}, and fine-tuning does not "
                f"beat training from scratch (fine-tune {pts(FINE_TUNE, SCRATCH)}). Train from "
                f"scratch (drop --pretrained); to gain from transfer, collect more data or find a "
                f"source closer to this data. Course table: a very different data set.")
    return (f"No pretrained start beat training from scratch (fine-tune {pts(FINE_TUNE, SCRATCH)}, "
            f"probe {pts(PROBE, SCRATCH)}): {data} is enough to learn the features here; train "
            f"from scratch (drop --pretrained), or compare again with more --epochs.")


def _acc(value: float, chance: float) -> float:
    """A run's accuracy for comparing; a failed run (NaN) counts as chance."""
    return value if value is not None and math.isfinite(value) else chance
