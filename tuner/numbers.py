"""THE number formatter for people: tables, messages, advice, reports, commands.

``digits`` significant digits in Python's ``g`` form (``0.0001``, ``1e-05``,
``0.9805``), NaN shown as ``nan``. Torch-free and dependency-free, so the
CLI, the library and the reports all format numbers the same way.
"""

from __future__ import annotations

from typing import Any


def fmt(value: Any, digits: int = 4) -> str:
    """A float with ``digits`` significant digits; anything else as ``str``."""
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}g}"
    return str(value)
