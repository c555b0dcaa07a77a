"""The recipe: the one description of an experiment.

A :class:`Recipe` says what to train and how it was fixed: the task (a task
file by absolute path with a hash of its source, a module name with its
source's hash, or the built-in model and data), the pretrained weights it
starts from (a file by absolute path with the SHA-256 of its bytes, or
``hub``), the ``--hp`` values held fixed (typed), the seed, and the tune
version that made it. Everything that
must know "what made this" keeps one: every study (user attribute
``recipe``), every walk (``run/state.json``) and every checkpoint
(``model.pt``). Worker processes receive it instead of re-parsing flags, and
a worker on another machine reads it from the study it joins.

Comparing two recipes (:meth:`Recipe.difference`) names the first thing that
differs; a changed task *source* at the same task is reported separately
(:meth:`Recipe.source_changed`), since a fixed bug is not another experiment.

Torch-free: the CLI builds and compares recipes before paying for torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tuner.errors import TuneError
from tuner.params import TRAIN_NAMES, parse_hp_args, parse_train_value

DEFAULT_MODEL = "mlp"
DEFAULT_DATA = "digits"
HASH_CHARS = 12  # of the sha256 shown to people; the stored hash is whole


def tune_version() -> str:
    """The installed tune's version (``0+unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tune")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class TaskRef:
    """Which task: a task file or module with its source's hash, or built-in model and data.

    ``task`` is an absolute file path or a dotted module name; ``model`` and
    ``data`` are set only when there is no task (``data`` is ``digits`` or an
    absolute path).
    """

    task: str | None = None
    sha256: str | None = None
    model: str | None = None
    data: str | None = None

    @staticmethod
    def of(task: str | None = None, model: str | None = None, data: str | None = None) -> "TaskRef":
        """The reference the flags ``--task/--model/--data`` name, with paths made
        absolute and the task's source hashed (so another folder or machine finds
        the same files and can tell when they changed)."""
        if task:
            if model or data:
                raise TuneError("--task cannot be combined with --model or --data",
                                "a task file brings its own model and data; drop --model/--data")
            if _looks_like_file(task):
                path = Path(task).expanduser()
                if not path.is_file():
                    raise TuneError(f"--task {task}: no such file",
                                    "give the path of a .py file or a module name like pkg.task")
                return TaskRef(task=str(path.resolve()), sha256=file_sha256(path))
            return TaskRef(task=task, sha256=module_sha256(task))
        data = data or DEFAULT_DATA
        if data != DEFAULT_DATA:
            data = str(Path(data).expanduser().resolve())
        return TaskRef(model=model or DEFAULT_MODEL, data=data)

    @property
    def is_file(self) -> bool:
        return self.task is not None and _looks_like_file(self.task)

    def describe(self) -> str:
        """``task /path/wine.py`` or ``mlp on digits``: how people name it."""
        if self.task:
            return f"task {self.task}"
        data = self.data or DEFAULT_DATA
        return f"{self.model or DEFAULT_MODEL} on {data}"

    def label(self) -> str:
        """A short name for titles: the task file's name, or ``mlp on digits``."""
        if self.task:
            return Path(self.task).name if self.is_file else self.task
        data = self.data or DEFAULT_DATA
        return f"{self.model or DEFAULT_MODEL} on {Path(data).name}"

    def flags(self) -> list[str]:
        """The command-line flags that name this task again."""
        if self.task:
            return ["--task", self.task]
        return ["--model", self.model or DEFAULT_MODEL, "--data", self.data or DEFAULT_DATA]

    def current_sha256(self) -> str | None:
        """The hash of the task's source as it is now (None if it cannot be read)."""
        if not self.task:
            return None
        try:
            return file_sha256(Path(self.task)) if self.is_file else module_sha256(self.task)
        except (OSError, TuneError):
            return None


HUB = "hub"


@dataclass(frozen=True)
class WeightsRef:
    """Which pretrained weights: a file (absolute path and the SHA-256 of its bytes),
    or ``hub`` (the weights timm publishes for a ``--model timm:NAME``).

    The bytes, not the path, make the experiment: the same file elsewhere (another
    machine's copy) is the same start, another file at the same path is not.
    """

    source: str
    sha256: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.source == HUB

    @staticmethod
    def of(text: str, model: str | None = None) -> "WeightsRef":
        """The reference ``--pretrained TEXT`` names: the file made absolute and hashed.

        Raises:
            TuneError: no such file; ``hub`` without a ``--model timm:NAME``.
        """
        if text.strip().lower() == HUB:
            if not (model or "").startswith("timm:"):
                raise TuneError("--pretrained hub needs --model timm:NAME",
                                "the hub holds timm's weights; for your own model give a weights "
                                "file: --pretrained model.pt")
            return WeightsRef(HUB)
        path = Path(text).expanduser()
        if not path.is_file():
            raise TuneError(f"--pretrained {text}: no such file",
                            "give a model.pt from tune train, or a state_dict saved as .pt, .pth "
                            "or .safetensors (or hub with --model timm:NAME)")
        return WeightsRef(str(path.resolve()), file_sha256(path))

    def describe(self) -> str:
        """``pretrained /abs/model.pt (sha256 0123456789ab)`` or ``pretrained hub``."""
        if self.is_hub:
            return "pretrained hub"
        return f"pretrained {self.source} (sha256 {(self.sha256 or '?')[:HASH_CHARS]})"

    def same(self, other: "WeightsRef | None") -> bool:
        """The same weights: both the hub, or files with the same bytes."""
        if other is None or self.is_hub != other.is_hub:
            return False
        return self.is_hub or self.sha256 == other.sha256

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256}

    @staticmethod
    def from_dict(d: Mapping[str, Any] | None) -> "WeightsRef | None":
        if d is None:
            return None
        return WeightsRef(str(d["source"]), d.get("sha256"))


