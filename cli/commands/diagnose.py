"""``tune diagnose``: read the curves of a run and prescribe (step 6).

Exit codes: 0 when the verdict is ``pass`` (good-fit) or ``warn`` (something
to improve: unstable, overfitting, underfitting, still-improving), 1 when it
is ``fail`` (diverged), 2 for bad input.
"""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options at runtime, through @with_common's signature.
from typing import Annotated, Any, Optional

import typer

from cli.common import Common, with_common
from cli.output import files_line, findings_panel, kv_table, out, print_json


def register(app: typer.Typer) -> None:
    @app.command("diagnose")
    @with_common
    def diagnose(
        common: Common,
        study: Annotated[Optional[str], typer.Option(
            help="Diagnose a trial of this study. (default: the most recent study)")] = None,
        trial: Annotated[Optional[int], typer.Option(
            help="Trial number in the study. (default: the study's best trial)")] = None,
        curves: Annotated[Optional[str], typer.Option(
            metavar="FILE",
            help="Per-epoch curves from any training, CSV or JSON: epoch, train_loss, val_loss "
                 "[, train_acc, val_acc]. tune train's history.csv/json work as they are. "
                 "(default: the newest run in --out: a study's best trial or tune train's history)")] = None,
        storage: Annotated[Optional[str], typer.Option(
            help="Optuna storage URL or journal file holding the study. "
                 "(default: OUT/studies.journal)")] = None,
        classes: Annotated[Optional[str], typer.Option(
            metavar="N|SHARES",
            help="The task's classes, for curves that do not record their chance level: a count "
                 "(balanced) or the classes' shares, e.g. 0.7,0.2,0.1. "
                 "(default: what tune recorded; else chance is unknown)")] = None,
        reference: Annotated[Optional[float], typer.Option(
            metavar="ACC",
            help="The best validation accuracy other runs of this task reached: underfitting is "
                 "judged against it. (default: with --study, the study's other trials)")] = None,
    ) -> int:
        """Step 6: read the learning curves, name what is wrong, and say what to change."""
        from tuner.diagnose.report import (check_reference, diagnose_and_save, load_input,
                                           parse_classes)

        chance = parse_classes(classes) if classes is not None else None
        check_reference(reference)
        run, source = load_input(common.out, curves=curves, study=study, trial=trial,
                                 storage=storage)
        if chance is not None:
            run.history.chance = chance
        if reference is not None:
            run.reference = reference
        result = diagnose_and_save(run, common.out, source=source)
        if common.json:
            print_json(result)
        else:
            render(result)
        return 1 if result.verdict == "fail" else 0


def render(result: Any) -> None:
    out.print(findings_panel(f"diagnose · {result.source}", result.verdict, result.diagnoses))
    out.print(kv_table("run", result.metrics))
    for note in result.notes:
        out.print(f"[dim]note: {note}[/dim]")
    files_line(result.files)
