"""``tune search --coarse|--fine`` and ``tune best``."""

# No ``from __future__ import annotations`` here: typer reads the Annotated
# options of these commands at runtime, through @with_common's signature.
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from cli.common import Common, with_common
from cli.output import files_line, findings_panel, fmt, kv_table, out, print_json, progress

SHOWN_PARAMS = 8  # searched parameters shown in the top-trials table


def register(app: typer.Typer) -> None:
    @app.command("search")
    @with_common(trains=True)
    def search(
        common: Common,
        coarse: Annotated[bool, typer.Option(
            "--coarse", help="Step 4: random sampling over wide ranges, short trials (the default)")] = False,
        fine: Annotated[bool, typer.Option(
            "--fine", help="Step 5: TPE in ranges narrowed around the best coarse trials, "
                           "longer trials.")] = False,
        from_study: Annotated[Optional[str], typer.Option(
            "--from", metavar="COARSE_STUDY",
            help="The coarse study to narrow from. (default: the latest coarse study)")] = None,
        from_lr_range: Annotated[bool, typer.Option(
            "--from-lr-range", help="Centre the LR range on tune lr-range's result in --out.")] = False,
        space: Annotated[Optional[list[str]], typer.Option(
            "--space", metavar="KEY=LOW:HIGH[:log]|KEY=a,b,c",
            help="Override one range or set of choices (repeatable). "
                 "(default: the coarse space, or the narrowed fine one)")] = None,
        trials: Annotated[Optional[int], typer.Option(
            help="Total trials of the study (a resumed study counts those it has); with "
                 "--epoch-budget an optional cap. (default: 20 coarse, 10 fine; no cap with "
                 "--epoch-budget)")] = None,
        epoch_budget: Annotated[Optional[int], typer.Option(
            "--epoch-budget", metavar="EPOCHS",
            help="Total epochs the study may train (pruned and failed trials count what they "
                 "ran, a resumed study what it spent): new trials start while one more fits, "
                 "so epochs that pruning saves go to more trials. (default: no budget)")] = None,
        timeout: Annotated[Optional[float], typer.Option(
            help="Seconds after which no new trial starts. (default: no limit)")] = None,
        epochs: Annotated[Optional[int], typer.Option(
            help="Epochs per trial. (default: 3 coarse, 3x the coarse epochs fine)")] = None,
        study: Annotated[Optional[str], typer.Option(
            help="Study name; the same name resumes it. (default: coarse or fine)")] = None,
        storage: Annotated[Optional[str], typer.Option(
            help="Optuna storage URL (postgresql://..., sqlite:///..., redis://...) or journal "
                 "file, shared by workers on many machines. (default: OUT/studies.journal)")] = None,
        jobs: Annotated[int, typer.Option(help="Worker processes on this machine.")] = 1,
        pruner: Annotated[Optional[str], typer.Option(
            help="auto (= asha, successive halving), median, hyperband or none. (default: auto)")] = None,
        restart: Annotated[bool, typer.Option(
            "--restart", help="Delete the study of this name (its trials too) and start it over.")] = False,
        heartbeat: Annotated[int, typer.Option(
            metavar="SECONDS", help="Renew a running trial's lease this often; a trial whose worker "
                                    "misses 3 renewals is failed and redone by another worker.")] = 30,
    ) -> int:
        """Steps 4-5: a coarse or fine hyperparameter search, as an Optuna study that persists.

        Joining a study that exists (the same --study, here or on another machine with
        --storage) takes its task and fixed hyperparameters from the study when no
        --task/--model/--data/--hp/--seed is given.
        """
        from tuner.errors import TuneError
        from tuner.lr_range import load_lr_range
        from tuner.search import search as run_search
        from tuner.search.driver import joined_recipe

        if coarse and fine:
            raise TuneError("--coarse and --fine exclude each other", "choose one")
        if from_study is not None and coarse:
            raise TuneError("--from names the coarse study a --fine search narrows from",
                            "use --fine --from COARSE_STUDY")
        mode = "fine" if fine or from_study is not None else "coarse" if coarse else None
        name = study or mode or "coarse"
        lr_range = None
        if from_lr_range:
            saved = load_lr_range(common.out)
            if saved is None:
                raise TuneError(f"--from-lr-range: {common.out}/lr_range.json not found",
                                "run tune lr-range first (with the same --out)")
            lr_range = saved
        recipe = common.recipe() if common.names_experiment or restart else \
            joined_recipe(common.out, storage, name) or common.recipe()
        exp = common.prepare(recipe)
        with progress(not common.json) as bar:
            job = bar.add_task(f"{mode or 'search'} {name}", total=None, status="")

            def on_trial(p: Any) -> None:
                best = "—" if p.best_value is None else f"{p.best_value:.4f}"
                status = f"best {best} · pruned {p.pruned} · failed {p.failed}"
                if p.epoch_budget is None:
                    bar.update(job, total=p.total, completed=p.done, status=status)
                else:  # the bar fills with epochs: the budget is what runs out
                    bar.update(job, total=p.epoch_budget, completed=p.epochs_spent,
                               status=f"{p.done} trials · epochs {p.epochs_spent}/{p.epoch_budget}"
                                      f" · {status}")

            result = run_search(exp, study_name=name, out=common.out, storage=storage, mode=mode,
                                from_study=from_study, space_args=space, trials=trials,
                                timeout=timeout, epochs=epochs, jobs=jobs, lr_range=lr_range,
                                pruner=pruner, on_trial=on_trial, restart=restart,
                                heartbeat=heartbeat, epoch_budget=epoch_budget)
        if common.json:
            print_json(result, exp)
        else:
            render(result)
        if result.interrupted:
            return 130
        return 0 if result.best is not None else 1

    @app.command("best")
    @with_common
    def best(
        common: Common,
        study: Annotated[Optional[str], typer.Option(
            help="The study. (default: the most recent one)")] = None,
        format: Annotated[Optional[str], typer.Option(
            "--format", metavar="json|toml|args",
            help="Print only the hyperparameters in this form: args feeds tune train, "
                 "e.g. tune train $(tune best --format args). (default: a table)")] = None,
        storage: Annotated[Optional[str], typer.Option(
            help="Optuna storage URL or journal file. (default: OUT/studies.journal)")] = None,
    ) -> int:
        """The best hyperparameters of a study, in a form tune train accepts.

        --format args prints the task and seed flags too, so tune train $(tune best
        --format args) retrains exactly the best trial.
        """
        from rich.markup import escape

        from tuner.search import best_hyperparameters, format_best

        if format is not None:
            format_best({}, format)  # reject an unknown format before reading anything
        result = best_hyperparameters(common.out, study, storage)
        if common.json:
            print_json(result)
        elif format == "args":
            typer.echo(result.args())
        elif format is not None:
            typer.echo(format_best(result.params, format))
        else:
            out.print(f"best of [bold]{result.study}[/]: trial {result.trial}, "
                      f"val_acc [bold]{fmt(result.value)}[/]")
            out.print(kv_table("", result.params))
            out.print(f"[dim]tune train {escape(result.args())}[/dim]", soft_wrap=True)
        return 0


