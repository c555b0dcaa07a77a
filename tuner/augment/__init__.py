"""Training-time data augmentation as five hyperparameters.

==========  =====================================================================  =====
name        meaning                                                                off
==========  =====================================================================  =====
flip        probability of a horizontal flip, per sample                           0
crop        smallest area fraction of a random resized crop (aspect 3/4 to 4/3),   1
            resized back to the input size
translate   largest shift as a fraction of the side (pad and crop, the CIFAR       0
            recipe)
jitter      colour jitter strength: brightness and contrast (and saturation for    0
            3 channels) drawn in [1-s, 1+s]
cutout      side of a zeroed square as a fraction of the image side, at a random   0
            place
==========  =====================================================================  =====

:class:`Augmentation` holds the five values and validates them;
:mod:`tuner.augment.batch` applies them to a batch ``(N, C, H, W)``
(``augment(x, aug, generator)``, or ``BatchAugment(aug, seed)`` as the training
loop's transform): every sample gets its own random draw, the whole batch is
transformed at once on its own device. :func:`check_image_samples` is the one check that data takes
augmentation at all.

This module does not import torch, so the torch-free parameter parsing can
validate these names before torch loads.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tuner.errors import TuneError


NAMES: tuple[str, ...] = ("flip", "crop", "translate", "jitter", "cutout")

#: Each name's valid range as ``(low, high, low_included, high_included)``.
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "flip": (0.0, 1.0, True, True),
    "crop": (0.0, 1.0, False, True),  # an area fraction of 0 is no image at all
    "translate": (0.0, 0.5, True, True),  # past half the side nothing of the image is left
    "jitter": (0.0, 1.0, True, True),  # a factor 1 - s below 0 would invert the colours
    "cutout": (0.0, 1.0, True, True),
}

#: The value that turns each one off.
OFF_VALUES: dict[str, float] = {"flip": 0.0, "crop": 1.0, "translate": 0.0, "jitter": 0.0, "cutout": 0.0}

MEANINGS: dict[str, str] = {
    "flip": "the probability of a horizontal flip",
    "crop": "the smallest area fraction of a random resized crop",
    "translate": "the largest shift as a fraction of the side",
    "jitter": "the colour jitter strength",
    "cutout": "the side of the zeroed square as a fraction of the side",
}


def range_text(name: str) -> str:
    """``name``'s valid range in interval notation, e.g. ``(0, 1]``."""
    low, high, low_in, high_in = RANGES[name]
    return f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def in_range(name: str, value: float) -> bool:
    low, high, low_in, high_in = RANGES[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return False
    above = value >= low if low_in else value > low
    below = value <= high if high_in else value < high
    return above and below


def augmentation_problems(values: Any) -> list[tuple[str, str]]:
    """``(name, why)`` for every augmentation value out of its range.

    ``values`` is a mapping or any object with the five names as attributes
    (a ``TrainParams`` that carries them, say); names it lacks are not checked.
    The shape of ``tuner.params.check_params``'s problems, so it can call this.
    """
    problems = []
    for name in NAMES:
        value = values.get(name) if isinstance(values, Mapping) else getattr(values, name, None)
        if value is not None and not in_range(name, value):
            problems.append((name, f"must be in {range_text(name)} ({MEANINGS[name]})"))
    return problems


@dataclass(frozen=True)
class Augmentation:
    """The five augmentation hyperparameters; the defaults turn each one off.

    :func:`tuner.augment.batch.augment` applies them to a batch;
    :class:`tuner.augment.batch.BatchAugment` is the one-argument batch
    transform the training loop applies, with a generator of its own.
    """

    flip: float = 0.0
    crop: float = 1.0
    translate: float = 0.0
    jitter: float = 0.0
    cutout: float = 0.0

    def __post_init__(self) -> None:
        problems = augmentation_problems(self)
        if problems:
            name, why = problems[0]
            raise TuneError(f"--hp {name}={getattr(self, name)}: {name} {why}",
                            f"{name}={OFF_VALUES[name]:g} turns it off")

    @staticmethod
    def from_values(values: Any) -> "Augmentation":
        """The five names read from a mapping or an object's attributes
        (missing names stay off); everything else is ignored, except the master
        switch ``augment``: when it is False, all five are off."""
        switch = values.get("augment") if isinstance(values, Mapping) else getattr(values, "augment", None)
        if switch is False:
            return Augmentation()
        picked = {}
        for name in NAMES:
            value = values.get(name) if isinstance(values, Mapping) else getattr(values, name, None)
            if value is not None:
                try:
                    picked[name] = float(value)
                except (TypeError, ValueError):
                    raise TuneError(f"--hp {name}={value}: {name} must be a number in "
                                    f"{range_text(name)} ({MEANINGS[name]})") from None
        return Augmentation(**picked)

    def is_identity(self) -> bool:
        """True when every one of the five is off: the batch comes back as it is."""
        return not self.active()

    def active(self) -> tuple[str, ...]:
        """The names set away from their off value, in table order."""
        return tuple(n for n in NAMES if getattr(self, n) != OFF_VALUES[n])

    def describe(self) -> str:
        """``flip=0.5 crop=0.35``, or ``none`` when all are off."""
        return " ".join(f"{n}={getattr(self, n):g}" for n in self.active()) or "none"

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


OFF = Augmentation()


def takes_augmentation(sample_shape: Sequence[int]) -> bool:
    """Whether samples of this shape (one sample, without the batch axis) are
    images that augmentation applies to: ``(channels, height, width)``."""
    return len(tuple(sample_shape)) == 3


def check_image_samples(sample_shape: Sequence[int], aug: Augmentation) -> None:
    """Raise the one clear error when ``aug`` sets anything on data whose samples
    are not images; augmentation left off accepts every shape."""
    shape = tuple(int(d) for d in sample_shape)
    if aug.is_identity() or takes_augmentation(shape):
        return
    raise TuneError(
        f"augmentation needs image samples shaped (channels, height, width); these are {shape}",
        f"{aug.describe()} was set: leave flip, crop, translate, jitter and cutout off "
        "(0, 1, 0, 0, 0) for this data")
