"""Load what to train: a user's task file, or the built-in model and data.

A task file (``--task path/to/file.py`` or ``--task package.module``) defines

* ``build_model(hp) -> torch.nn.Module``
* ``load_data() -> (train, val)``, each a Dataset of ``(x, y)`` or an ``(X, y)`` pair
* optionally ``loss_fn(outputs, targets)`` (default cross-entropy),
  ``num_classes`` (default: inferred from the labels), ``class_names``, and
  ``head``: the classifier head that ``--pretrained`` replaces and
  ``freeze`` trains (a module name or a function of the model; default:
  :func:`tuner.transfer.head.find_head`).

Without ``--task``, ``--model mlp|cnn`` (default mlp) trains on
``--data digits|FILE.npz|FILE.csv|DIR`` (default digits).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from tuner.data import Data, DatasetData, TensorData
from tuner.errors import TuneError, describe_exception
from tuner.recipe import TaskRef

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Task:
    """A model family and its data, ready for the engine."""

    ref: TaskRef
    build_model: Callable[[Any], torch.nn.Module]
    train: Data
    val: Data
    num_classes: int
    loss_fn: LossFn
    builtin_data: bool
    class_names: list[str] | None = None
    head: Any = None  # the task file's ``head`` (a module name or a function of the model), if any

    def classes(self) -> list[str]:
        """The class names, or ``0``…``C-1``."""
        names = self.class_names
        if names and len(names) == self.num_classes:
            return [str(n) for n in names]
        return [str(i) for i in range(self.num_classes)]


def load_task(ref: TaskRef) -> Task:
    """Load and check a task: data converted, labels in range, loss chosen."""
    if ref.task:
        return _task_from_module(ref, import_task_module(ref.task))
    return _builtin_task(ref)


def _builtin_task(spec: TaskRef) -> Task:
    from models import BUILTIN_MODELS, builder, is_builtin
    from tuner.sources import load_source

    name = spec.model or "mlp"
    if not is_builtin(name):
        raise TuneError(f"--model {name}: unknown model",
                        f"choose one of {', '.join(BUILTIN_MODELS)}, or bring your own with --task")
    train, val, names = load_source(spec.data or "digits")
    num_classes = int(max(train.y.max(), val.y.max())) + 1
    check_labels(train, val, num_classes)
    shape = tuple(train.x.shape[1:])
    build = builder(name)
    return Task(spec, lambda hp: build(hp, shape, num_classes), train, val, num_classes,
                F.cross_entropy, builtin_data=True, class_names=names)


def load_builder(ref: TaskRef, input_shape: tuple[int, ...],
                 num_classes: int) -> Callable[[Any], torch.nn.Module]:
    """The ``build_model(hp)`` of a task without loading its data: for rebuilding
    a model from a checkpoint (which knows the input shape and class count).

    A task's model whose Linear head has another width than ``num_classes`` (one
    built with a source's classes, trained with ``--pretrained``) gets the head
    swap its training had (:func:`~tuner.transfer.head.fit_head`)."""
    if ref.task:
        module = import_task_module(ref.task)
        if not callable(getattr(module, "build_model", None)):
            raise TuneError(f"--task {ref.task}: missing function build_model",
                            "define build_model(hp) in the task file")
        return lambda hp: _with_head_fitted(module.build_model(hp), getattr(module, "head", None),
                                            num_classes)
    from models import BUILTIN_MODELS, builder, is_builtin

    if not is_builtin(ref.model):
        raise TuneError(f"--model {ref.model}: unknown model",
                        f"choose one of {', '.join(BUILTIN_MODELS)}, or bring your own with --task")
    build = builder(ref.model)
    return lambda hp: build(hp, tuple(input_shape), num_classes)


def _with_head_fitted(model: Any, head_spec: Any, num_classes: int) -> Any:
    from tuner.transfer.head import find_head, fit_head

    if isinstance(model, torch.nn.Module):
        try:
            fit_head(model, find_head(model, head_spec), num_classes)
        except TuneError:
            pass  # no head to fit: loading the weights says what does not match
    return model


def import_task_module(target: str) -> ModuleType:
    """Import a task by file path or dotted module name, as Python would run it."""
    path = Path(target)
    looks_like_file = target.endswith(".py") or "/" in target or path.exists()
    try:
        if looks_like_file:
            if not path.is_file():
                raise TuneError(f"--task {target}: no such file",
                                "give the path of a .py file or a module name like pkg.task")
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # so the task can import its neighbours
            name = f"tune_task_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
            return module
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        return importlib.import_module(target)
    except TuneError:
        raise
    except ModuleNotFoundError as e:
        if not looks_like_file and e.name and target.startswith(e.name):
            raise TuneError(f"--task {target}: no module named {e.name!r}",
                            "give a .py path, or run from the folder that holds the package") from None
        raise TuneError(f"--task {target} failed to import: {describe_exception(e)}",
                        "install the missing module or fix the import") from None
    except Exception as e:  # the user's code: report it, do not crash
        raise TuneError(f"--task {target} failed to import: {describe_exception(e)}",
                        "fix the task file; run it with python to see the full traceback") from None


def call_user(fn: Callable, what: str, *args: Any) -> Any:
    """Call a task function; turn its exceptions into a TuneError naming it."""
    try:
        return fn(*args)
    except TuneError:
        raise
    except Exception as e:
        raise TuneError(f"{what} raised {describe_exception(e)}",
                        f"fix {what} in the task file") from None


def build_user_model(build: Callable, hp: Any) -> torch.nn.Module:
    """``build(hp)``, the task's ``build_model``: its exceptions, and anything but an
    ``nn.Module`` back, as one TuneError naming it."""
    model = call_user(build, "build_model(hp)", hp)
    if not isinstance(model, torch.nn.Module):
        raise TuneError(f"build_model(hp) returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _task_from_module(spec: TaskRef, module: ModuleType) -> Task:
    missing = [f for f in ("build_model", "load_data") if not callable(getattr(module, f, None))]
    if missing:
        raise TuneError(f"--task {spec.task}: missing function {' and '.join(missing)}",
                        "define build_model(hp) and load_data() in the task file")
    loaded = call_user(module.load_data, "load_data()")
    if not isinstance(loaded, (tuple, list)) or len(loaded) != 2:
        raise TuneError("load_data() must return (train, val)",
                        "return two Datasets, or two (X, y) pairs")
    train, val = (to_data(part, f"load_data() {which}") for part, which in zip(loaded, ("train", "val")))
    if len(train) == 0 or len(val) == 0:
        raise TuneError("load_data() returned an empty split", "both train and val need samples")
    declared = getattr(module, "num_classes", None)
    if declared is not None and (not isinstance(declared, int) or declared < 1):
        raise TuneError(f"num_classes = {declared!r} in the task file is not a positive int")
    num_classes = declared or int(max(train.labels().max(), val.labels().max())) + 1
    check_labels(train, val, num_classes)
    loss_fn = getattr(module, "loss_fn", None) or F.cross_entropy
    return Task(spec, module.build_model, train, val, num_classes, loss_fn, builtin_data=False,
                class_names=getattr(module, "class_names", None), head=getattr(module, "head", None))


def to_data(part: Any, where: str) -> Data:
    """A Dataset stays a Dataset; an ``(X, y)`` pair becomes in-memory tensors."""
    if isinstance(part, Dataset) or (hasattr(part, "__getitem__") and hasattr(part, "__len__")
                                     and not isinstance(part, (tuple, list))):
        if len(part) == 0:
            return DatasetData(part)
        sample = part[0]
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise TuneError(f"{where}: the Dataset must yield (x, y) pairs")
        return DatasetData(part)
    if isinstance(part, (tuple, list)) and len(part) == 2:
        x, y = (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v for v in part)
        if len(x) != len(y):
            raise TuneError(f"{where}: X has {len(x)} samples but y has {len(y)}")
        if y.dim() != 1 or y.is_floating_point() and not torch.equal(y, y.round()):
            raise TuneError(f"{where}: y must be a 1-D tensor of class indices")
        x = x.float() if not x.is_floating_point() else x
        return TensorData(x, y.long())
    raise TuneError(f"{where} is a {type(part).__name__}",
                    "return a torch Dataset yielding (x, y), or an (X, y) pair of tensors")


def check_labels(train: Data, val: Data, num_classes: int) -> None:
    for name, data in (("train", train), ("val", val)):
        labels = data.labels()
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise TuneError(f"{name} labels run from {low} to {high}, outside [0, {num_classes})",
                            "labels must be class indices 0..C-1; remap them or set num_classes")
