"""``tune lr-range``: decade probe, repeated LR range test, a suggestion with its range."""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options at runtime, through @with_common's signature (with it, every help is lost).

from typing import Annotated, Optional

import typer
from rich.table import Table

from cli.common import Common, with_common
from cli.output import files_line, out, print_json, progress

OUTCOME_STYLE = {"drops": "green", "flat": "dim", "exploded": "bold red"}


def register(app: typer.Typer) -> None:
    @app.command("lr-range")
    @with_common(trains=True)
    def lr_range_cmd(
        common: Common,
        probe: Annotated[Optional[list[str]], typer.Option(
            "--probe", metavar="LR[,LR...]",
            help="Learning rates of the decade probe, comma-separated or repeated; it extends "
                 "past an end that trains best and adds half decades around the best. "
                 "\\[default: 1e-1,1e-2,1e-3,1e-4,1e-5]")] = None,
        probe_iters: Annotated[Optional[int], typer.Option(
            help="Training steps at each probe LR. \\[default: the steps of 3 epochs (a coarse "
                 "search trial), at most 2000]")] = None,
        iters: Annotated[Optional[int], typer.Option(
            help="Iterations of each range-test sweep. \\[default: 100]")] = None,
        repeats: Annotated[Optional[int], typer.Option(
            help="Sweeps, each with its own seed; the suggestion is their median in log space. "
                 "\\[default: 3]")] = None,
        start_lr: Annotated[Optional[float], typer.Option(help="First LR of the sweep. \\[default: 1e-7]")] = None,
        end_lr: Annotated[Optional[float], typer.Option(help="Last LR of the sweep. \\[default: 10]")] = None,
    ) -> int:
        """Find a learning rate: a decade probe, then a repeated range test; saves lr_range.json/.png."""
        from tuner.lr_range import PROBE_LRS, lr_range, parse_lrs
        from tuner.lr_range import run as defaults
        from tuner.lr_range.run import check_settings

        # Unset flags take the library's defaults (the numbers in the help repeat them for people).
        probe_lrs = parse_lrs(probe) if probe else PROBE_LRS
        iters = defaults.DEFAULT_ITERS if iters is None else iters
        repeats = defaults.DEFAULT_REPEATS if repeats is None else repeats
        start_lr = defaults.START_LR if start_lr is None else start_lr
        end_lr = defaults.END_LR if end_lr is None else end_lr
        check_settings(probe_lrs, iters, repeats, start_lr, end_lr, probe_iters)  # before loading anything
        exp = common.prepare()
        with progress(not common.json) as bar:
            jobs: dict[str, int] = {}

            def on_progress(phase: str, done: int, total: int) -> None:
                if phase not in jobs:
                    jobs[phase] = bar.add_task(phase, total=total, status="")
                bar.update(jobs[phase], completed=done)

            result = lr_range(exp, probe_lrs=probe_lrs, iters=iters, repeats=repeats, start_lr=start_lr,
                              end_lr=end_lr, probe_iters=probe_iters, out=common.out, on_progress=on_progress)
        if common.json:
            print_json(result, exp)
        else:
            render(result)
        return 0 if result.measured else 1  # no LR made the loss fall: nothing to centre a search on


def probe_table(result) -> Table:
    table = Table(title=f"decade probe: {result.settings['probe_iters']} steps per LR",
                  title_justify="left")
    for col in ("lr", "outcome", "drop"):
        table.add_column(col, justify="right" if col != "outcome" else "left")
    for r in result.probe:
        drop = "—" if r.drop is None else f"{r.drop:+.1%}"
        table.add_row(f"{r.lr:g}", f"[{OUTCOME_STYLE[r.outcome]}]{r.outcome}[/]", drop)
    return table


def curve_plot(result):
    """The median sweep in the terminal, with the suggestion and the range marked."""
    from cli.textplot import log_x_plot
    from tuner.lr_range.curve import median_curve

    mid = median_curve(result.curves)
    start = mid.loss[0] if mid.loss else None
    return log_x_plot(mid.lr, mid.loss, markers=[result.suggested_lr], span=tuple(result.range),
                      y_cap=None if start is None else start * 1.3)


def render(result) -> None:
    out.print(probe_table(result))
    out.print()
    out.print(f"[bold]range test[/] ({result.optimizer}, median of {result.settings.get('repeats')} "
              f"sweeps × {result.settings.get('iters')} iterations; │ suggestion, ═ search range)")
    out.print(curve_plot(result))
    out.print()
    low, high = result.range
    out.print(f"suggested lr [bold green]{result.suggested_lr:.3g}[/]   "
              f"search range [bold]{low:.3g} – {high:.3g}[/]   "
              f"range tests' spread {result.spread_decades:.2f} decades")
    sweeps = ", ".join("—" if v is None else f"{v:.3g}" for v in result.sweep_estimates)
    source = {"probe": "the probe's best LR, refined between its neighbours",
              "sweep": "the range tests' (no probe LR made the loss drop)",
              "configured": "the configured lr (nothing made the loss fall)"}[result.source]
    out.print(f"[dim]suggestion: {source}; each range test's own (Smith's rule): {sweeps}[/dim]")
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {w}")
    files_line(result.files)
