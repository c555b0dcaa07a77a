"""How many CPU threads torch trains with: ``--threads N|auto``.

Small models lose to thread synchronisation, large ones gain from threads,
and a busy machine changes the balance (on a loaded 2-core machine the demo
walk took 270 s with torch's default threads and 41 s with one). ``auto``
therefore measures instead of guessing: a few training steps of the
experiment's own model and batch at one thread and at every core, alternated
so that a passing load hits both alike, and keeps the faster. It stays well
under a second: a model whose single step already takes long is large enough
to gain from threads, and takes them without further timing.

``auto`` respects ``OMP_NUM_THREADS`` when it is set (the user has decided),
and leaves an accelerator's runs alone (threads only feed it).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuner.errors import TuneError

if TYPE_CHECKING:
    from tuner.experiment import Experiment

LARGE_STEP = 0.2        # seconds: a step this slow at one thread belongs to a model that gains from threads
TIMED_SECONDS = 0.12    # per setting and round: how long the timed steps may take
MIN_STEPS, MAX_STEPS = 2, 30
ROUNDS = 2              # 1, N, 1, N: each setting timed twice, the faster time kept
MARGIN = 0.9            # more threads must be at least 10% faster to be chosen
DECISIVE = 0.5          # a ratio beyond 2x either way needs no second round


def parse_threads(text: str) -> int | None:
    """``auto`` -> None; a whole number >= 1 -> itself; else a TuneError."""
    if text.strip().lower() == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise TuneError(f"--threads {text}: expected auto or a whole number of at least 1",
                        "for example --threads auto (the default) or --threads 1")
    return n


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadChoice:
    """The threads torch trains with, and why (``how``): ``--threads``,
    ``OMP_NUM_THREADS``, ``measured``, ``large model``, ``one core`` or ``device``.
    ``seconds_per_step`` holds what was measured, by thread count."""

    threads: int
    how: str
    seconds_per_step: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"threads": self.threads, "how": self.how,
                "seconds_per_step": {str(k): v for k, v in self.seconds_per_step.items()}}


def choose_threads(exp: Experiment, requested: int | None = None) -> ThreadChoice:
    """Decide the thread count for ``exp`` (``requested``: a number, or None for
    auto), set it with ``torch.set_num_threads`` and return the choice."""
    import torch

    cores = available_cores()
    if requested is not None:
        choice = ThreadChoice(requested, "--threads")
    elif os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        choice = ThreadChoice(max(1, int(os.environ["OMP_NUM_THREADS"])), "OMP_NUM_THREADS")
    elif exp.device.type != "cpu":
        choice = ThreadChoice(torch.get_num_threads(), "device")
    elif cores <= 1:
        choice = ThreadChoice(1, "one core")
    else:
        choice = _measure(exp, cores)
    torch.set_num_threads(choice.threads)
    return choice


def _measure(exp: Experiment, cores: int) -> ThreadChoice:
    """Time training steps of ``exp``'s model at 1 thread and at ``cores`` threads."""
    import torch

    from tuner.data import first_batch
    from tuner.engine import Trainer

    before = torch.get_num_threads()
    rng = torch.get_rng_state()
    try:
        built = exp.build()
        trainer = Trainer(built.model, exp.params, loss_fn=exp.task.loss_fn, device=exp.device,
                          groups=built.groups, steps_per_epoch=1, total_steps=1 << 30)
        xb, yb = first_batch(exp.train, exp.params.batch_size, exp.device)
        built.model.train()

        def per_step(threads: int, steps: int) -> float:
            """Seconds per step over at most ``steps`` steps, stopping early once
            TIMED_SECONDS have passed (a setting that is slow shows it soon)."""
            torch.set_num_threads(threads)
            start = time.perf_counter()
            trainer.step(xb, yb)  # warm-up: thread pools and allocations
            warm = time.perf_counter() - start
            if warm >= TIMED_SECONDS:  # so slow that the warm-up alone says enough
                return warm
            start = time.perf_counter()
            done = 0
            while done < steps and (done < 1 or time.perf_counter() - start < TIMED_SECONDS):
                trainer.step(xb, yb)
                done += 1
            return (time.perf_counter() - start) / done

        one = per_step(1, 1)
        if one >= LARGE_STEP:
            return ThreadChoice(cores, "large model", {1: one})
        steps = max(MIN_STEPS, min(MAX_STEPS, int(TIMED_SECONDS / max(one, 1e-6))))
        times: dict[int, float] = {1: one, cores: float("inf")}
        for _ in range(ROUNDS):
            for threads in (1, cores):
                times[threads] = min(times[threads], per_step(threads, steps))
            if not DECISIVE < times[cores] / times[1] < 1 / DECISIVE:
                break  # one setting is plainly faster: a second round would not change that
        best = cores if times[cores] < MARGIN * times[1] else 1
        return ThreadChoice(best, "measured", times)
    finally:
        torch.set_num_threads(before)
        torch.set_rng_state(rng)
