"""``search()``: coarse and fine searches as persistent Optuna studies.

A study is stored under its name (``--study``) in the storage (``--out``'s
journal by default) together with what made it and how it searches (user
attributes ``recipe``, ``mode``, ``epochs``, ``space``, ``pruner``, ``from``,
``task``, ``trials``, ``epoch_budget``), so that running the same name again
resumes it, from this machine or any other, and joining it with another
experiment is refused before any trial runs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tuner.errors import TuneError
from tuner.findings import Finding
from tuner.outdir import out_dir, save_json
from tuner.recipe import HASH_CHARS, Recipe
from tuner.search.narrow import default_top_k, edge_findings, failure_findings, narrow_space
from tuner.search.lease import HEARTBEAT_SECONDS
from tuner.search.overrides import apply_space_args

from tuner.search.result import SearchProgress, SearchResult, best_of, progress_of, summarize
from tuner.search.space import STRATA, SearchSpace, default_space
from tuner.search.storage import CREATED_AT, describe_storage, journal_path, open_storage
from tuner.search.study import PRUNERS, Plan, count_trials, run_worker

if TYPE_CHECKING:
    from tuner.experiment import Experiment
    from tuner.lr_range import LRRangeResult

RECIPE = "recipe"  # study user attribute: the Recipe that made the study
DESCRIBE_WAIT_SECONDS = 10.0  # how long a joining worker waits for a new study's attributes

COARSE_TRIALS, FINE_TRIALS = 20, 10
COARSE_EPOCHS, FINE_FACTOR = 3, 3
MAX_COARSE_EPOCHS = 5

OnTrial = Callable[[SearchProgress], None]


def search(exp: Experiment, *, study_name: str, out: str | Path, storage: str | None = None,
           mode: str | None = None, from_study: str | None = None, space: SearchSpace | None = None,
           space_args: list[str] | None = None, trials: int | None = None,
           timeout: float | None = None, epochs: int | None = None, jobs: int = 1,
           lr_range: LRRangeResult | None = None, pruner: str | None = None,
           top_k: int | None = None, on_trial: OnTrial | None = None,
           plots: bool = True, restart: bool = False,
           heartbeat: int = HEARTBEAT_SECONDS, epoch_budget: int | None = None) -> SearchResult:
    """Run (or resume) a coarse or fine search and summarise the study.

    Args:
        exp: The prepared experiment; its recipe's ``--hp`` values are fixed, not
            searched, and the recipe is stored with a new study. Resuming a study
            that another recipe made is refused (:func:`check_join`).
        study_name: The study to create or resume.
        out: ``--out``: default storage, plots and ``search_<study>.json``.
        storage: An Optuna storage URL or journal path (``--storage``); None for the default.
        mode: ``"coarse"`` (random sampling, short trials) or ``"fine"`` (TPE in a
            space narrowed around ``from_study``'s best trials, longer trials);
            None: the resumed study's mode, else coarse.
        from_study: The coarse study a fine search narrows from (default: the
            most recent coarse study in the storage).
        space: Search this space instead of the default (coarse) or the
            narrowed one (fine), e.g. one that ``tune run`` widened or shifted
            (see :class:`~tuner.search.space.SearchSpace`, :func:`fine_space`).
        space_args: ``--space`` flags applied on top.
        trials: The study's total number of trials (not the new ones); default:
            the resumed study's, else 20 (coarse) or 10 (fine), or no cap when
            ``epoch_budget`` is given.
        timeout: Seconds after which no new trial starts.
        epochs: Epochs per trial; default 3 (coarse, 1-5 allowed) or 3x the
            coarse study's (fine).
        jobs: Worker processes on this machine sharing the study.
        lr_range: An lr-range result to centre the LR range on.
        pruner: auto, median, hyperband, asha or none (default: the study's, else auto).
        top_k: Fine only: how many of the best coarse trials define the narrowed space.
        on_trial: Called after each trial with the study's progress.
        plots: Write the PNGs (accuracy against LR, history, importances).
        restart: Delete the study of this name first, if there is one, and start over.
        heartbeat: Seconds between renewals of a running trial's lease; a
            trial whose lease misses 3 is reclaimed (see :mod:`tuner.search.lease`).
        epoch_budget: The study's total of epochs trained (``--epoch-budget``):
            new trials start while it has room for one more whole trial, with
            every running trial holding its full length, so it is never
            exceeded and less than one trial's epochs of it go unused (see
            :func:`~tuner.search.study.claim_trial`). Pruned, failed and
            interrupted trials count the epochs they ran, and a resumed study
            those it spent before. Default: the resumed study's, else none.

    Returns:
        The study's :class:`SearchResult`; ``interrupted`` is set when Ctrl-C
        stopped the run (the running trial is marked and will be redone).
    """
    import optuna

    check_args(mode, trials, timeout, epochs, jobs, pruner, heartbeat, epoch_budget)
    exp.require_trainable()
    # Read what exists first; the default journal is created only once the flags are known good.
    store = open_storage(out, storage) if storage is not None or journal_path(out).is_file() else None
    stored = _stored_attrs(store, study_name) if store is not None else None
    # --restart: judged as a new study, and deleted only once every flag has passed
    # (a refused flag must not cost the old study).
    delete_old = stored is not None and restart
    if delete_old:
        stored = None
    warnings = check_join(study_name, stored, exp.recipe) if stored is not None else []
    if stored is not None:
        mode, epochs, the_space, pruner, from_study = _resume(stored, study_name, mode, epochs,
                                                              space, pruner, from_study)
        # A study remembers its cap and budget: no flag keeps both, --trials alone keeps
        # the budget, and --epoch-budget alone lifts the cap (like a new study's flags).
        if epoch_budget is None:
            if trials is None and "trials" in stored:
                trials = stored["trials"]
            epoch_budget = stored.get("epoch_budget")
    elif (mode or "coarse") == "fine":
        from_study = from_study or (latest_coarse(store) if store is not None else None)
        if from_study is None:
            raise TuneError("--fine needs a coarse study to narrow from, and there is none",
                            "run tune search --coarse first, or name one with --from")
        narrowed, coarse_epochs = fine_space(store, from_study, top_k=top_k)
        the_space, mode = space or narrowed, "fine"
        epochs = epochs or coarse_epochs * FINE_FACTOR
    else:
        mode, epochs = "coarse", epochs or COARSE_EPOCHS
        _check_coarse_epochs(epochs)
        the_space = space or coarse_space(exp, lr_range=lr_range)
    the_space = apply_space_args(the_space, space_args, model_space=exp.space,
                                 fixed=exp.fixed, train_fixed=exp.params.to_dict())
    if not len(the_space):
        raise TuneError("nothing left to search: every hyperparameter is fixed with --hp",
                        "drop some --hp flags, or add ranges with --space")
    pruner = pruner or "auto"
    if epoch_budget is not None and epoch_budget < epochs:
        raise TuneError(f"--epoch-budget {epoch_budget} is less than one trial of {epochs} epochs",
                        f"give at least {epochs}, or shorter trials with --epochs")
    total = trials if trials is not None or epoch_budget is not None else \
        (COARSE_TRIALS if mode == "coarse" else FINE_TRIALS)
    folder = out_dir(out)
    store = store if store is not None else open_storage(folder, storage)
    if delete_old:
        optuna.delete_study(study_name=study_name, storage=store)

    study = optuna.create_study(study_name=study_name, storage=store, direction="maximize",
                                load_if_exists=True)
    attrs = {"mode": mode, "epochs": epochs, "space": the_space.to_dict(), "pruner": pruner,
             "from": from_study, "task": exp.recipe.task.label(), "trials": total,
             "epoch_budget": epoch_budget}
    if stored is None:
        attrs[RECIPE] = exp.recipe.to_dict()
        attrs["declared"] = {name: spec.to_dict(declaration=True) for name, spec in exp.declared.items()}
        attrs[CREATED_AT] = datetime.now().isoformat()  # last: it marks the study described
        if mode == "fine":
            _enqueue_best(store, from_study, study, the_space)
    for key, value in attrs.items():
        if stored is None or stored.get(key) != value:
            study.set_user_attr(key, value)

    plan = Plan(study_name, str(folder), storage, mode, the_space.to_dict(), epochs, total,
                time.time() + timeout if timeout else None, exp.seed, pruner, jobs, heartbeat,
                epoch_budget)
    before = count_trials(study.get_trials(deepcopy=False)).finished
    interrupted = _run(exp, plan, store, study, on_trial)
    result = summarize(study, storage=describe_storage(folder, storage), mode=mode, epochs=epochs,
                       space=the_space.to_dict(), from_study=from_study, interrupted=interrupted,
                       epoch_budget=epoch_budget, max_trials=total)
    result.new_trials = result.trials - before
    reasons = [g["reason"] for g in result.failures]
    result.warnings = warnings + (edge_findings(the_space, result.best["searched"], exp.space)
                                  if result.best else []) + failure_findings(result.trials,
                                                                             result.failed, reasons)
    if plots:
        from tuner.search.plots import plot_search

        result.files += [str(p) for p in plot_search(study, folder / f"search_{safe_name(study_name)}")]
    result.files.append(str(save_json(folder / f"search_{safe_name(study_name)}.json", result)))
    return result


def check_args(mode: str | None, trials: int | None, timeout: float | None, epochs: int | None,
               jobs: int, pruner: str | None, heartbeat: int = HEARTBEAT_SECONDS,
               epoch_budget: int | None = None) -> None:
    if mode not in (None, "coarse", "fine"):
        raise TuneError(f"search mode {mode!r}: expected coarse or fine")
    if trials is not None and trials < 1:
        raise TuneError(f"--trials {trials}: must be at least 1")
    if epoch_budget is not None and epoch_budget < 1:
        raise TuneError(f"--epoch-budget {epoch_budget}: must be at least 1 epoch")
    if timeout is not None and not timeout > 0:
        raise TuneError(f"--timeout {timeout}: must be a positive number of seconds")
    if epochs is not None and epochs < 1:
        raise TuneError(f"--epochs {epochs}: must be at least 1")
    if epochs is not None and mode == "coarse":
        _check_coarse_epochs(epochs)
    if jobs < 1:
        raise TuneError(f"--jobs {jobs}: must be at least 1")
    if heartbeat < 1:
        raise TuneError(f"--heartbeat {heartbeat}: must be at least 1 second")
    if pruner is not None and pruner not in PRUNERS:
        raise TuneError(f"--pruner {pruner}: unknown pruner", f"choose one of {', '.join(PRUNERS)}")


def _check_coarse_epochs(epochs: int) -> None:
    if epochs > MAX_COARSE_EPOCHS:
        raise TuneError(f"--epochs {epochs}: a coarse search runs short trials of 1-{MAX_COARSE_EPOCHS} "
                        "epochs", "use --epochs 3 here, and longer trials in the fine search")


def coarse_space(exp: Experiment, space_args: list[str] | None = None, *,
                 lr_range: LRRangeResult | None = None) -> SearchSpace:
    """The coarse search's default space for ``exp`` (its model's declarations, the
    training names not fixed, augmentation on image data, transfer names with
    pretrained weights), reshaped by ``--space`` flags when given.

    Raises:
        TuneError: a ``--space`` flag does not fit the space.
    """
    space = default_space(exp.space, fixed=exp.fixed, train_fixed=exp.params.to_dict(),
                          lr_range=lr_range, images=exp.images,
                          transfer=exp.recipe.pretrained is not None)
    if space_args is None:
        return space
    return apply_space_args(space, space_args, model_space=exp.space, fixed=exp.fixed,
                            train_fixed=exp.params.to_dict())


def check_join(name: str, stored: Mapping[str, Any], recipe: Recipe) -> list[Finding]:
    """Whether ``recipe`` may add trials to the stored study ``name``.

    Another task, model, data or fixed hyperparameter is another experiment:
    refused, naming the first difference. The same task file with another
    source may be a fixed bug or another model: a ``task-changed`` warning,
    since the old trials may no longer compare with the new ones.

    Raises:
        TuneError: the study was made by another experiment.
    """
    made = stored.get(RECIPE)
    if made is None:  # a study from before recipes were stored: nothing to compare
        return []
    old = Recipe.from_dict(made)
    diff = old.difference(recipe)
    if diff is not None:
        raise TuneError(f'study "{name}" was made by {old.describe()}, this run is '
                        f"{recipe.describe()} ({diff})",
                        f"use --study NEWNAME for a new study, or --restart to delete "
                        f'study "{name}" and start over')
    if old.source_changed(recipe):
        return [Finding("task-changed", "warn",
                        f"{recipe.task.label()} changed since study \"{name}\" started (source "
                        f"{old.task.sha256[:HASH_CHARS]} then, {recipe.task.sha256[:HASH_CHARS]} now): "
                        "its earlier trials may not compare with the new ones",
                        f"use --restart to delete study \"{name}\" and search again, "
                        "or --study NEWNAME to keep both")]
    return []


def joined_recipe(out: str | Path, storage: str | None, name: str) -> Recipe | None:
    """The recipe stored with study ``name``, ready to run here, or None when there
    is no such study (or it predates recipes): how a worker joins a study with
    ``--storage URL --study NAME`` alone.

    Raises:
        TuneError: the study's task file is not on this machine.
    """
    if storage is None and not journal_path(out).is_file():
        return None
    stored = _stored_attrs(open_storage(out, storage), name)
    made = (stored or {}).get(RECIPE)
    if made is None:
        return None
    recipe = Recipe.from_dict(made)
    task = recipe.task
    if task.is_file and not Path(task.task).is_file():
        raise TuneError(f'study "{name}" was made with the task file {task.task}, '
                        "which is not on this machine",
                        "copy it to the same path, or give it with --task PATH "
                        "(and the study's --hp values)")
    if task.task is None and task.data not in (None, "digits") and not Path(task.data).exists():
        raise TuneError(f'study "{name}" was made with --data {task.data}, which is not on this '
                        "machine", "copy it to the same path, or give --model and --data")
    current = task.current_sha256()
    return recipe.with_task(replace(task, sha256=current or task.sha256))


def _stored_attrs(store: Any, name: str) -> dict[str, Any] | None:
    """The study's user attributes, or None if there is no such study.

    Optuna creates a study and then its attributes one by one, so a worker on
    another machine starting at the same moment can find the study half
    described (no recipe yet, or no settings at all). ``created_at`` is written
    last: while it is missing from a study with no finished trial, this waits
    (up to :data:`DESCRIBE_WAIT_SECONDS`) for its creator to finish. A study
    with finished trials and no ``created_at`` is an old one, read as it is.
    """
    from optuna.exceptions import OptunaError
    from optuna.trial import TrialState

    try:
        study_id = store.get_study_id_from_name(name)
    except (KeyError, OptunaError):
        return None
    deadline = time.monotonic() + DESCRIBE_WAIT_SECONDS
    while True:
        attrs = dict(store.get_study_user_attrs(study_id))
        if CREATED_AT in attrs or time.monotonic() > deadline or store.get_all_trials(
                study_id, deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
            return attrs
        time.sleep(0.1)


def _resume(stored: dict[str, Any], name: str, mode: str | None, epochs: int | None,
            space: SearchSpace | None, pruner: str | None,
            from_study: str | None) -> tuple[str, int, SearchSpace, str, str | None]:
    """A stored study's settings; a flag that contradicts them is an error."""
    if "space" not in stored or "mode" not in stored:
        raise TuneError(f"--study {name}: this study was not created by tune search",
                        "choose another --study name")
    if mode is not None and mode != stored["mode"]:
        raise TuneError(f"--study {name} is a {stored['mode']} search; it cannot be resumed as {mode}",
                        f"drop --{mode}, or choose another --study name")
    if epochs is not None and epochs != stored["epochs"]:
        raise TuneError(f"--study {name} trains {stored['epochs']} epochs per trial, not {epochs}",
                        "drop --epochs to resume it, or start another --study")
    if from_study is not None and from_study != stored.get("from"):
        raise TuneError(f"--study {name} was narrowed from {stored.get('from')}, not {from_study}",
                        "drop --from to resume it, or start another --study")
    return (stored["mode"], int(stored["epochs"]), space or SearchSpace.from_dict(stored["space"]),
            pruner or stored.get("pruner") or "auto", stored.get("from"))


