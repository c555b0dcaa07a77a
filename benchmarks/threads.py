"""Does ``--threads auto`` pick the CPU threads that suit the model, idle or busy?

Two commands, each run as a user runs it (a fresh ``tune`` process, wall time):

* ``demo walk``: ``tune run --until lr-range`` on the built-in demo (the
  sanity checks and the LR range test: small MLP steps, where thread
  synchronisation costs most);
* ``large cnn``: ``tune train --model cnn`` with width 96 and depth 4 on
  generated 3x32x32 images, 2 epochs (steps heavy enough to gain from threads).

Each with ``--threads 1``, ``--threads N`` (every core) and ``--threads auto``,
on an idle machine and with every core busy (background processes spinning,
started and stopped by this script), runs interleaved and repeated, the
median kept. Prints, per case, each setting's seconds and auto's time against
the best setting's (target: auto within 10%), and what auto chose.

    python benchmarks/threads.py [--repeats 3] [--cases walk cnn] [--loads idle busy]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tuner.threads import available_cores  # noqa: E402

TUNE = [sys.executable, "-m", "cli.main"]


def large_images(folder: Path) -> str:
    import numpy as np

    rng = np.random.default_rng(0)
    y = np.arange(1200) % 10
    x = rng.normal(size=(1200, 3, 32, 32)).astype(np.float32) + y[:, None, None, None] * 0.05
    path = folder / "images.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def command(case: str, folder: Path, out: Path) -> list[str]:
    if case == "walk":
        return [*TUNE, "run", "--until", "lr-range", "--out", str(out), "--json"]
    return [*TUNE, "train", "--model", "cnn", "--data", large_images(folder), "--hp", "width=96",
            "--hp", "depth=4", "--hp", "epochs=2", "--out", str(out), "--json"]


def spin() -> None:
    while True:
        pass


def timed(cmd: list[str], threads: str) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    start = time.perf_counter()
    run = subprocess.run([*cmd, "--threads", threads], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    seconds = time.perf_counter() - start
    if run.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {run.stderr[-500:]}")
    return seconds, json.loads(run.stdout)["threads"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["walk", "cnn"])
    parser.add_argument("--loads", nargs="+", default=["idle", "busy"])
    args = parser.parse_args()
    n = available_cores()
    settings = ["1", str(n), "auto"]
    print(f"{n} cores; each cell the median of {args.repeats} runs (wall seconds, whole command)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for load in args.loads:
            spinners = []
            if load == "busy":
                spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(n)]
                for p in spinners:
                    p.start()
            try:
                for case in args.cases:
                    times: dict[str, list[float]] = {s: [] for s in settings}
                    chosen: list[int] = []
                    for r in range(args.repeats):
                        order = settings if r % 2 == 0 else settings[::-1]
                        for s in order:
                            out = folder / f"{load}-{case}-{r}-{s}"  # never a saved walk to resume
                            seconds, threads = timed(command(case, folder, out), s)
                            times[s].append(seconds)
                            if s == "auto":
                                chosen.append(threads)
                    med = {s: statistics.median(v) for s, v in times.items()}
                    best = min(med[s] for s in settings if s != "auto")
                    cells = "  ".join(f"--threads {s}: {med[s]:6.1f}s" for s in settings)
                    verdict = "ok" if med["auto"] <= 1.10 * best else "MISSED"
                    print(f"{load:5} {case:5} {cells}   auto/best {med['auto'] / best:.2f} "
                          f"({verdict}, target <= 1.10); auto chose {sorted(set(chosen))}")
            finally:
                for p in spinners:
                    p.terminate()


if __name__ == "__main__":
    main()
