"""``tune check-init``, ``tune check-loss``, ``tune overfit-small``: the checks
that catch bugs before any compute is spent on tuning.

Each prints a verdict panel (pass, warn or fail, then the findings with their
advice) or, with ``--json``, the result object. Exit code 0 for pass or warn,
1 for fail, 2 for bad input.
"""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options of these commands at runtime, through @with_common's signature.
from typing import Annotated, Any, Callable, Optional

import typer
from rich.table import Table

from cli.common import Common, with_common
from cli.output import files_line, findings_panel, fmt, kv_table, out, print_json, progress

MAX_LAYER_ROWS = 30
# Options left unset take the library's defaults (tuner.checks.loss.LOSS_BATCHES,
# tuner.checks.overfit.DEFAULT_SAMPLES and DEFAULT_MAX_STEPS), which live in
# torch-importing modules; the help text states them (tests compare the two).
# "\[" keeps rich markup from reading "[default: N]" as a style tag.


def register(app: typer.Typer) -> None:
    """Add check-init, check-loss and overfit-small to ``app``."""

    @app.command("check-init")
    @with_common
    def check_init(common: Common) -> int:
        """Initialisation: per-layer activation statistics, dead ReLUs, missing gradients, input scale."""
        from tuner.checks import check_init as run_check

        exp = common.prepare()
        return finish(common, run_check(exp, out=common.out), render_init)

    @app.command("check-loss")
    @with_common
    def check_loss(common: Common, batches: Annotated[Optional[int], typer.Option(
            min=1, help="Training batches to average the untrained model's loss over. "
                        "\\[default: 5]")] = None) -> int:
        """Step 1: the untrained model's loss against -log(1/C) and the label entropy."""
        from tuner.checks import check_loss as run_check

        exp = common.prepare()
        given = {} if batches is None else {"batches": batches}
        return finish(common, run_check(exp, out=common.out, **given), render_loss)

    @app.command("overfit-small")
    @with_common(trains=True)
    def overfit_small(common: Common,
                      samples: Annotated[Optional[int], typer.Option(
                          min=1, help="Size of the stratified training subset to memorise. "
                                      "\\[default: 100]")] = None,
                      max_steps: Annotated[Optional[int], typer.Option(
                          min=1, help="Step cap for each learning rate tried. "
                                      "\\[default: 400]")] = None) -> int:
        """Step 2: memorise a small subset (no dropout, no weight decay), trying several LRs."""
        from tuner.checks import overfit_small as run_check

        exp = common.prepare()
        with progress(not common.json) as bar:
            job = bar.add_task("overfit-small", total=None, status="")

            def on_step(done: int, total: int, lr: float) -> None:
                bar.update(job, completed=done, total=total, status=f"lr {lr:g}")

            given = {k: v for k, v in (("samples", samples), ("max_steps", max_steps)) if v is not None}
            result = run_check(exp, out=common.out, on_step=on_step, **given)
        return finish(common, result, render_overfit, exp)


def finish(common: Common, result: Any, render: Callable[[Any], None], exp: Any = None) -> int:
    """Print the result (JSON or panel + details); exit 1 on a fail verdict."""
    if common.json:
        print_json(result.to_dict(), exp)
    else:
        out.print(findings_panel(result.check, result.verdict, result.findings))
        render(result.metrics)
        files_line(result.files)
    return 1 if result.verdict == "fail" else 0


def render_init(m: dict[str, Any]) -> None:
    table = Table(title="layers at initialisation (in call order)", title_justify="left")
    for col in ("#", "layer", "kind", "mean", "std", "zeros", "dead", "grad norm"):
        table.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    layers = m["layers"]
    shown = layers if len(layers) <= MAX_LAYER_ROWS else layers[:MAX_LAYER_ROWS // 2] + layers[-MAX_LAYER_ROWS // 2:]
    for i, row in enumerate(shown):
        if len(shown) < len(layers) and i == MAX_LAYER_ROWS // 2:
            table.add_row("…", f"{len(layers) - len(shown)} more", "", "", "", "", "", "")
        table.add_row(str(row["depth"]), row["name"], row["kind"], fmt(row["mean"], 3), fmt(row["std"], 3),
                      f"{row['zeros']:.0%}", "" if row["dead"] is None else f"{row['dead']:.0%}",
                      "" if row["grad_norm"] is None else fmt(row["grad_norm"], 3))
    out.print(table)
    out.print(kv_table("summary", {
        "batch": m["batch"], "loss": m["loss"], "logits std": m["logits_std"],
        "std drift (last/first weight layer)": m["std_drift"], "std factor per layer": m["std_factor"],
        "trainable / all parameters": f"{m['trainable_parameters']:,} / {m['parameters']:,}",
    }))


def render_loss(m: dict[str, Any]) -> None:
    out.print(kv_table("loss of the untrained model", {
        "loss (mean of batches)": m["loss"],
        "range over batches": f"{fmt(m['loss_min'])} – {fmt(m['loss_max'])}",
        "-log(1/C)": m["log_num_classes"], "label entropy H": m["label_entropy"],
        "classes present": f"{m['classes_present']} of {m['num_classes']}",
        "majority class": f"{m['majority_share']:.1%}", "logits std": m["logits_std"],
        f"with weight decay {m['weight_decay']:g}": m["loss_with_weight_decay"],
    }))


def render_overfit(m: dict[str, Any]) -> None:
    table = Table(title=f"memorising {m['samples']} samples (chance {m['chance_acc']:.0%})",
                  title_justify="left")
    for col in ("lr", "steps", "loss start", "loss end", "accuracy", "result"):
        table.add_column(col, justify="right")
    for a in m["attempts"]:
        result = "memorised" if a["success"] else "NaN" if a["diverged"] else "no"
        table.add_row(fmt(a["lr"], 3), str(a["steps"]), fmt(a["initial_loss"]), fmt(a["final_loss"]),
                      f"{a['final_acc']:.1%}", result,
                      style="bold green" if a["success"] else None)
    out.print(table)
    if m["dropout_layers_disabled"]:
        out.print(f"[dim]{m['dropout_layers_disabled']} dropout layer(s) set to p=0 for this check[/dim]")
