"""Built-in models: ``--model mlp`` and ``--model cnn``.

Each builder declares its hyperparameters through ``hp`` (width, depth,
dropout, init, init_scale) exactly as a user's task file would, so the same
search machinery tunes them.
"""

from __future__ import annotations

from typing import Callable

BUILTIN_MODELS = ("mlp", "cnn")


def builder(name: str) -> Callable:
    """The build function of a built-in model: ``fn(hp, input_shape, num_classes)``."""
    if name == "mlp":
        from models.mlp import build_mlp
        return build_mlp
    if name == "cnn":
        from models.cnn import build_cnn
        return build_cnn
    raise KeyError(name)
