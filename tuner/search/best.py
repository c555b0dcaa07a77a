"""``tune best``: a study's best hyperparameters, in a form ``tune train`` accepts."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import TuneError
from tuner.recipe import Recipe
from tuner.search.result import best_of
from tuner.search.storage import describe_storage, load_named_study, trial_hp

FORMATS = ("json", "toml", "args")


@dataclass
class BestResult:
    """The best completed trial of a study: ``params`` as ``--hp`` accepts them, and
    the flags that name the study's task and seed (from its recipe), so that
    ``tune train`` with :meth:`args` retrains exactly that trial."""

    study: str
    storage: str
    trial: int
    value: float
    params: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def args(self) -> str:
        """``--task … --hp k=v … --seed N``: the ``tune train`` arguments of this trial."""
        return " ".join([*(shlex.quote(f) for f in self.flags), format_best(self.params, "args")]).strip()

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "storage": self.storage, "trial": self.trial,
                "value": self.value, "params": self.params, "args": self.args()}


def best_hyperparameters(out: str | Path, study: str | None = None,
                         storage: str | None = None) -> BestResult:
    """The best trial of ``study`` (default: the most recent study).

    Raises:
        TuneError: no such study, or no completed trial in it.
    """
    loaded, name = load_named_study(out, study, storage)
    best = best_of(loaded)
    if best is None:
        raise TuneError(f"--study {name}: no trial has completed yet",
                        "run more trials, or check why they fail (tune diagnose)")
    made = loaded.user_attrs.get("recipe")
    flags: list[str] = []
    if made is not None:
        recipe = Recipe.from_dict(made)
        flags = [*recipe.flags(), "--seed", str(recipe.seed)]
    return BestResult(name, describe_storage(out, storage), best.number, best.value, trial_hp(best),
                      flags)


def format_best(params: dict[str, Any], fmt: str) -> str:
    """``json`` (an object), ``toml`` (``key = value`` lines) or ``args`` (``--hp k=v ...``)."""
    if fmt == "json":
        return json.dumps(params, indent=2)
    if fmt == "toml":
        return "\n".join(f"{k} = {_toml(v)}" for k, v in params.items() if v is not None)
    if fmt == "args":
        return " ".join(f"--hp {k}={_arg(v)}" for k, v in params.items() if v is not None)
    raise TuneError(f"--format {fmt}: unknown format", f"choose one of {', '.join(FORMATS)}")


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a TOML basic string is JSON-compatible for these values


def _arg(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)
