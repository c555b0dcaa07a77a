"""Robust statistics of short, noisy learning curves.

Every rule of the diagnosis reads a curve through these helpers rather than
raw epoch values, so that one lucky or unlucky epoch cannot decide a verdict:
ends are medians of the last few epochs, a minimum is taken on a curve
smoothed by a running median of 3, trends are Theil-Sen slopes (the median of
pairwise slopes, which ignores up to ~29% outliers), and swings are measured
against that running median so that a smooth rise or fall is not a swing.
Pure Python: curves have at most a few thousand points.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Sequence

END_EPOCHS = 3        # "the end of a curve" is the median of this many last epochs
TAIL_FRACTION = 0.25  # the trend window: this share of the epochs ...
TAIL_MIN = 3          # ... but at least this many ...
TAIL_MAX = 50         # ... and at most this many (keeps Theil-Sen cheap)


def finite(values: Sequence[float]) -> bool:
    """True when every value is a real number (no NaN, no inf)."""
    return all(math.isfinite(v) for v in values)


def has_values(values: Sequence[float]) -> bool:
    """True when the column was recorded at all (not all NaN)."""
    return any(math.isfinite(v) for v in values)


def end_value(values: Sequence[float], k: int = END_EPOCHS) -> float:
    """The level a curve ends at: median of its last ``k`` values."""
    return median(values[-k:])


def smooth(values: Sequence[float]) -> list[float]:
    """Running median of 3 (the ends keep their own value).

    A monotone or gently curving stretch is unchanged; only a point that sticks
    out above or below both neighbours is pulled back to the nearer one.
    """
    n = len(values)
    return [values[i] if i in (0, n - 1) else median(values[i - 1:i + 2]) for i in range(n)]


def tail_length(n: int) -> int:
    """How many last epochs the trend window covers for a curve of ``n`` epochs."""
    return max(min(TAIL_MIN, n), min(TAIL_MAX, n, math.ceil(TAIL_FRACTION * n)))


def theil_sen(values: Sequence[float]) -> float:
    """Median of the slopes between every pair of points (per epoch); 0 for < 2 points."""
    n = len(values)
    slopes = [(values[j] - values[i]) / (j - i) for i in range(n) for j in range(i + 1, n)]
    return median(slopes) if slopes else 0.0


def tail_change(values: Sequence[float]) -> float:
    """Robust change over the trend window: Theil-Sen slope times its span.

    Positive means the curve went up over the last ``tail_length`` epochs.
    """
    k = tail_length(len(values))
    return theil_sen(values[-k:]) * (k - 1)


def swings(values: Sequence[float]) -> list[tuple[int, float]]:
    """Interior points that stick out of their neighbourhood: ``(index, residual)``.

    The residual is the value minus the running median of 3 at that point; it
    is zero wherever the curve is locally monotone, so only reversals count.
    """
    smoothed = smooth(values)
    return [(i, values[i] - smoothed[i]) for i in range(1, len(values) - 1)
            if values[i] != smoothed[i]]


def wiggle(values: Sequence[float]) -> float:
    """The curve's own noise level: mean distance of its points from the running median of 3."""
    if len(values) < 3:
        return 0.0
    smoothed = smooth(values)
    return sum(abs(v - s) for v, s in zip(values[1:-1], smoothed[1:-1])) / (len(values) - 2)