def render(result: Any) -> None:
    """Summary, top trials, the space searched, failures, warnings and files."""
    from rich.markup import escape

    from tuner.search.result import describe_failures

    counts = {"study": result.study, "storage": result.storage, "mode": result.mode,
              "trials": f"{result.trials} ({result.new_trials} new): {result.completed} completed, "
                        f"{result.pruned} pruned, {result.failed} failed",
              "epochs per trial": result.epochs,
              "epochs spent": result.epochs_spent if result.epoch_budget is None else
              f"{result.epochs_spent} of a budget of {result.epoch_budget}"}
    if result.epoch_budget is not None and result.max_trials is not None:
        counts["trials"] += f" (at most {result.max_trials})"
    if result.from_study:
        counts["narrowed from"] = result.from_study
    out.print(kv_table(f"{result.mode} search", counts))
    out.print(top_table(result))
    out.print(space_table(result.space, "narrowed space" if result.mode == "fine" else "search space"))
    if result.best is None:
        out.print("[bold red]no trial completed[/]: see the failures above, or run more trials.")
    else:
        out.print(f"best val_acc [bold]{fmt(result.best['value'])}[/] (trial {result.best['trial']}) · "
                  f"[dim]tune best --study {result.study} --format args[/dim]")
    for line in describe_failures(result.failures):
        out.print(f"[red]{escape(line)}[/]", soft_wrap=True)
    if result.warnings:
        out.print(findings_panel("search", "warn", result.warnings))
    if result.interrupted:
        out.print("[yellow]interrupted[/]: the running trial is marked and will be redone; "
                  "run the same command again to resume.")
    files_line(result.files)


def top_table(result: Any) -> Table:
    table = Table(title="top trials", title_justify="left")
    fits = max(1, (out.width - 30) // 11)  # as many parameter columns as the console shows whole
    names = list(result.space)[:min(SHOWN_PARAMS, fits)]
    for col in ("trial", "val_acc", "epochs", *names):
        table.add_column(col, justify="right", overflow="fold")
    best = result.best["trial"] if result.best else None
    for row in result.top:
        table.add_row(str(row["trial"]), fmt(row["value"]), str(row["epochs"]),
                      *(fmt(row["params"].get(n), 3) if n in row["params"] else "–" for n in names),
                      style="bold green" if row["trial"] == best else None)
    return table


def space_table(space: dict[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("name", "range or choices", "scale"):
        table.add_column(col)
    for name, entry in space.items():
        if entry["kind"] == "choice":
            text, scale = ", ".join(str(c) for c in entry["choices"]), "choice"
        else:
            text, scale = f"{fmt(entry['low'], 3)} … {fmt(entry['high'], 3)}", \
                "log" if entry["log"] else entry["kind"]
        if entry.get("when"):
            (parent, values), = entry["when"].items()
            scale += f" (when {parent}={'/'.join(fmt(v) for v in values)})"
        table.add_row(name, text, scale)
    return table
