"""Rendering: rich for people (stdout), progress on stderr, JSON for programs.

With ``--json`` stdout carries exactly one JSON object; human output and
progress are suppressed. Progress bars appear only when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from tuner.numbers import fmt  # noqa: F401  (re-exported: the commands format with it)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

VERDICT_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}
SEVERITY_STYLE = {"info": "cyan", "warn": "yellow", "fail": "red"}


def print_json(result: Any, exp: Any = None) -> None:
    """The one JSON object of a ``--json`` run (NaN becomes null); with the
    experiment a training command ran, also the ``threads`` it trained with."""
    from tuner.jsonable import to_jsonable

    data = to_jsonable(result)
    if exp is not None and getattr(exp, "threads", None) is not None:
        data["threads"] = exp.threads.threads
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """A progress display on stderr; invisible with --json or when not a terminal.

    Each bar is one line that fits the terminal: the status column is cut with
    an ellipsis rather than wrapped.
    """
    bar = Progress(TextColumn("{task.description}", table_column=Column(no_wrap=True, max_width=18)),
                   BarColumn(bar_width=16), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[status]}",
                              table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                   console=err, transient=True, expand=True,
                   disable=not (enabled and err.is_terminal))
    with bar:
        yield bar


def results_console(bar: Progress) -> Console:
    """Where result lines go while ``bar`` runs: through the display's own console
    when it is visible and stdout is the same terminal, so that a line never
    collides with a redrawn bar (it prints above the live bars); else stdout."""
    return bar.console if not bar.disable and out.is_terminal else out


def findings_panel(title: str, verdict: str, findings: list[Any]) -> Panel:
    """Verdict first, then each finding with its advice (objects with
    ``code``, ``severity``, ``message``, ``advice``)."""
    body = Text()
    body.append(f"{verdict.upper()}\n", style=VERDICT_STYLE.get(verdict, "bold"))
    if not findings:
        body.append("nothing to report\n", style="dim")
    for f in findings:
        body.append(f"\n[{f.severity}] ", style=SEVERITY_STYLE.get(f.severity, ""))
        body.append(f"{f.code}: ", style="bold")
        body.append(f"{f.message}\n")
        if f.advice:
            body.append("  → ", style="dim")
            body.append(f"{f.advice}\n", style="italic")
    return Panel(body, title=title, border_style=VERDICT_STYLE.get(verdict, "white"), expand=False)


def kv_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows.items():
        table.add_row(k, fmt(v))
    return table


def files_line(files: list[str]) -> None:
    if files:
        out.print(f"[dim]wrote {', '.join(files)}[/dim]")
