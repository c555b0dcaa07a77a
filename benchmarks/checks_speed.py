"""How long does each check take on the demo, torch import included?

Runs ``tune check-init``, ``tune check-loss`` and ``tune overfit-small`` on the
built-in demo as a user would (a fresh process each, ``--json``, plots
written), next to a bare ``python -c "import torch"``, interleaving the four
several times so that machine noise hits all alike. Prints the median wall
time of each, its ratio to the bare torch import (how much the check itself
adds), and the time spent past the import. Target: a few seconds each on 2
CPU cores.

    python benchmarks/checks_speed.py [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHECKS = ("check-init", "check-loss", "overfit-small")


def wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for the runs (default: torch's own choice)")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    runs = {"import torch": [sys.executable, "-c", "import torch"]}
    runs.update({c: [sys.executable, "-m", "cli.main", c, "--json", "--device", "cpu"] for c in CHECKS})
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as cwd:
        for name, cmd in runs.items():  # warm the file cache once
            wall(cmd, env, cwd)
        for _ in range(args.repeats):
            for name, cmd in runs.items():
                times[name].append(wall(cmd, env, cwd))
    base = statistics.median(times["import torch"])
    print(f"{'import torch':<14} {base:6.2f} s")
    for name in CHECKS:
        t = statistics.median(times[name])
        print(f"{name:<14} {t:6.2f} s   ratio to import torch {t / base:5.2f}   past the import {t - base:5.2f} s")
    worst = max(statistics.median(times[c]) for c in CHECKS)
    print(f"{'slowest check':<14} {worst:6.2f} s   (target: a few seconds on 2 CPU cores)")


if __name__ == "__main__":
    main()
