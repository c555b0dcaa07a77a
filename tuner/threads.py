"""How many CPU threads torch trains with: ``--threads N|auto``.

Small models lose to thread synchronisation, large ones gain from threads,
and a busy machine changes the balance (on a loaded 2-core machine the demo
walk took 270 s with torch's default threads and 41 s with one). ``auto``
therefore measures instead of guessing: a few training steps of the
experiment's own model and batch at one thread and at every core, alternated
so that a passing load hits both alike, and keeps the faster. It stays short:
a model whose single step already takes long is timed on part of its batch
(the cost of one step decides nothing by itself: on a busy machine even a
large model can train faster on one thread).

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

PROBE_SAMPLES = 8       # a first step on this many samples sizes the timed batch
STEP_SECONDS = 0.03     # the timed batch: as many samples as make a step about this long
TIMED_SECONDS = 0.06    # per setting and round: how long the timed steps may take
MAX_STEPS = 30
ROUNDS = 2              # 1, N, 1, N: each setting timed twice, the faster time kept
# More threads must be at least 30% faster to be chosen: the risk is lopsided. Where
# threads barely help (a small model) they cost 3x and more as soon as anything else
# wants the cores (measured on the demo walk: 4.3 s on one thread, 15.1 s on two, with
# the machine's own background work), while a model that gains from threads gains
# far more than that (the benchmark's CNN: 2x).
MARGIN = 0.7
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
    ``OMP_NUM_THREADS``, ``measured`` (possibly on part of a batch), ``one core``
    or ``device``.
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
    """Time training steps of ``exp``'s model at 1 thread and at ``cores`` threads, on
    as much of a training batch as makes a step of about STEP_SECONDS."""
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

        def step_seconds(x: torch.Tensor, y: torch.Tensor) -> float:
            start = time.perf_counter()
            trainer.step(x, y)
            return time.perf_counter() - start

        # Size the timed batch from a small slice: a heavy model is timed on part of its
        # batch, so the timing stays short whatever the model.
        torch.set_num_threads(1)
        probe = min(len(yb), PROBE_SAMPLES)
        step_seconds(xb[:probe], yb[:probe])  # allocations
        small = step_seconds(xb[:probe], yb[:probe])
        keep = max(2, min(len(yb), int(probe * STEP_SECONDS / max(small, 1e-6))))
        xb, yb = xb[:keep], yb[:keep]
        how = "measured" if keep == exp.params.batch_size else \
            f"measured on {keep} of {exp.params.batch_size} samples"

        def per_step(threads: int, rival: float) -> float:
            """Seconds per step at ``threads``, after a warm-up step (thread pools,
            allocations), over the steps that fit TIMED_SECONDS (at least one). A
            warm-up already twice as slow as the ``rival`` setting's steps decides it."""
            torch.set_num_threads(threads)
            warm = step_seconds(xb, yb)
            if warm >= rival / DECISIVE:
                return warm
            start = time.perf_counter()
            done = 0
            while done < MAX_STEPS and (done < 1 or time.perf_counter() - start < TIMED_SECONDS):
                trainer.step(xb, yb)
                done += 1
            return (time.perf_counter() - start) / done

        times: dict[int, float] = {1: float("inf"), cores: float("inf")}
        for _ in range(ROUNDS):
            for threads, rival in ((1, times[cores]), (cores, times[1])):
                times[threads] = min(times[threads], per_step(threads, rival))
            if not DECISIVE < times[cores] / times[1] < 1 / DECISIVE:
                break  # one setting is plainly faster: a second round would not change that
        best = cores if times[cores] < MARGIN * times[1] else 1
        return ThreadChoice(best, how, times)
    finally:
        torch.set_num_threads(before)
        torch.set_rng_state(rng)
