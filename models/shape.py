"""The size and regularisation the built-in models share: ``width``, ``depth``, ``dropout``."""

from __future__ import annotations

from typing import Any

from tuner.errors import TuneError


def declare_shape(hp: Any, width: tuple[int, int, int], depth: tuple[int, int, int]) -> tuple[int, int, float]:
    """Declare ``width``, ``depth`` (capacity) and ``dropout`` (regularization) as
    (low, high, default) ranges.

    The ranges are where a search looks, not what the models can build: they
    are declared ``strict=False``, so ``--hp width=4096`` (the vanishing-activations
    experiment) works, and only what no model can be is refused here.
    """
    w = hp.int("width", width[0], width[1], log=True, default=width[2], strict=False, role="capacity")
    d = hp.int("depth", depth[0], depth[1], default=depth[2], strict=False, role="capacity")
    p = _declare_dropout(hp)
    for name, value, ok, need, example in (
            ("width", w, w >= 1, "at least 1", width[2]), ("depth", d, d >= 1, "at least 1", depth[2]),
            ("dropout", p, 0 <= p < 1, "in [0, 1)", 0.1)):
        _check(name, value, ok, need, example)
    return w, d, p


def declare_dropout(hp: Any) -> float:
    """Declare ``dropout`` (regularization) as every built-in model does, timm's
    included: searched in [0, 0.5], default 0, ``strict=False`` so ``--hp
    dropout=0.6`` works; only what no model can be (outside [0, 1)) is refused."""
    p = _declare_dropout(hp)
    _check("dropout", p, 0 <= p < 1, "in [0, 1)", 0.1)
    return p


def _declare_dropout(hp: Any) -> float:
    return hp.float("dropout", 0.0, 0.5, default=0.0, strict=False, role="regularization")


def _check(name: str, value: float, ok: bool, need: str, example: float) -> None:
    if not ok:
        raise TuneError(f"--hp {name}={value:g}: the built-in models need {name} {need}",
                        f"for example --hp {name}={example}")
