"""``tune evaluate`` and ``tune predict``: a trained checkpoint, used afterwards.

Exit codes: 0, or 2 for bad input (not a checkpoint, data of another shape,
views that do not apply to the data).
"""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options at runtime (with it, every help is lost).
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cli.common import run_guarded
from cli.output import files_line, fmt, kv_table, out, print_json, progress

JSON_HELP = "Print one JSON object on stdout, nothing else."
DEVICE_HELP = "auto, cpu, cuda or mps."
TTA_HELP = ("Test-time augmentation: views to average, comma-separated (flip, crops, scales), "
            "or auto. (default: off)")


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        checkpoint: Annotated[str, typer.Argument(help="A model.pt written by tune train or tune run.")],
        data: Annotated[Optional[str], typer.Option(
            help="Held-out labelled data: FILE.npz, FILE.csv or an image folder (one sub-folder "
                 "per class). (default: the checkpoint's own validation split)")] = None,
        tta: Annotated[Optional[str], typer.Option(
            metavar="VIEWS|auto", help=TTA_HELP + " auto keeps the views that help and records "
            "them beside the checkpoint for tune predict.")] = None,
        out_folder: Annotated[Optional[str], typer.Option(
            "--out", help="Folder for confusion.png. (default: the checkpoint's folder)")] = None,
        device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
        json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    ) -> None:
        """Score a trained checkpoint: accuracy, loss, per-class accuracy, confusion matrix, TTA."""
        def body() -> int:
            from tuner.evaluate import evaluate

            with progress(not json) as bar:
                bar.add_task("evaluating", total=None, status="")
                result = evaluate(checkpoint, data=data, tta=tta, out=out_folder, device=device)
            if json:
                print_json(result)
            else:
                render_evaluation(result)
            return 0

        run_guarded(body)

    @app.command("predict")
    def predict_cmd(
        checkpoint: Annotated[str, typer.Argument(help="A model.pt written by tune train or tune run.")],
        data: Annotated[str, typer.Option(
            help="Samples to predict: FILE.npz (x), FILE.csv (the feature columns) or an image "
                 "folder; labels, if present, are ignored. (required)")],
        tta: Annotated[Optional[str], typer.Option(
            metavar="VIEWS|auto", help=TTA_HELP + " auto uses the views tune evaluate --tta "
            "recorded.")] = None,
        out_file: Annotated[str, typer.Option(
            "--out", help="The predictions CSV: sample, predicted, p_<class>... ")] = "preds.csv",
        device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
        json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    ) -> None:
        """Predict the class of every sample with a trained checkpoint, one CSV row each."""
        def body() -> int:
            from tuner.evaluate import predict

            result = predict(checkpoint, data, tta=tta, out=out_file, device=device)
            if json:
                print_json(result)
            else:
                out.print(f"{len(result.rows)} predictions of {result.checkpoint} on {result.data}"
                          + (f", averaged over {', '.join(result.views)}" if result.views else ""))
                files_line(result.files)
            return 0

        run_guarded(body)


def render_evaluation(result: Any) -> None:
    out.print(kv_table(f"evaluate {result.checkpoint}",
                       {"data": result.data, "samples": result.n, "accuracy": result.accuracy,
                        "loss": result.loss}))
    table = Table(title="per class", title_justify="left")
    for col in ("class", "samples", "accuracy"):
        table.add_column(col, justify="right")
    for row in result.per_class:
        table.add_row(str(row["class"]), str(row["n"]), fmt(row["accuracy"]))
    out.print(table)
    if result.tta is not None:
        t = result.tta
        views = Table(title="test-time augmentation", title_justify="left")
        views.add_column("views", justify="left")
        views.add_column("accuracy", justify="right")
        for v in t.views:
            views.add_row(v.name, fmt(v.accuracy))
        views.add_row("average of " + ("plain + " + " + ".join(t.kept) if t.kept else "plain only"),
                      fmt(t.accuracy), style="bold")
        out.print(views)
        low, high = t.gain_ci
        out.print(f"gain {t.gain * 100:+.2f} points (95% interval {low * 100:+.2f} to "
                  f"{high * 100:+.2f}) at {t.cost:.2f}x the inference cost")
        for d in t.dropped:
            out.print(f"[yellow]dropped {d.name}[/]: {d.reason}")
    files_line(result.files)
