"""``tune run``: walk the whole procedure, step by step, resumably."""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options at runtime, through @with_common's signature (with it, every help is lost).

from typing import Annotated, Any, Optional

import typer

from cli.common import Common, with_common
from cli.output import SEVERITY_STYLE, VERDICT_STYLE, fmt, out, print_json, progress, results_console

SHOWN = ("findings", "strategy", "similarity", "suggested_lr", "range", "best_value", "trials", "pruned", "failed",
         "best_val_acc", "epochs_run", "codes")


def register(app: typer.Typer) -> None:
    @app.command("run")
    @with_common(trains=True)
    def run(
        common: Common,
        rounds: Annotated[int, typer.Option(help="Diagnose → adjust → fine-search rounds after the "
                                                 "first fine search (fewer if a good fit comes first).")] = 2,
        budget: Annotated[Optional[float], typer.Option(
            help="Bound on the whole walk, in minutes (searches get their share of what is left). "
                 "(default: no limit)")] = None,
        force: Annotated[bool, typer.Option("--force", help="Go on even when a sanity check fails.")] = False,
        restart: Annotated[bool, typer.Option("--restart", help="Forget the walk saved in --out and "
                                                                "start over.")] = False,
        until: Annotated[Optional[str], typer.Option(
            help="Stop after this step, e.g. overfit-small (only the sanity checks) or lr-range. "
                 "(default: walk to the end)")] = None,
        trials: Annotated[Optional[int], typer.Option(
            help="Trials of the coarse search; each fine search runs half as many (at least 3). "
                 "With --epoch-budget an optional cap. \\[default: 20; no cap with --epoch-budget]")] = None,
        epoch_budget: Annotated[Optional[int], typer.Option(
            "--epoch-budget", metavar="EPOCHS",
            help="Total epochs the walk may train, split among the coarse search, the fine "
                 "search, the retraining and the later rounds (the split is printed). "
                 "(default: no budget)")] = None,
        epochs: Annotated[Optional[int], typer.Option(
            help="Epochs per coarse trial, 1-5; fine trials train 3x as long. \\[default: 3]")] = None,
        space: Annotated[Optional[list[str]], typer.Option(
            "--space", metavar="KEY=LOW:HIGH[:log]|KEY=a,b,c",
            help="Reshape one range or set of choices of the coarse space (repeatable); "
                 "the fine searches narrow within it. (default: the default coarse space)")] = None,
        pruner: Annotated[Optional[str], typer.Option(
            help="auto (= asha, successive halving), median, hyperband or none. \\[default: auto]")] = None,
        jobs: Annotated[int, typer.Option(help="Worker processes per search on this machine.")] = 1,
    ) -> int:
        """Walk the whole procedure: checks, lr-range, coarse and fine search, train, diagnose, adjust.

        Rerunning the same command resumes from the last completed step. Exit code 1 when a sanity check failed and stopped the walk, else 0.
        """
        from tuner.walk import WalkSettings, walk

        settings = WalkSettings(trials, epochs, tuple(space or ()), pruner, jobs, epoch_budget)
        exp = common.prepare()
        with progress(not common.json) as bar:
            tasks: dict[str, Any] = {}

            def on_event(kind: str, step: str, payload: Any) -> None:
                if kind == "plan" and not common.json:
                    render_plan(results_console(bar), payload.to_dict())
                elif kind == "start":
                    tasks[step] = bar.add_task(step, total=None, status="")
                elif kind == "progress" and step in tasks:
                    done, total, status = payload
                    bar.update(tasks[step], completed=done, total=total, status=status)
                elif kind == "done":
                    if step in tasks:  # the finished step's bar gives way to its result line
                        bar.remove_task(tasks.pop(step))
                    if not common.json:
                        render_step(results_console(bar), payload)

            result = walk(exp, common.out, rounds=rounds, budget_minutes=budget, force=force,
                          restart=restart, until=until, settings=settings, on_event=on_event)
        if common.json:
            print_json(result, exp)
        else:
            render_end(result)
        return 1 if result.sanity_failed else 0


def render_step(console: Any, rec: Any) -> None:
    """One line per step that never wraps (cut with an ellipsis), then each of its
    warnings and failures in full, with its advice."""
    from rich.padding import Padding
    from rich.text import Text

    parts = [f"{k} {_short(rec.summary[k])}" for k in SHOWN if rec.summary.get(k) not in (None, [], {})]
    line = Text()
    line.append(f"{rec.verdict:>4} ", style=VERDICT_STYLE.get(rec.verdict, "bold"))
    line.append(f"{rec.step:<15}", style="bold")
    line.append(f" {rec.seconds:6.1f}s  " + "  ".join(parts))
    console.print(line, no_wrap=True, overflow="ellipsis")
    for note in rec.notes:
        text = Text()
        text.append(f"{note['code']}: ", style=SEVERITY_STYLE.get(note["severity"], "bold"))
        text.append(note["message"])
        if note.get("advice"):
            text.append(f" → {note['advice']}", style="italic")
        console.print(Padding(text, (0, 0, 0, 5)))


def _short(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(_short(x) for x in v) if len(v) <= 4 else f"{len(v)} items"
    return fmt(v)


def render_plan(console: Any, split: dict) -> None:
    """The epoch budget's split, before the walk starts (named as the end line and report name it)."""
    from tuner.walk.report import PART_NAMES

    parts = [f"{name} {split[key]}" for key, name in PART_NAMES.items() if split[key]]
    console.print(f"[bold]epoch budget {split['budget']}[/]: {' · '.join(parts)} "
                  f"[dim](coarse trials of {split['coarse_epochs_per_trial']} epochs, fine trials of "
                  f"{split['fine_epochs_per_trial']})[/dim]")


def render_end(result: Any) -> None:
    from tuner.walk.report import budget_rows

    if result.note:
        out.print(f"[yellow]note:[/] {result.note}")
    if result.resumed:
        out.print(f"[dim]resumed: {', '.join(result.resumed)} were already done[/dim]")
    if result.stopped:
        out.print(f"[bold yellow]stopped:[/] {result.stopped}")
    if result.epoch_budget:
        rows = budget_rows(result.epoch_budget)
        out.print(f"epoch budget: {result.epoch_budget['spent']['total']} of "
                  f"{result.epoch_budget['split']['budget']} epochs trained (spent/planned: "
                  + ", ".join(f"{name} {used}/{planned}" for name, planned, used in rows)
                  + "; a part also spends what the parts before it left)")
    if result.best:
        out.print(f"\n[bold green]best val_acc {result.best['val_acc']:.4f}[/] ({result.best['step']}), "
                  f"{result.epochs_spent} epochs trained")
        out.print(result.command, soft_wrap=True)
    out.print(f"[dim]report: {result.report}[/dim]")
