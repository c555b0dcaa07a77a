"""``tune status``: the studies in a storage, their trials, and the workers running them."""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options of these commands at runtime, through @with_common's signature.
import time
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cli.common import Common, with_common
from cli.output import fmt, out, print_json

WATCH_SECONDS = 2.0


def register(app: typer.Typer) -> None:
    @app.command("status")
    @with_common
    def status(
        common: Common,
        study: Annotated[Optional[str], typer.Option(
            help="Only this study. (default: every study in the storage)")] = None,
        storage: Annotated[Optional[str], typer.Option(
            help="Optuna storage URL or journal file. (default: OUT/studies.journal)")] = None,
        watch: Annotated[bool, typer.Option(
            "--watch", help=f"Refresh every {WATCH_SECONDS:g} s until Ctrl-C.")] = False,
    ) -> int:
        """Each study's trials by state and best so far, and the workers running its trials.

        Every running trial is shown with its worker (host, pid), how long it has run
        and how old its last heartbeat is; stale ones are flagged.
        """
        from tuner.errors import TuneError
        from tuner.search.status import study_status
        from tuner.search.storage import open_existing_storage

        if watch and common.json:
            raise TuneError("--watch refreshes a table; --json prints one snapshot",
                            "drop one of them (or poll tune status --json)")
        store = open_existing_storage(common.out, storage)

        def read() -> Any:
            return study_status(common.out, study, storage, storage=store)

        if not watch:
            result = read()
            if common.json:
                print_json(result)
            else:
                out.print(render(result))
            return 0
        try:
            watch_live(read)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a watch ends
        return 0


def watch_live(read: Any) -> None:
    """Redraw in place on a terminal (rich Live); elsewhere print a snapshot per refresh."""
    from rich.live import Live

    from tuner.search.reconnect import is_connection_error

    def view() -> Any:
        try:
            return render(read())
        except Exception as e:  # a server restarting: say so and keep watching
            if not is_connection_error(e):
                raise
            return Text("the storage cannot be reached; retrying …", style="yellow")

    if out.is_terminal:
        with Live(view(), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(WATCH_SECONDS)
                live.update(view(), refresh=True)
    while True:
        out.print(view())
        time.sleep(WATCH_SECONDS)


def render(result: Any) -> Group:
    """One table of studies, then one of running trials (stale ones in red)."""
    studies = Table(title=f"studies in {result.storage} at {result.at}", title_justify="left",
                    box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("study", "done", "complete", "pruned", "failed", "lost", "running", "best",
                "epochs"):
        studies.add_column(col, justify="left" if col == "study" else "right", no_wrap=True,
                           min_width=min(24, max(len(s.study) for s in result.studies))
                           if col == "study" else None)
    for s in result.studies:
        best = "—" if s.best is None else fmt(s.best["value"])
        total = f"{s.finished}/{s.total}" if s.total is not None else str(s.finished)
        studies.add_row(s.study, total, str(s.trials["complete"]),
                        str(s.trials["pruned"]), str(s.trials["failed"]), str(s.trials["lost"]),
                        str(s.trials["running"]), best,
                        f"{s.epochs_spent}/{s.epoch_budget}" if s.epoch_budget is not None
                        else str(s.epochs_spent))
    parts: list[Any] = [studies]
    running = [(s.study, r) for s in result.studies for r in s.running]
    if running:
        table = Table(title="running trials", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        for col in ("study", "trial", "worker", "running for", "epochs", "last heartbeat", ""):
            table.add_column(col, justify="right" if col in ("trial", "epochs") else "left")
        for name, r in running:
            worker = f"{r.host}:{r.pid}" if r.host is not None else "unknown"
            beat = "—" if r.heartbeat_age_seconds is None else f"{_age(r.heartbeat_age_seconds)} ago"
            table.add_row(name, str(r.trial), worker, _age(r.running_seconds), str(r.epochs), beat,
                          "[bold red]stale[/]" if r.stale else "", style="red" if r.stale else None)
        parts.append(table)
        if any(r.stale for _, r in running):
            parts.append(Text("stale: its worker missed 3 heartbeats or exited; the next worker to "
                              "claim a trial fails it and runs it again.", style="dim"))
    return Group(*parts)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
