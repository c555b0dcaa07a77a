"""Built-in models: ``--model mlp``, ``--model cnn`` and ``--model timm:NAME``.

Each builder declares its hyperparameters through ``hp`` (width, depth,
dropout, init, init_scale; a timm model only dropout) exactly as a user's
task file would, so the same search machinery tunes them.
"""

from __future__ import annotations

from typing import Callable

from models.timm_models import TIMM_PREFIX, build_timm  # --model timm:NAME (timm itself: an optional extra)

BUILTIN_MODELS = ("mlp", "cnn")


def is_builtin(name: str | None) -> bool:
    """Whether ``--model name`` names a built-in model (``timm:NAME`` included)."""
    return name in BUILTIN_MODELS or (name or "").startswith(TIMM_PREFIX) and len(name) > len(TIMM_PREFIX)


def builder(name: str) -> Callable:
    """The build function of a built-in model: ``fn(hp, input_shape, num_classes)``."""
    if name == "mlp":
        from models.mlp import build_mlp
        return build_mlp
    if name == "cnn":
        from models.cnn import build_cnn
        return build_cnn
    if name.startswith(TIMM_PREFIX):
        return build_timm(name.removeprefix(TIMM_PREFIX))
    raise KeyError(name)
