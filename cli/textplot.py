"""A small plot for the terminal: a curve on a log-x axis, drawn with rich.

Torch- and matplotlib-free, so any command can show a curve in a few lines
without the cost of a PNG. Markers (vertical lines) and a shaded span can be
laid over it, for example a suggested value and a recommended range.
"""

from __future__ import annotations

import math
from typing import Sequence

from rich.text import Text

WIDTH = 60
HEIGHT = 10


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten inside ``[low, high]`` (log10 values)."""
    return [float(k) for k in range(math.ceil(low), math.floor(high) + 1)]


def log_x_plot(xs: Sequence[float], ys: Sequence[float], *, markers: Sequence[float] = (),
               span: tuple[float, float] | None = None, width: int = WIDTH, height: int = HEIGHT,
               y_cap: float | None = None) -> Text:
    """Plot ``ys`` against positive ``xs`` on a log axis, ``width`` x ``height`` cells.

    ``markers`` become ``│`` columns, ``span`` a shaded band (and ``═`` on the axis); values above
    ``y_cap`` (or non-finite) are clipped to the top row, so an explosion at
    the end of a curve does not squash the rest. Returns a rich ``Text``.
    """
    points = [(math.log10(x), y) for x, y in zip(xs, ys) if x > 0 and math.isfinite(x)]
    finite = [y for _, y in points if math.isfinite(y)]
    if len(points) < 2 or not finite:
        return Text("(nothing to plot)", style="dim")
    x_lo, x_hi = points[0][0], points[-1][0]
    for v in (*markers, *(span or ())):
        if v > 0:
            x_lo, x_hi = min(x_lo, math.log10(v)), max(x_hi, math.log10(v))
    y_lo = min(finite)
    y_hi = min(max(finite), y_cap) if y_cap is not None and y_cap > y_lo else max(finite)
    if y_hi <= y_lo:
        y_hi = y_lo + 1.0
    x_span = max(x_hi - x_lo, 1e-12)

    def col(lx: float) -> int:
        return min(width - 1, max(0, round((lx - x_lo) / x_span * (width - 1))))

    def row(y: float) -> int:
        y = y_hi if not math.isfinite(y) else min(max(y, y_lo), y_hi)
        return round((y_hi - y) / (y_hi - y_lo) * (height - 1))

    grid = [[" "] * width for _ in range(height)]
    styles = [[""] * width for _ in range(height)]
    if span is not None and span[0] > 0 and span[1] > 0:
        for c in range(col(math.log10(span[0])), col(math.log10(span[1])) + 1):
            for r in range(height):
                styles[r][c] = "on grey15"
    for m in markers:
        if m > 0:
            for r in range(height):
                grid[r][col(math.log10(m))] = "│"
                styles[r][col(math.log10(m))] += " green"
    # Per column keep the mean height of the points that fall in it.
    columns: dict[int, list[float]] = {}
    for lx, y in points:
        columns.setdefault(col(lx), []).append(y)
    for c, values in columns.items():
        finite_values = [v for v in values if math.isfinite(v)]
        y = sum(finite_values) / len(finite_values) if finite_values else math.inf
        r = row(y)
        grid[r][c] = "•" if math.isfinite(y) and y <= y_hi else "▲"
        styles[r][c] += " bold cyan" if grid[r][c] == "•" else " bold red"

    label_w = 7
    text = Text()
    for r in range(height):
        label = f"{y_hi:.3g}" if r == 0 else f"{y_lo:.3g}" if r == height - 1 else ""
        text.append(f"{label:>{label_w}} ┤", style="dim")
        for c in range(width):
            text.append(grid[r][c], style=styles[r][c].strip() or None)
        text.append("\n")
    axis = ["─"] * width
    if span is not None and span[0] > 0 and span[1] > 0:
        for c in range(col(math.log10(span[0])), col(math.log10(span[1])) + 1):
            axis[c] = "═"
    labels = [" "] * (width + 6)
    free_from = 0  # first label column not yet taken, so tags never overlap
    for t in _log_ticks(x_lo, x_hi):
        c = col(t)
        axis[c] = "╤" if axis[c] == "═" else "┬"
        tag = f"1e{int(t)}"
        if c >= free_from:
            labels[c:c + len(tag)] = tag
            free_from = c + len(tag) + 1
    text.append(" " * label_w + " └" + "".join(axis) + "\n", style="dim")
    text.append(" " * (label_w + 2) + "".join(labels).rstrip(), style="dim")
    return text
