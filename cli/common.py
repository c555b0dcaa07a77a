"""The flags every command shares, declared once.

``@with_common`` adds ``--task --model --data --pretrained --hp --seed
--device --out --json`` to a command's signature and hands them to it as one ``common:
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
    seed: Optional[int]
    device: str
    out: str
    json: bool
    threads: Optional[str] = None  # commands that train: --threads N|auto
    pretrained: Optional[str] = None

    @property
    def names_experiment(self) -> bool:
        """Whether any flag says what to train (otherwise a stored recipe may)."""
        return bool(self.task or self.model or self.data or self.hp or self.seed is not None
                    or self.pretrained)

    def recipe(self) -> Any:
        """The :class:`~tuner.recipe.Recipe` these flags describe (torch-free)."""
        from tuner.recipe import Recipe

        return Recipe.from_flags(self.task, self.model, self.data, self.hp, self.seed or 0,
                                 self.pretrained)

    def prepare(self, recipe: Any = None) -> Any:
        """Load and check ``recipe`` (default: the flags' one): an
        :class:`~tuner.experiment.Experiment`.

        An ``--out`` that cannot be written is refused first, not after the work.
        """
        from tuner.experiment import prepare
        from tuner.outdir import check_writable
        from tuner.threads import choose_threads, parse_threads

        check_writable(self.out)
        requested = None if self.threads is None else parse_threads(self.threads)
        exp = prepare(recipe if recipe is not None else self.recipe(), self.device)
        if self.threads is not None:
            exp.threads = choose_threads(exp, requested)
        if exp.pretrained is not None and not self.json:
            from cli.output import err

            err.print(f"pretrained: {exp.pretrained.summary()}", soft_wrap=True)
        return exp


_OPTIONS: dict[str, tuple[Any, Any]] = {
    "task": (Annotated[Optional[str], typer.Option(
        help="Your task: a .py file or module defining build_model(hp) and load_data(). "
             "\\[default: none: the built-in --model on --data]",
        rich_help_panel=PANEL)], None),
    "model": (Annotated[Optional[str], typer.Option(
        help="Built-in model when no --task: mlp, cnn, or timm:NAME (any timm architecture; "
             "pip install 'tune\\[timm]'). \\[default: mlp]", rich_help_panel=PANEL)], None),
    "data": (Annotated[Optional[str], typer.Option(
        help="Built-in data when no --task: digits, FILE.npz, FILE.csv or an image folder. "
             "\\[default: digits]", rich_help_panel=PANEL)], None),
    "pretrained": (Annotated[Optional[str], typer.Option(
        metavar="FILE|hub",
        help="Start from these weights: a model.pt from tune train/run, or a state_dict "
             "(.pt, .pth, .safetensors); every tensor whose name and shape match is loaded and "
             "the classifier head is re-initialised when it does not fit. hub: timm's weights "
             "for --model timm:NAME (needs the network). \\[default: none: the model's own "
             "initialisation]", rich_help_panel=PANEL)], None),
    "hp": (Annotated[Optional[list[str]], typer.Option(
        "--hp", metavar="KEY=VALUE",
        help="Set a hyperparameter (repeatable): lr, optimizer, momentum, beta1, beta2, "
             "weight_decay, batch_size, epochs, schedule, warmup_epochs, normalize, grad_clip, "
             "freeze, backbone_lr, probe_epochs, or one the model declares. \\[default: none]",
        rich_help_panel=PANEL)], None),
    "seed": (Annotated[Optional[int], typer.Option(
        min=0, help="Random seed (0 or more); the same seed repeats a CPU run. \\[default: 0]",
        rich_help_panel=PANEL)], None),
    "device": (Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=PANEL)], "auto"),
    "out": (Annotated[str, typer.Option(help="Folder for results, plots and studies.",
                                        rich_help_panel=PANEL)], ".tune"),
    "json": (Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.",
                                          rich_help_panel=PANEL)], False),
}


# Only for the commands that train (with_common(trains=True)).
_TRAINING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "threads": (Annotated[str, typer.Option(
        metavar="N|auto",
        help="CPU threads torch trains with. auto measures a few training steps at 1 thread and "
             "at every core and keeps the faster (OMP_NUM_THREADS, when set, wins).",
        rich_help_panel=PANEL)], "auto"),
}


def with_common(fn: Callable[..., Any] | None = None, *,
                trains: bool = False) -> Callable[..., Any]:
    """Give ``fn(..., common: Common)`` the shared flags (and ``--threads`` when the
    command ``trains``) and clean bad-input errors."""
    if fn is None:
        return functools.partial(with_common, trains=trains)
    options = {**_OPTIONS, **(_TRAINING_OPTIONS if trains else {})}
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.name != "common"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
              for name, (ann, default) in options.items()]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in options}
        values["hp"] = values["hp"] or []
        return run_guarded(lambda: fn(common=Common(**values), **kwargs))

    wrapper.__signature__ = sig.replace(parameters=own + shared)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in own},
                               **{name: ann for name, (ann, _) in options.items()}}
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
