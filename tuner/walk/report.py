"""The walk's report: ``<out>/report.md``, every step's numbers, verdicts and plots,
and the best hyperparameters as a ``tune train`` command."""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.augment import Augmentation
from tuner.numbers import fmt
from tuner.outdir import write_atomic

if TYPE_CHECKING:
    from tuner.experiment import Experiment
    from tuner.walk.result import WalkResult

REPORT_FILE = "report.md"


def train_command(exp: "Experiment", params: dict[str, Any]) -> str:
    """The ``tune train`` command line that reproduces ``params`` on this task
    (values equal to their defaults left out, so the command shows what was tuned)."""
    from tuner.params import TrainParams
    from tuner.search import format_best

    defaults = {**TrainParams().to_dict(), "normalize": exp.params.normalize,
                **{name: spec.default_value() for name, spec in exp.space.items()}}
    params = {k: v for k, v in params.items() if k not in defaults or defaults[k] != v}
    flags = " ".join(shlex.quote(t) for t in exp.recipe.flags())
    return " ".join(["tune train", flags, format_best(params, "args"), f"--seed {exp.seed}"])


def _value(v: Any) -> str:
    if isinstance(v, float):
        return fmt(v)
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v) if v else "-"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x)}" for k, x in v.items())
    return str(v)


def write_report(result: "WalkResult", exp: "Experiment", folder: Path) -> Path:
    """Write ``report.md`` in ``folder`` (plots linked relative to it)."""
    lines = [f"# tune run: {exp.recipe.task.label()}", "",
             f"seed {exp.seed} · device {exp.device.type} · {datetime.now():%Y-%m-%d %H:%M} · "
             f"verdict **{result.verdict}** · {result.epochs_spent} epochs trained", ""]
    if result.note:
        lines += [f"> {result.note}.", ""]
    if result.stopped:
        lines += [f"> The walk stopped: {result.stopped}.", ""]
    if result.best:
        augmentation = Augmentation.from_values(result.best["params"])
        lines += ["## Best configuration", "",
                  f"Validation accuracy **{result.best['val_acc']:.4f}** ({result.best['step']}); "
                  f"augmentation: {augmentation.describe()}.", "",
                  "```bash", result.command, "```", ""]
    if result.epoch_budget:
        lines += budget_lines(result.epoch_budget)
    lines += ["## Steps", "", "| step | verdict | seconds | key numbers |", "| --- | --- | --- | --- |"]
    for s in result.steps:
        numbers = "; ".join(f"{k} {_value(v)}" for k, v in s.summary.items()
                            if k not in ("advice", "reason") and v not in (None, [], {}))
        lines.append(f"| {s.step} | {s.verdict} | {s.seconds:.1f} | {numbers} |")
    lines.append("")
    for s in result.steps:
        lines += [f"## {s.step}: {s.verdict}", ""]
        for f in s.notes:
            lines.append(f"- **{f['code']}** ({f['severity']}): {f['message']}"
                         + (f" → {f['advice']}" if f.get("advice") else ""))
        lines.append("")
        for f in s.files:
            if f.endswith(".png"):
                lines += [f"![{s.step}]({os.path.relpath(f, folder)})", ""]
    path = folder / REPORT_FILE
    text = "\n".join(lines)
    return write_atomic(path, lambda p: p.write_text(text))


# The parts of an epoch budget in the walk's order, as the report names them.
PART_NAMES = {"transfer": "transfer comparison", "coarse": "coarse search", "fine": "fine search",
              "retrain": "retraining", "later_rounds": "later rounds"}


def budget_rows(epoch_budget: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(part, epochs planned, epochs spent) for each part of the budget that has any."""
    split, spent = epoch_budget["split"], epoch_budget["spent"]
    return [(name, int(split[key]), int(spent.get(key, 0))) for key, name in PART_NAMES.items()
            if split.get(key) or spent.get(key)]


def budget_lines(epoch_budget: dict[str, Any]) -> list[str]:
    """The report's epoch budget section: how it was split, and what each part spent."""
    split, spent = epoch_budget["split"], epoch_budget["spent"]
    lines = ["## Epoch budget", "",
             f"{spent['total']} of {split['budget']} epochs trained. The coarse search gets "
             f"{fmt(100 * split['coarse_share'])}% of the first round's search (trials of "
             f"{split['coarse_epochs_per_trial']} epochs), the fine search the rest (trials of "
             f"{split['fine_epochs_per_trial']}); each part also gets what the parts before it "
             "left unused.", "", "| part | planned | spent |", "| --- | --- | --- |"]
    lines += [f"| {name} | {planned} | {used} |" for name, planned, used in budget_rows(epoch_budget)]
    return lines + [f"| total | {split['budget']} | {spent['total']} |", ""]
