"""``tune transfer``: scratch, probe, probe-then-fine-tune and fine-tune side by side, and a verdict."""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options at runtime, through @with_common's signature (with it, every help is lost).

from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import Common, with_common
from cli.output import files_line, fmt, out, print_json, progress
from tuner.transfer.verdict import DEFAULT_EPOCHS  # torch-free, unlike tuner.transfer.compare


def register(app: typer.Typer) -> None:
    @app.command("transfer")
    @with_common(trains=True)
    def transfer(
        common: Common,
        epochs: Annotated[int, typer.Option(
            help="Epochs each strategy trains (the same budget and seed for all four).")] = DEFAULT_EPOCHS,
    ) -> int:
        """Measure which transfer strategy pays on your data: needs --pretrained FILE.

        Trains scratch, probe (freeze=backbone), probe-then-fine-tune and fine-tune for --epochs each, with the same seed, and says which to use, with its --hp flags; saves transfer.json and transfer.png.
        """
        from tuner.transfer.compare import check_transfer, compare_strategies

        exp = common.prepare()
        check_transfer(exp, epochs)
        with progress(not common.json) as bar:
            jobs: dict[str, Any] = {}

            def on_epoch(strategy: str, rec: Any) -> None:
                if strategy not in jobs:
                    jobs[strategy] = bar.add_task(strategy, total=epochs, status="")
                bar.update(jobs[strategy], completed=rec.epoch, status=f"val_acc {rec.val_acc:.4f}")

            result = compare_strategies(exp, common.out, epochs=epochs, on_epoch=on_epoch)
        if common.json:
            print_json(result, exp)
        else:
            render(result)
        return 0


def render(result: Any) -> None:
    from tuner.transfer.compare import hp_flags
    from tuner.transfer.verdict import SCRATCH

    scratch = result.best_val_acc()[SCRATCH]
    table = Table(title="transfer strategies", title_justify="left")
    for col in ("strategy", "--hp", "best val_acc", "vs scratch"):
        table.add_column(col, justify="left" if col in ("strategy", "--hp") else "right")
    for run in result.strategies:
        style = "bold green" if run.name == result.verdict else None
        delta = "" if run.name == SCRATCH else f"{100 * (run.best_val_acc - scratch):+.1f} pts"
        table.add_row(run.name, hp_flags(run.flags_hp), fmt(run.best_val_acc), delta, style=style)
    out.print(table)
    sim = result.similarity
    out.print(f"{fmt(result.samples_per_class)} training samples per class · similarity "
              f"[bold]{sim.score:.2f}[/] (probe {fmt(sim.probe)}, scratch {fmt(sim.scratch)}, "
              f"chance {fmt(sim.chance)})")
    out.print(f"verdict [bold green]{result.verdict}[/]: {hp_flags(result.hp)}")
    out.print(result.advice, soft_wrap=True)
    files_line(result.files)
