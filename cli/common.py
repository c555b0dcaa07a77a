"""The flags every command shares, declared once.

``@with_common`` adds ``--task --model --data --hp --seed --device --out
--json`` to a command's signature and hands them to it as one ``common:
Common`` argument. It also turns a :class:`~tuner.errors.TuneError` into a
single ``error: ...`` line on stderr with exit code 2.
"""

from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Optional

import typer

PANEL = "Shared options"


@dataclass(frozen=True)
class Common:
    task: Optional[str]
    model: Optional[str]
    data: Optional[str]
    hp: list[str]
    seed: int
    device: str
    out: str
    json: bool

    def spec(self) -> Any:
        """The :class:`~tuner.task.TaskSpec` these flags name (torch-free)."""
        from tuner.task import TaskSpec

        return TaskSpec(self.task, self.model, self.data)

    def prepare(self) -> Any:
        """Load and check the task with these flags: an :class:`~tuner.experiment.Experiment`."""
        from tuner.experiment import prepare

        return prepare(self.spec(), self.hp, seed=self.seed, device=self.device)


_OPTIONS: dict[str, tuple[Any, Any]] = {
    "task": (Annotated[Optional[str], typer.Option(
        help="Your task: a .py file or module defining build_model(hp) and load_data().",
        rich_help_panel=PANEL)], None),
    "model": (Annotated[Optional[str], typer.Option(
        help="Built-in model when no --task: mlp or cnn. [default: mlp]", rich_help_panel=PANEL)], None),
    "data": (Annotated[Optional[str], typer.Option(
        help="Built-in data when no --task: digits, FILE.npz, FILE.csv or an image folder. "
             "[default: digits]", rich_help_panel=PANEL)], None),
    "hp": (Annotated[Optional[list[str]], typer.Option(
        "--hp", metavar="KEY=VALUE",
        help="Set a hyperparameter (repeatable): lr, optimizer, momentum, beta1, beta2, "
             "weight_decay, batch_size, epochs, schedule, warmup_epochs, normalize, grad_clip, "
             "or one the model declares.", rich_help_panel=PANEL)], None),
    "seed": (Annotated[int, typer.Option(help="Random seed; the same seed repeats a CPU run.",
                                         rich_help_panel=PANEL)], 0),
    "device": (Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=PANEL)], "auto"),
    "out": (Annotated[str, typer.Option(help="Folder for results, plots and studies.",
                                        rich_help_panel=PANEL)], ".tune"),
    "json": (Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.",
                                          rich_help_panel=PANEL)], False),
}


def with_common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``fn(..., common: Common)`` the shared flags and clean bad-input errors."""
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.name != "common"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
              for name, (ann, default) in _OPTIONS.items()]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _OPTIONS}
        values["hp"] = values["hp"] or []
        return run_guarded(lambda: fn(common=Common(**values), **kwargs))

    wrapper.__signature__ = sig.replace(parameters=own + shared)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in own},
                               **{name: ann for name, (ann, _) in _OPTIONS.items()}}
    return wrapper


def fail(message: str, code: int = 2) -> None:
    """Print one ``error:`` line on stderr (never wrapped) and exit ``code`` (2: bad input)."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(code)


def run_guarded(call: Callable[[], Any]) -> Any:
    """Run a command body; bad input becomes one line and exit code 2, a run that
    could not go on (lost storage, killed worker) one line and exit code 1."""
    from tuner.errors import RunError, TuneError

    try:
        code = call()
    except TuneError as e:
        fail(e.one_line())
    except RunError as e:
        fail(e.one_line(), code=1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(130)
    if code:
        raise typer.Exit(int(code))
    return None
