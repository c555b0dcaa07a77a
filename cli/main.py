"""The ``tune`` app. Registers every command; no torch import happens here."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable

import typer

from cli.commands import checks, diagnose, evaluate, lr_range, run, search, status, train, transfer
from tuner.errors import TuneWarning

app = typer.Typer(
    name="tune",
    help="A disciplined hyperparameter-tuning procedure for PyTorch models: "
         "check-init → check-loss → overfit-small → lr-range → search --coarse → "
         "search --fine → diagnose, or all of it with `tune run`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)



@app.callback()
def root() -> None:
    """Keep `tune` a group of commands, even while it has only one."""


# In the order of the procedure, so `tune --help` reads as the walk.
for module in (train, checks, transfer, lr_range, search, diagnose, run, evaluate, status):
    module.register(app)


def warning_printer(fallback: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints the library's
    :class:`~tuner.errors.TuneWarning` as one ``warning: ...`` line on stderr and
    hands any other warning to ``fallback`` (Python's own display)."""
    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, TuneWarning):
            sys.stderr.write(f"warning: {' '.join(str(message).split())}\n")
        else:
            fallback(message, category, *args, **kwargs)
    return show


def main() -> None:
    """Entry point: usage mistakes become one ``error:`` line and exit 2; the
    library's warnings become ``warning:`` lines."""
    with warnings.catch_warnings():
        # Once per message, as Python's default does; entering catch_warnings forgets
        # what an earlier command (in the same process, e.g. tests) already showed.
        warnings.simplefilter("default", TuneWarning)
        warnings.showwarning = warning_printer(warnings.showwarning)
        _main()


def _main() -> None:
    try:
        code = app(standalone_mode=False)
    except Exception as e:
        # Typer's usage errors (click's, vendored or not): a bad flag or value.
        if hasattr(e, "format_message") and getattr(e, "exit_code", None) == 2:
            ctx = getattr(e, "ctx", None)
            where = f"tune {ctx.info_name}" if ctx is not None and ctx.info_name != "tune" else "tune"
            sys.stderr.write(f"error: {' '.join(e.format_message().split())} (see {where} --help)\n")
            sys.exit(2)
        if type(e).__name__ == "Abort":
            sys.stderr.write("interrupted\n")
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
