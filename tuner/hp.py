"""The ``hp`` object handed to ``build_model(hp)``.

A model declares its own hyperparameters by asking for them::

    width = hp.int("width", 16, 1024, log=True, default=128)
    act = hp.choice("act", ["relu", "gelu"])

Outside a search each call returns the ``--hp name=value`` override if there is
one, else ``default``, else the middle of the range (geometric when ``log``).
The range is a bound: ``--hp`` outside it is an error, unless the declaration
says ``strict=False`` (the range is then only where a search looks, and the
model itself checks what it can build).
Inside a search the same calls become Optuna suggestions, so writing the model
is declaring the search space. Every call is recorded in ``hp.declared`` (the
space) and ``hp.values`` (what this build used).

Torch-free on purpose: the CLI can parse against a space without importing torch.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

from tuner.errors import TuneError
from tuner.params import parse_bool

Kind = Literal["int", "float", "choice"]
# What a hyperparameter does, as far as a diagnosis cares: raising a "capacity"
# name makes the model bigger, raising a "regularization" name regularises it more.
# The diagnosis policy (tuner.diagnose.policy) moves only names with a role.
ROLES = ("capacity", "regularization")


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter: its kind, range or options, and default.

    ``search=False`` marks a setting that ``--hp`` can change but a search
    leaves at its default (for example the built-in models' ``init``).
    ``role`` (``capacity`` or ``regularization``) tells the diagnosis policy
    which way to move it against overfitting or underfitting; numeric names only
    (a number, or a choice of numbers). ``descending`` says that a *smaller*
    value means more of the role (a crop's area fraction: less area, stronger
    augmentation).
    ``strict=False`` lets ``--hp`` give a number outside ``[low, high]`` (by
    default that is an error); searches still stay inside the range.
    """

    name: str
    kind: Kind
    low: builtins.float | None = None
    high: builtins.float | None = None
    log: bool = False
    options: tuple[Any, ...] | None = None
    default: Any = None
    search: bool = True
    strict: bool = True
    role: str | None = None
    descending: bool = False

    def __post_init__(self) -> None:
        numeric = self.kind != "choice" or all(  # bools order too: off < on
            isinstance(o, (builtins.int, builtins.float)) for o in self.options or ())
        if self.role is not None and (self.role not in ROLES or not numeric):
            raise TuneError(f"hp.{self.kind}({self.name!r}, role={self.role!r}): role must be one of "
                            f"{', '.join(ROLES)}, on a number")
        if self.kind == "choice":
            if not self.options:
                raise TuneError(f"hp.choice({self.name!r}) needs at least one option")
            if self.default is not None and self.default not in self.options:
                raise TuneError(f"hp.choice({self.name!r}): default {self.default!r} "
                                f"is not one of {list(self.options)}")
            return
        if self.low is None or self.high is None or not self.low <= self.high:
            raise TuneError(f"hp.{self.kind}({self.name!r}): low must be <= high, "
                            f"got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise TuneError(f"hp.{self.kind}({self.name!r}, log=True): low must be > 0")
        if self.default is not None and not self.low <= self.default <= self.high:
            raise TuneError(f"hp.{self.kind}({self.name!r}): default {self.default} "
                            f"is outside [{self.low}, {self.high}]")

    def default_value(self) -> Any:
        """``default`` if given, else the middle of the range (or the first option)."""
        if self.default is not None:
            return self.default
        if self.kind == "choice":
            return self.options[0]
        mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return builtins.int(round(mid)) if self.kind == "int" else mid

    def parse(self, text: str) -> Any:
        """Convert the text of ``--hp name=text`` to a value of this parameter,
        inside the declared range unless ``strict=False``."""
        if self.kind in ("int", "float"):
            try:
                value = builtins.int(text) if self.kind == "int" else builtins.float(text)
            except ValueError:
                raise TuneError(f"--hp {self.name}={text}: {self.name} must be "
                                f"{'a whole number' if self.kind == 'int' else 'a number'}") from None
            if not math.isfinite(value):
                raise TuneError(f"--hp {self.name}={text}: {self.name} must be a finite number",
                                f"give a value in [{_fmt(self.low)}, {_fmt(self.high)}]")
            if self.strict and not self.low <= value <= self.high:
                raise TuneError(f"--hp {self.name}={text}: outside the range the model declares, "
                                f"[{_fmt(self.low)}, {_fmt(self.high)}]",
                                f"give a value in that range, or declare hp.{self.kind}({self.name!r}, "
                                f"..., strict=False) in build_model to allow values outside it")
            return value
        for option in self.options or ():
            if str(option).lower() == text.lower():
                return option
            if isinstance(option, bool):
                try:
                    if parse_bool(text) == option:
                        return option
                except ValueError:
                    pass
            elif isinstance(option, (builtins.int, builtins.float)):
                try:
                    if builtins.float(text) == option:
                        return option
                except ValueError:
                    pass
        raise TuneError(f"--hp {self.name}={text}: {self.name} must be one of "
                        f"{', '.join(str(o) for o in self.options or ())}")

    def to_dict(self, *, declaration: bool = False) -> dict[str, Any]:
        """``{kind, choices}`` or ``{kind, low, high, log}`` (a search range); with
        ``declaration``, also ``role`` and ``strict`` when set (a declaration, as
        studies and histories keep it for the diagnosis policy)."""
        if self.kind == "choice":
            d: dict[str, Any] = {"kind": "choice", "choices": list(self.options or ())}
        else:
            d = {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log}
        if declaration:
            d.update({"role": self.role} if self.role is not None else {})
            d.update({} if self.strict else {"strict": False})
            d.update({"descending": True} if self.descending else {})
        return d

    @staticmethod
    def from_dict(name: str, d: Mapping[str, Any]) -> "ParamSpec":
        """The inverse of :meth:`to_dict` (``default`` and ``search`` are not kept)."""
        extra = {"strict": bool(d.get("strict", True)), "role": d.get("role"),
                 "descending": bool(d.get("descending", False))}
        if d["kind"] == "choice":
            return ParamSpec(name, "choice", options=tuple(d["choices"]), **extra)
        return ParamSpec(name, d["kind"], d["low"], d["high"], bool(d.get("log")), **extra)


Suggest = Callable[[ParamSpec], Any]


@dataclass
class HP:
    """Hyperparameter source for ``build_model(hp)``.

    Args:
        fixed: Values that win over everything (``--hp`` overrides); raw text
            is parsed by the declaring spec, so one build both discovers the
            space and applies the overrides.
        suggest: Inside a search, turns a spec into a value (an Optuna
            suggestion); ``None`` outside a search.
    """

    fixed: Mapping[str, Any] = field(default_factory=dict)
    suggest: Suggest | None = None
    declared: dict[str, ParamSpec] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def int(self, name: str, low: builtins.int, high: builtins.int, *, log: bool = False,
            default: builtins.int | None = None, search: bool = True,
            strict: bool = True, role: str | None = None) -> builtins.int:
        """A whole number in ``[low, high]`` (``strict=False``: ``--hp`` may leave it);
        ``role`` is ``capacity`` or ``regularization``."""
        return self._resolve(ParamSpec(name, "int", low, high, log, None, default, search, strict,
                                       role))

    def float(self, name: str, low: builtins.float, high: builtins.float, *, log: bool = False,
              default: builtins.float | None = None, search: bool = True,
              strict: bool = True, role: str | None = None) -> builtins.float:
        """A real number in ``[low, high]`` (``strict=False``: ``--hp`` may leave it);
        ``role`` is ``capacity`` or ``regularization``."""
        return self._resolve(ParamSpec(name, "float", low, high, log, None, default, search, strict,
                                       role))

    def choice(self, name: str, options: Sequence[Any], *, default: Any = None,
               search: bool = True) -> Any:
        """One of ``options``."""
        return self._resolve(ParamSpec(name, "choice", None, None, False,
                                       tuple(options), default, search))

    def _resolve(self, spec: ParamSpec) -> Any:
        if spec.name in self.values:
            if self.declared[spec.name] != spec:
                raise TuneError(f"hp {spec.name!r} is declared twice with different ranges",
                                "give each hyperparameter one declaration")
            return self.values[spec.name]
        self.declared[spec.name] = spec
        if spec.name in self.fixed:
            value = self.fixed[spec.name]
            if isinstance(value, str) and not (spec.kind == "choice" and value in spec.options):
                value = spec.parse(value)  # raw text from --hp
        elif self.suggest is not None and spec.search:
            value = self.suggest(spec)
        else:
            value = spec.default_value()
        self.values[spec.name] = value
        return value


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, builtins.float) else str(v)
