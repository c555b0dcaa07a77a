"""``tune train``: train once with the given hyperparameters."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.common import Common, with_common
from cli.output import files_line, fmt, out, print_json, progress

MAX_ROWS = 20


def register(app: typer.Typer) -> None:
    @app.command("train")
    @with_common(trains=True)
    def train(common: Common) -> int:
        """Train once with the given hyperparameters; save checkpoint, history and curves.

        Exit code 1 when the training loss became NaN/inf (diverged), else 0.
        """
        from tuner.train import train_and_save

        exp = common.prepare()
        epochs = exp.params.epochs
        with progress(not common.json) as bar:
            job = bar.add_task("training", total=epochs, status="")

            def on_epoch(rec):
                bar.update(job, advance=1, status=f"val_acc {rec.val_acc:.4f}  loss {rec.train_loss:.4g}")

            result = train_and_save(exp, common.out, on_epoch=on_epoch)
        if common.json:
            print_json(result, exp)
        else:
            render(result)
        return 1 if result.history.diverged else 0


def epoch_rows(n: int, best: int) -> list[int]:
    """Which epochs to show: all when few, else an even thinning plus best and last."""
    if n <= MAX_ROWS:
        return list(range(n))
    step = -(-n // MAX_ROWS)
    return sorted(set(range(0, n, step)) | {best, n - 1})


def render(result) -> None:
    h = result.history
    table = Table(title="training", title_justify="left")
    for col in ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr", "seconds"):
        table.add_column(col, justify="right")
    best = h.epochs.index(h.best_epoch) if h.best_epoch is not None else len(h.epochs) - 1
    for i in epoch_rows(len(h.epochs), best):
        e = h.epochs[i]
        style = "bold green" if i == best else None
        table.add_row(str(e.epoch), fmt(e.train_loss), fmt(e.val_loss), fmt(e.train_acc),
                      fmt(e.val_acc), fmt(e.lr, 3), f"{e.seconds:.2f}", style=style)
    out.print(table)
    if h.diverged:
        out.print(f"[bold red]diverged:[/] {h.reason}. Lower the LR (--hp lr=...) or add warmup/clipping. "
                  f"Its files are in {result.folder}; an earlier model.pt beside it is untouched.")
    kept = f" · model.pt keeps epoch {result.weights_epoch}" if result.weights_epoch else ""
    out.print(f"best val_acc [bold]{fmt(h.best_val_acc)}[/] · final {fmt(h.final_val_acc)} · "
              f"{len(h.epochs)} epochs{kept}")
    files_line(result.files)