def fine_space(storage: Any, from_study: str, *, top_k: int | None = None) -> tuple[SearchSpace, int]:
    """The fine space narrowed around ``from_study``'s top-k completed trials,
    and that study's epochs per trial. ``storage`` is an :func:`open_storage`
    result (None: there is no storage yet, so no such study).

    ``tune run`` can widen or shift the returned space and pass it to
    :func:`search` as ``space=``.
    """
    import optuna
    from optuna.trial import TrialState

    stored = _stored_attrs(storage, from_study) if storage is not None else None
    if stored is None or "space" not in stored:
        raise TuneError(f"--from {from_study}: no such coarse study in this storage",
                        "run tune search --coarse --study NAME first, or check --out/--storage")
    coarse = optuna.load_study(study_name=from_study, storage=storage)
    done = sorted(coarse.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                  key=lambda t: (-t.value, t.number))
    if not done:
        raise TuneError(f"--from {from_study}: the study has no completed trial to narrow around",
                        "run more coarse trials (raise --trials), or check why they fail")
    k = top_k or default_top_k(len(done))
    space = SearchSpace.from_dict(stored["space"])
    top = [t.params for t in done[:k]]
    # A short coarse trial cannot compare strata (augmented trials start slower): each
    # stratum the coarse search completed keeps its own best trials in the narrowing.
    for key in STRATA:
        if key in space and space[key].kind == "choice":
            for value in space[key].options:
                within = [t for t in done if t.params.get(key) == value]
                top += [t.params for t in within[:default_top_k(len(within))] if t.params not in top]
    return narrow_space(space, top), int(stored.get("epochs", COARSE_EPOCHS))


