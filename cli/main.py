"""The ``tune`` app. Registers every command; no torch import happens here."""

from __future__ import annotations

import sys

import typer

from cli.commands import checks, diagnose, lr_range, run, search, status, train

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
for module in (train, checks, lr_range, search, diagnose, run, status):
    module.register(app)


def main() -> None:
    """Entry point: usage mistakes become one ``error:`` line and exit 2."""
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
