"""``--jobs N``: N worker processes on this machine, one study.

Each worker is a fresh (spawned) process that prepares the experiment again
from its :class:`~tuner.recipe.Recipe` (picklable, no argv round trip), opens the
same storage and runs :func:`~tuner.search.study.run_worker`. The CPU threads
are split among the workers so that N workers do not each grab every core.
The parent only watches the study and reports progress.

A worker that dies (SIGKILL, the out-of-memory killer) is reported by the
parent when the others are done, with its signal and what the study holds
(:class:`~tuner.errors.RunError`, exit 1): its trial is reclaimed and redone
by the other workers, or by a rerun.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Any, Callable

from tuner.errors import RunError, TuneError
from tuner.search.study import Counts, Plan
from tuner.recipe import Recipe
from tuner.threads import available_cores

POLL_SECONDS = 0.5


def threads_per_worker(jobs: int, threads: int | None = None) -> int:
    """This machine's training threads (``--threads``' choice, else every core)
    split among ``jobs`` workers, at least one each."""
    return max(1, (threads or available_cores()) // max(jobs, 1))


def _worker_main(plan: Plan, recipe: Recipe, device: str, worker: int, threads: int,
                 errors: Any) -> None:
    """Entry point of one worker process."""
    import torch

    def interrupt_once(signum: int, frame: Any) -> None:
        # The terminal's Ctrl-C and the parent's may both arrive: the second
        # must not cut short the marking of the interrupted trial.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt_once)

    torch.set_num_threads(threads)
    from tuner.experiment import prepare
    from tuner.search.study import run_worker

    try:
        exp = prepare(recipe, device)
        run_worker(exp, plan, worker=worker)
    except KeyboardInterrupt:
        os._exit(130)  # the trial is already marked; skip interpreter teardown noise
    except TuneError as e:
        errors.put(("input", worker, e.one_line()))
        os._exit(2)
    except RunError as e:  # the storage went away: the parent says so, exit 1
        errors.put(("run", worker, e.one_line()))
        os._exit(1)
    except Exception as e:  # a bug: pass it on, the parent reports it
        errors.put(("bug", worker, f"{type(e).__name__}: {e}"))
        os._exit(1)


def run_parallel(plan: Plan, recipe: Recipe, *, device: str, threads: int | None = None,
                 watch: Callable[[], None] | None = None) -> None:
    """Run ``plan.jobs`` workers until the study is done; ``watch()`` is called
    every half second meanwhile (progress).

    Raises:
        KeyboardInterrupt: after every worker has marked its trial and exited.
        TuneError: a worker found the input bad, or failed with a bug.
        RunError: a worker was killed or lost the storage (once all are done).
    """
    from tuner.search.reconnect import skipping_connection_errors

    ctx = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    errors = ctx.SimpleQueue()
    threads = threads_per_worker(plan.jobs, threads)
    procs = [ctx.Process(target=_worker_main, name=f"tune-worker-{i}", daemon=True,
                         args=(plan, recipe, device, i, threads, errors))
             for i in range(plan.jobs)]
    for p in procs:
        p.start()
    try:
        while any([p.is_alive() for p in procs]):  # every one, so a killed worker is reaped now
            time.sleep(POLL_SECONDS)
            if watch is not None:
                with skipping_connection_errors():  # the storage is away: the workers ride it out or say so
                    watch()
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the workers too; a signal sent to this process alone does not.
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        raise
    for p in procs:
        p.join()
    first: dict[str, tuple[int, str]] = {}  # kind -> (worker, message) of its first report
    while not errors.empty():
        kind, i, message = errors.get()
        first.setdefault(kind, (i, message))
    if "input" in first:
        raise TuneError(f"a --jobs worker failed: {first['input'][1]}")
    if "run" in first:
        raise RunError(f"--jobs worker {first['run'][0]} stopped: {first['run'][1]}")
    if "bug" in first:
        raise TuneError(f"a --jobs worker failed: {first['bug'][1]}", "run with --jobs 1 to see the error")
    killed = [(i, p) for i, p in enumerate(procs) if p.exitcode is not None and p.exitcode < 0]
    if killed:
        raise lost_workers(plan, killed)
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad:
        raise RunError(f"a --jobs worker exited with code {bad[0]}", "run the same command again to resume")


def lost_workers(plan: Plan, killed: list[tuple[int, Any]]) -> RunError:
    """The error for workers that died by a signal: which, how, and what the study holds."""
    names = []
    for i, p in killed:
        try:
            how = signal.Signals(-p.exitcode).name
        except ValueError:
            how = f"signal {-p.exitcode}"
        names.append(f"worker {i} (pid {p.pid}) was killed by {how}")
    summary = study_summary(plan)
    done = summary is not None and plan.done(summary[2])
    hint = ("the other workers finished the study; tune status and tune best read it" if done
            else "run the same command again to finish the study")
    if any(p.exitcode == -signal.SIGKILL for _, p in killed):
        hint += " (SIGKILL often means the out-of-memory killer: see dmesg)"
    text = "; ".join(names)
    if summary is not None:
        finished, detail, counts = summary
        of = "" if plan.trials is None else f" of {plan.trials}"
        text += f"; the study has {finished}{of} trials finished ({detail})"
        if plan.epoch_budget is not None:
            text += f", {counts.epochs} of its {plan.epoch_budget} epochs spent"
    return RunError(f"lost a --jobs worker: {text}", hint)


def study_summary(plan: Plan) -> tuple[int, str, Counts] | None:
    """(finished trials, "c completed, p pruned, f failed, l lost and retried", the
    counts), or None if the storage cannot be read."""
    import optuna

    from tuner.search.storage import open_storage
    from tuner.search.study import count_trials

    try:
        study = optuna.load_study(study_name=plan.study_name, storage=open_storage(plan.out, plan.url))
        c = count_trials(study.get_trials(deepcopy=False))
    except Exception:  # the report must not hide the loss behind a storage error
        return None
    detail = f"{c.completed} completed, {c.pruned} pruned, {c.failed} failed"
    if c.lost:
        detail += f"; {c.lost} lost and retried"
    return c.finished, detail, c