def _enqueue_best(storage: Any, from_study: str, study: Any, space: SearchSpace) -> None:
    """Start the fine search with the coarse search's best configuration, trained longer."""
    import optuna

    best = best_of(optuna.load_study(study_name=from_study, storage=storage))
    if best is None:
        return
    params = {k: v for k, v in best.params.items() if k in space}
    if space.contains(params):
        # Two machines creating the fine study at once must not queue the best twice.
        study.enqueue_trial(params, user_attrs={"from_trial": best.number}, skip_if_exists=True)


def latest_coarse(storage: Any) -> str | None:
    """The most recently created coarse study in ``storage``."""
    coarse = [(s.user_attrs.get(CREATED_AT) or "", s._study_id, s.study_name)
              for s in storage.get_all_studies() if s.user_attrs.get("mode") == "coarse"]
    return max(coarse)[2] if coarse else None


def _run(exp: Experiment, plan: Plan, store: Any, study: Any, on_trial: OnTrial | None) -> bool:
    """Run the plan here or in worker processes; True when Ctrl-C stopped it."""
    try:
        if plan.jobs == 1:
            def report(outcome: Any) -> None:
                if on_trial is not None:
                    on_trial(progress_of(study, plan, outcome.to_dict()))
            run_worker(exp, plan, storage=store, on_outcome=report)
        else:
            from tuner.search.workers import run_parallel

            seen: list[tuple[int, int]] = []

            def watch() -> None:
                progress = progress_of(study, plan)
                if on_trial is not None and [(progress.done, progress.epochs_spent)] != seen:
                    seen[:] = [(progress.done, progress.epochs_spent)]
                    on_trial(progress)
            run_parallel(plan, exp.recipe, device=exp.device.type, watch=watch,
                         threads=exp.threads.threads if exp.threads is not None else None)
    except KeyboardInterrupt:
        return True
    return False


def safe_name(name: str) -> str:
    """A study name usable in a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"
