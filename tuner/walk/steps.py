"""Each step of ``tune run`` as a function from the walk to a :class:`StepRecord`.

A record keeps the step's key numbers (``summary``), its full result (what
later steps read back when the walk resumes) and the files it wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuner.walk.core import SEARCH_SHARE, STUDY_PREFIX
from tuner.walk.state import StepRecord

if TYPE_CHECKING:
    from tuner.walk.core import Steps

# The numbers of each sanity check worth a line in the walk's summary (the full
# metrics stay in the step's result and its own JSON file).
KEY_METRICS = {
    "check-init": ("std_factor", "std_drift", "trainable_parameters"),
    "check-loss": ("loss", "log_num_classes", "label_entropy"),
    "overfit-small": ("samples", "lr", "steps", "final_loss", "final_acc"),
}


def sanity(walk: "Steps", name: str) -> StepRecord:
    from tuner.checks import check_init, check_loss, overfit_small

    folder = walk.run_dir / name
    if name == "check-init":
        result = check_init(walk.exp, out=folder)
    elif name == "check-loss":
        result = check_loss(walk.exp, out=folder)
    else:
        bar = walk.progress(name)
        result = overfit_small(walk.exp, out=folder,
                               on_step=lambda done, total, lr: bar(done, total, f"lr {lr:.3g}"))
    worst = next((f for f in result.findings if f.severity == result.verdict), None)
    summary = {"findings": [f.code for f in result.findings],
               **{k: result.metrics[k] for k in KEY_METRICS[name] if k in result.metrics}}
    if worst is not None and result.verdict != "pass":
        summary["reason"] = f"{worst.code}: {worst.message}"
    return StepRecord(name, result.verdict, 0.0, summary, list(result.files), result.to_dict())


def lr_range_step(walk: "Steps") -> StepRecord:
    from tuner.lr_range import lr_range

    bar = walk.progress("lr-range")
    result = lr_range(walk.exp, out=walk.run_dir / "lr-range",
                      on_progress=lambda phase, done, total: bar(done, total, phase))
    data = result.to_dict()
    verdict = "warn" if result.warnings else "pass"
    summary = {"suggested_lr": result.suggested_lr, "range": list(result.range),
               "spread_decades": result.spread_decades, "warnings": list(result.warnings)}
    return StepRecord("lr-range", verdict, 0.0, summary, list(result.files),
                      {k: data[k] for k in ("suggested_lr", "range", "spread_decades", "optimizer")})


def search_step(walk: "Steps", name: str, mode: str, *, lr_range: dict[str, Any] | None = None,
                from_study: str | None = None, adjusted: dict[str, Any] | None = None) -> StepRecord:
    from tuner.search import SearchSpace, search

    study = f"{STUDY_PREFIX}-{name.removeprefix('search-')}"
    space = epochs = None
    if adjusted is not None:
        space = SearchSpace.from_dict(adjusted["space"])
        epochs = int(adjusted["epochs"])
    bar = walk.progress(name)

    def on_trial(p: Any) -> None:
        bar(p.done, p.total, "" if p.best_value is None else f"best val_acc {p.best_value:.4f}")

    result = search(walk.exp, study_name=study, out=walk.folder, mode=mode, from_study=from_study,
                    space=space, epochs=epochs, lr_range=lr_range,
                    timeout=walk.budget.share(SEARCH_SHARE[mode]), on_trial=on_trial)
    if result.interrupted:
        raise KeyboardInterrupt
    data = result.to_dict()
    best = data.get("best") or {}
    verdict = "fail" if not best else "warn" if result.warnings else "pass"
    summary = {"study": result.study, "trials": result.trials, "completed": result.completed,
               "pruned": result.pruned, "failed": result.failed, "best_value": best.get("value"),
               "epochs_per_trial": result.epochs, "epochs_spent": result.epochs_spent,
               "warnings": [w.code for w in result.warnings]}
    keep = {k: data[k] for k in ("study", "best", "space", "epochs_per_trial")}
    return StepRecord(name, verdict, 0.0, summary, list(result.files), keep)


def adjust_step(walk: "Steps", name: str, codes: list[str], last_search: StepRecord) -> StepRecord:
    from tuner.search import fine_space, open_storage
    from tuner.walk.adjust import adjust_space

    storage = open_storage(walk.folder)
    space, _ = fine_space(storage, last_search.summary["study"])
    adj = adjust_space(space, codes)
    epochs = int(last_search.summary["epochs_per_trial"]) * adj.epoch_factor
    summary = {"codes": codes, "changes": adj.changes, "epoch_factor": adj.epoch_factor,
               "epochs_per_trial": epochs}
    return StepRecord(name, "pass", 0.0, summary, [],
                      {"space": adj.space.to_dict(), "epochs": epochs})


def train_best_step(walk: "Steps", name: str, search_rec: StepRecord, epoch_factor: int) -> StepRecord:
    from tuner.train import train_and_save

    params = dict(search_rec.result["best"]["params"])
    epochs = final_epochs(walk.exp.params.epochs, int(search_rec.summary["epochs_per_trial"]),
                          epoch_factor)
    params["epochs"] = epochs
    if "schedule" not in walk.exp.overrides:
        # A long final run anneals, so the weights it saves are its settled best, not a
        # snapshot of a noisy plateau (the trials compared configurations; this one is kept).
        params["schedule"] = "cosine"
    exp = walk.exp.with_hp(params)
    bar = walk.progress(name)
    result = train_and_save(exp, walk.run_dir / name,
                            on_epoch=lambda rec: bar(rec.epoch, epochs, f"val_acc {rec.val_acc:.4f}"))
    h = result.history
    summary = {k: v for k, v in result.to_dict().items() if k not in ("hyperparameters", "files")}
    summary.update(epochs_spent=len(h.epochs), from_trial=search_rec.result["best"].get("trial"),
                   study=search_rec.summary["study"])
    return StepRecord(name, "fail" if h.diverged else "pass", 0.0, summary, result.files,
                      {"hyperparameters": result.hyperparameters, "history": h.to_dict()})


def final_epochs(configured: int, epochs_per_trial: int, factor: int) -> int:
    """The full budget of a final training: the configured epochs (times the rounds'
    still-improving factor), and at least twice the trials' length.

    ``epochs_per_trial`` already carries the factor (the adjusted search trains
    longer), so it is not multiplied again.
    """
    return max(configured * factor, 2 * epochs_per_trial)


def diagnose_step(walk: "Steps", name: str, trained: StepRecord) -> StepRecord:
    from tuner.diagnose import RunCurves, diagnose_and_save
    from tuner.engine import History

    run = RunCurves(History.from_dict(trained.result["history"]), trained.result["hyperparameters"])
    result = diagnose_and_save(run, walk.run_dir / name, source=trained.step)
    summary = {"codes": result.codes,
               "advice": {d.code: d.advice for d in result.diagnoses}}
    return StepRecord(name, result.verdict, 0.0, summary, list(result.files), result.to_dict())


def better(best: dict[str, Any] | None, trained: StepRecord) -> dict[str, Any]:
    """The better of the best so far and this training, by the validation accuracy of
    the weights it saved (its last epoch)."""
    acc = trained.summary["final_val_acc"]
    if best is not None and (acc is None or best["val_acc"] >= acc):
        return best
    return {"params": trained.result["hyperparameters"], "val_acc": acc, "step": trained.step,
            "model": next((f for f in trained.files if f.endswith("model.pt")), None)}
