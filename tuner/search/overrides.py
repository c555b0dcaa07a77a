"""``--space KEY=LOW:HIGH[:log]`` and ``--space KEY=a,b,c``: change one range of the space.

A range keeps the kind of the name (``batch_size`` and a model's ``hp.int``
stay whole numbers); choices are parsed the way ``--hp`` parses the name, so
``--space optimizer=sgd,adam`` and ``--space width=64,128`` both work.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from tuner.errors import TuneError
from tuner.hp import ParamSpec
from tuner.params import TRAIN_NAMES, TrainParams, check_params, parse_train_value
from tuner.search.space import TRAIN_SPACE, SearchSpace, resolve_conditions

NOT_SEARCHABLE = {"epochs": "set the epochs per trial with --epochs"}
_TRAIN_KINDS = {f.name: f.type for f in dataclasses.fields(TrainParams)}


def apply_space_args(space: SearchSpace, args: list[str] | None, *,
                     model_space: Mapping[str, ParamSpec], fixed: Mapping[str, Any] = (),
                     train_fixed: Mapping[str, Any] | None = None) -> SearchSpace:
    """``space`` with each ``--space`` flag applied, in order.

    Args:
        model_space: The model's declared hyperparameters (to know names and kinds).
        fixed: Names set with ``--hp``; searching one of them too is an error.
        train_fixed: Training values in force, to resolve conditional names.

    Raises:
        TuneError: a malformed flag, an unknown name, or a value the name cannot take.
    """
    for arg in args or []:
        name, sep, text = arg.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise TuneError(f"--space {arg!r} is not of the form KEY=LOW:HIGH[:log] or KEY=a,b,c",
                            "for example --space lr=1e-4:1e-1:log or --space batch_size=32,64")
        if name in NOT_SEARCHABLE:
            raise TuneError(f"--space {name}: {name} is not searched", NOT_SEARCHABLE[name])
        if name in fixed:
            raise TuneError(f"--space {name}: {name} is also fixed with --hp",
                            f"drop --hp {name}=... to search it, or drop --space {name}")
        spec = model_space.get(name)
        if spec is None and name not in TRAIN_NAMES:
            known = ", ".join([n for n in TRAIN_NAMES if n not in NOT_SEARCHABLE] + sorted(model_space))
            raise TuneError(f"--space {name}: unknown hyperparameter", f"known ones: {known}")
        if ":" in text:
            space = space.set(name, **_parse_range(name, text, spec))
        else:
            space = space.set(name, choices=_parse_choices(name, text, spec))
    # A newly searched conditional name (e.g. momentum) gets its condition back.
    return resolve_conditions(space, train_fixed or {})


def _kind(name: str, spec: ParamSpec | None) -> str:
    if spec is not None:
        return spec.kind
    return {"float": "float", "int": "int"}.get(_TRAIN_KINDS[name], "choice")


def _range_example(name: str, kind: str, spec: ParamSpec | None) -> str:
    """A valid ``LOW:HIGH[:log]`` for ``name``: its declared (or default) range, else a
    typical one of its kind; whole numbers for a whole-number name."""
    known = spec if spec is not None else TRAIN_SPACE.get(name)
    if known is not None and known.kind != "choice":
        low, high, log = known.low, known.high, known.log
    else:
        low, high, log = (16, 256, True) if kind == "int" else (1e-4, 1e-1, True)
    if kind == "int":
        return f"{int(low)}:{int(high)}{':log' if log else ''}"
    return f"{low:g}:{high:g}{':log' if log else ''}"


def _parse_range(name: str, text: str, spec: ParamSpec | None) -> dict[str, Any]:
    parts = [p.strip() for p in text.split(":")]
    log = len(parts) == 3 and parts[2].lower() == "log"
    kind = _kind(name, spec)
    example = (f"for example --space {name}={_range_example(name, kind, spec)}, "
               f"or choices as --space {name}=a,b,c")
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise TuneError(f"--space {name}={text}: a range is LOW:HIGH or LOW:HIGH:log", example)
    if kind == "choice":
        known = spec.options if spec is not None else getattr(TRAIN_SPACE.get(name), "options", None)
        example = ",".join(str(o) for o in known) if known else "a,b,c"
        raise TuneError(f"--space {name}={text}: {name} takes choices, not a range",
                        f"list them: --space {name}={example}")
    try:
        low, high = (int(p) if kind == "int" else float(p) for p in parts[:2])
    except ValueError:
        what = "whole numbers" if kind == "int" else "numbers"
        raise TuneError(f"--space {name}={text}: LOW and HIGH must be {what}", example) from None
    if not low <= high:
        raise TuneError(f"--space {name}={text}: LOW must be <= HIGH")
    if log and low <= 0:
        floor = spec.low if spec is not None and spec.kind != "choice" and spec.low > 0 else 0
        fix = (_range_example(name, kind, spec) if high <= floor else
               f"{max(1, high // 1000, int(floor))}:{high}:log" if kind == "int" else
               f"{max(high / 1000, floor):g}:{high:g}:log")
        raise TuneError(f"--space {name}={text}: a log range needs LOW > 0",
                        f"for example --space {name}={fix}")
    for end in (low, high):
        _check_value(name, end, spec, text)
    return {"low": low, "high": high, "log": log, "kind": kind}


def _parse_choices(name: str, text: str, spec: ParamSpec | None) -> list[Any]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise TuneError(f"--space {name}={text}: no choices given")
    values = []
    for item in items:
        try:
            value = spec.parse(item) if spec is not None else parse_train_value(name, item)
        except TuneError as e:
            raise TuneError(e.message.replace("--hp", "--space", 1), e.hint) from None
        _check_value(name, value, spec, text)
        if value not in values:
            values.append(value)
    return values


def _check_value(name: str, value: Any, spec: ParamSpec | None, text: str) -> None:
    """Reject values no run could use (a negative LR, dropout outside the model's range)."""
    if spec is None:
        try:
            check_params(dataclasses.replace(TrainParams(), **{name: value}))
        except TuneError as e:
            why = e.message.split(": ", 1)[-1]
            raise TuneError(f"--space {name}={text}: {why}") from None
    elif spec.kind != "choice" and not spec.low <= value <= spec.high:
        raise TuneError(f"--space {name}={text}: {value} is outside the range the model "
                        f"declares, [{spec.low}, {spec.high}]",
                        "change the hp declaration in build_model to allow it")