@dataclass(frozen=True)
class Recipe:
    """What an experiment is: the task, the fixed hyperparameters, the seed, the version.

    ``hp`` maps each ``--hp`` name to its value: typed (``int``, ``float``,
    ``bool``, ``str``) once :func:`~tuner.experiment.prepare` has read the
    model's declarations, raw text for model names before that.
    ``pretrained`` is the weights the model starts from (None: its own initialisation).
    """

    task: TaskRef = field(default_factory=TaskRef)
    hp: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    version: str = field(default_factory=tune_version)
    pretrained: WeightsRef | None = None

    @staticmethod
    def from_flags(task: str | None = None, model: str | None = None, data: str | None = None,
                   hp: list[str] | None = None, seed: int = 0,
                   pretrained: str | None = None) -> "Recipe":
        """The recipe the command-line flags describe (training names typed already)."""
        if seed < 0:
            raise TuneError(f"--seed {seed}: must be 0 or more", "for example --seed 0")
        raw = parse_hp_args(hp)
        typed = {k: parse_train_value(k, v) if k in TRAIN_NAMES else v for k, v in raw.items()}
        ref = TaskRef.of(task, model, data)
        weights = WeightsRef.of(pretrained, ref.model) if pretrained else None
        return Recipe(ref, typed, seed, pretrained=weights)

    def with_hp(self, values: Mapping[str, Any]) -> "Recipe":
        """This recipe with ``values`` fixed too (they win over the ones it has)."""
        return dataclasses.replace(self, hp={**self.hp, **values})

    def with_task(self, task: TaskRef) -> "Recipe":
        return dataclasses.replace(self, task=task)

    def with_pretrained(self, weights: WeightsRef | None) -> "Recipe":
        return dataclasses.replace(self, pretrained=weights)

    def flags(self) -> list[str]:
        """The flags that name this task and its starting weights again
        (``--task``/``--model --data``, ``--pretrained``); not ``--hp`` or ``--seed``."""
        weights = [] if self.pretrained is None else ["--pretrained", self.pretrained.source]
        return [*self.task.flags(), *weights]

    # --- comparing --------------------------------------------------------------
    def difference(self, other: "Recipe") -> str | None:
        """The first difference that makes ``other`` another experiment, in words,
        or None. The seed and version do not count (workers may differ in both),
        nor does a changed source of the same task file (see :meth:`source_changed`)."""
        a, b = self.task, other.task
        if (a.task is None) != (b.task is None):
            return "the task differs"
        if a.task is not None and a.task != b.task and a.sha256 != b.sha256:
            return "the task differs"
        if a.model != b.model:
            return "the model differs"
        if a.data != b.data:
            return "the data differs"
        if (self.pretrained is None) != (other.pretrained is None) or (
                self.pretrained is not None and not self.pretrained.same(other.pretrained)):
            return "the pretrained weights differ"
        for name in sorted(set(self.hp) | set(other.hp)):
            if not _same_value(self.hp.get(name), other.hp.get(name)):
                return f"--hp {name} differs"
        return None

    def source_changed(self, other: "Recipe") -> bool:
        """Whether ``other`` runs the same task file with another source."""
        return (self.task.task is not None and self.task.sha256 is not None
                and other.task.sha256 is not None and self.task.sha256 != other.task.sha256)

    # --- words and files --------------------------------------------------------------
    def describe(self) -> str:
        """One line: the task, its source hash, the fixed hyperparameters."""
        parts = [self.task.describe()]
        if self.task.sha256:
            parts[0] += f" (source {self.task.sha256[:HASH_CHARS]})"
        if self.pretrained is not None:
            parts.append(self.pretrained.describe())
        if self.hp:
            parts.append(" ".join(f"--hp {k}={_text(v)}" for k, v in sorted(self.hp.items())))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: what studies, walks and checkpoints store."""
        return {"task": self.task.task, "task_sha256": self.task.sha256, "model": self.task.model,
                "data": self.task.data, "hp": dict(sorted(self.hp.items())), "seed": self.seed,
                "tune_version": self.version,
                "pretrained": None if self.pretrained is None else self.pretrained.to_dict()}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "Recipe":
        """The inverse of :meth:`to_dict`; raises TuneError on something else."""
        try:
            ref = TaskRef(d.get("task"), d.get("task_sha256"), d.get("model"), d.get("data"))
            return Recipe(ref, dict(d.get("hp") or {}), int(d.get("seed") or 0),
                          str(d.get("tune_version") or "0+unknown"),
                          WeightsRef.from_dict(d.get("pretrained")))
        except (AttributeError, TypeError, ValueError, KeyError):
            raise TuneError("the stored recipe is not readable",
                            "it was written by another program or damaged") from None


def _same_value(a: Any, b: Any) -> bool:
    """Equal, treating raw text and the value it spells (``"64"`` and ``64``) alike."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    return _text(a).lower() == _text(b).lower()


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def _looks_like_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or Path(target).exists()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_sha256(name: str) -> str | None:
    """The hash of a module's source file, found without importing the module
    itself (its parent packages are imported); None if it has no file."""
    import sys

    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    except Exception:  # a parent package that fails to import: loading the task says why
        return None
    if spec is None:
        raise TuneError(f"--task {name}: no module named {name!r}",
                        "give a .py path, or run from the folder that holds the package")
    origin = getattr(spec, "origin", None)
    if not origin or not Path(origin).is_file():
        return None
    return file_sha256(Path(origin))
