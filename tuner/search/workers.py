"""``--jobs N``: N worker processes on this machine, one study.

Each worker is a fresh (spawned) process that prepares the experiment again
from its :class:`~tuner.recipe.Recipe` (picklable, no argv round trip), opens the
same storage and runs :func:`~tuner.search.study.run_worker`. The CPU threads
are split among the workers so that N workers do not each grab every core.
The parent only watches the study and reports progress.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Any, Callable

from tuner.errors import TuneError
from tuner.search.study import Plan
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
        errors.put(e.one_line())
        os._exit(2)
    except Exception as e:  # a bug: pass it on, the parent reports it
        errors.put(f"{type(e).__name__}: {e}")
        os._exit(1)


def run_parallel(plan: Plan, recipe: Recipe, *, device: str, threads: int | None = None,
                 watch: Callable[[], None] | None = None) -> None:
    """Run ``plan.jobs`` workers until the study is done; ``watch()`` is called
    every half second meanwhile (progress).

    Raises:
        KeyboardInterrupt: after every worker has marked its trial and exited.
        TuneError: a worker failed.
    """
    ctx = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    errors = ctx.SimpleQueue()
    threads = threads_per_worker(plan.jobs, threads)
    procs = [ctx.Process(target=_worker_main, name=f"tune-worker-{i}", daemon=True,
                         args=(plan, recipe, device, i, threads, errors))
             for i in range(plan.jobs)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(POLL_SECONDS)
            if watch is not None:
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
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    if messages:
        raise TuneError(f"a --jobs worker failed: {messages[0]}")
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad:
        raise TuneError(f"a --jobs worker exited with code {bad[0]}",
                        "run with --jobs 1 to see the error")
