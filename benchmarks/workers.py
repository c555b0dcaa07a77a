"""Many workers on one study: what PostgreSQL costs, how throughput scales, and a soak.

1. Storage overhead per trial: the same trials of a tiny model (the demo MLP,
   width 32, depth 1, 1 epoch) in one process on the journal file and on
   PostgreSQL: the span from the first trial's start to the last one's end,
   per trial, less the time spent in training epochs; the rest is sampling,
   building the model, and every storage call (claiming, the lease, each
   suggestion and epoch report, the trial's records). PostgreSQL is measured
   with durable commits (the server default) and with ``synchronous_commit = off``.
2. Trials per minute with 1, 2 and 4 workers (``--jobs N``) on PostgreSQL and
   on the journal: the whole run (start-up included), and the steady state
   (first trial start to last trial end).
3. A soak: 4 workers (separate ``tune search`` processes, as on 4 machines)
   share one PostgreSQL study of 200 trials (4 x 50, 2 epochs each); every
   20 s one of them is killed with SIGKILL and a new one started. Checked at
   the end: exactly 200 finished trials, none running or queued, every lost
   trial failed with its reason and retried exactly once, no retry counted
   twice.

The server is ``--postgres URL``, or a throwaway one started with
``.ci/postgres-start`` (Debian's ``postgresql`` package).

    python benchmarks/workers.py [--postgres URL] [--soak-trials 200] [--kill-every 20]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TINY = ["width=32", "depth=1"]


def start_server() -> tuple[str, Path]:
    folder = Path(tempfile.mkdtemp(prefix="tune-bench-pg-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([str(ROOT / ".ci" / "postgres-start"), str(folder), str(port)], check=True,
                   stdout=subprocess.DEVNULL)
    return (folder / "url").read_text().strip(), folder


def with_setting(url: str, setting: str) -> str:
    """The URL with a server setting for its connections (libpq ``options``)."""
    from urllib.parse import quote

    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-c {setting}')}"


def finished_trials(storage: Any, study: str) -> list[Any]:
    import optuna

    return [t for t in optuna.load_study(study_name=study, storage=storage).get_trials()
            if t.state.is_finished()]


def span_and_training(trials: list[Any]) -> tuple[float, float]:
    """(first start to last end, seconds spent in training epochs) of finished trials."""
    start = min(t.datetime_start.timestamp() for t in trials)
    end = max(t.datetime_complete.timestamp() for t in trials)
    return end - start, sum(e["seconds"] for t in trials for e in t.user_attrs["history"]["epochs"])


def steady_rate(trials: list[Any]) -> float:
    """Trials per minute once every worker has finished its first trial (a process's
    first trial also pays for imports torch makes on first use)."""
    by_worker: dict[int, list[Any]] = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"]["pid"], []).append(t)
    ready = max(min(t.datetime_complete.timestamp() for t in ts) for ts in by_worker.values())
    after = [t for t in trials if t.datetime_start.timestamp() >= ready]
    end = max(t.datetime_complete.timestamp() for t in trials)
    return len(after) / (end - ready) * 60 if after and end > ready else float("nan")


def overhead(exp: Any, storages: dict[str, str | None], out: Path, trials: int, repeats: int) -> None:
    from tuner.search import search
    from tuner.search.storage import open_storage

    print(f"\n1. time per trial outside training ({trials} trials of 1 epoch, {repeats} rounds, median)")
    print(f"{'storage':38s} {'per trial':>10s} {'training':>9s} {'the rest':>9s} {'vs journal':>11s}")
    base = None
    for name, url in storages.items():
        total, train = [], []
        for r in range(repeats):
            study = f"overhead-{r}-{time.time_ns()}"
            search(exp, study_name=study, out=out, storage=url, trials=trials, epochs=1,
                   pruner="none", plots=False)
            done = finished_trials(open_storage(out, url), study)
            span, training = span_and_training(done)
            total.append(span / len(done))
            train.append(training / len(done))
        t, tr = statistics.median(total) * 1000, statistics.median(train) * 1000
        base = t - tr if base is None else base
        print(f"{name:38s} {t:7.1f} ms {tr:6.1f} ms {t - tr:6.1f} ms {t - tr - base:+8.1f} ms")


def throughput(exp: Any, storages: dict[str, str | None], out: Path, trials: int) -> None:
    from tuner.search import search
    from tuner.search.storage import open_storage

    print(f"\n2. trials per minute ({trials} trials of 2 epochs, {os.cpu_count()} cores)")
    print(f"{'storage':14s} {'workers':>7s} {'whole run':>10s} {'steady':>8s}   (trials/min)")
    for name, url in storages.items():
        for jobs in (1, 2, 4):
            study = f"throughput-{jobs}-{time.time_ns()}"
            t0 = time.perf_counter()
            search(exp, study_name=study, out=out, storage=url, trials=trials, epochs=2, jobs=jobs,
                   pruner="none", plots=False)
            wall = time.perf_counter() - t0
            done = finished_trials(open_storage(out, url), study)
            print(f"{name:14s} {jobs:7d} {len(done) / wall * 60:10.0f} {steady_rate(done):8.0f}")


def soak(url: str, out: Path, total: int, workers: int, kill_every: float) -> bool:
    import optuna

    from tuner.search.storage import open_storage
    from tuner.search.study import count_trials

    print(f"\n3. soak: {workers} workers, {total} trials of 2 epochs on PostgreSQL, "
          f"one worker killed (SIGKILL) every {kill_every:g} s and restarted")
    args = [sys.executable, "-m", "cli.main", "search", "--storage", url, "--study", "soak",
            "--trials", str(total), "--epochs", "2", "--pruner", "none", "--heartbeat", "5",
            "--hp", TINY[0], "--hp", TINY[1], "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    started = 0

    def launch() -> subprocess.Popen:
        nonlocal started
        folder = out / f"worker-{started}"
        folder.mkdir(parents=True)
        started += 1
        with open(folder / "stderr.txt", "w") as err:
            return subprocess.Popen(args + ["--out", str(folder)], cwd=folder, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)

    rng = random.Random(0)
    procs = [launch() for _ in range(workers)]
    kills, codes, errors = 0, [], []  # the last workers' exit codes and errors
    t0 = time.perf_counter()
    next_kill = t0 + kill_every
    while any(p.poll() is None for p in procs):
        time.sleep(0.2)
        if time.perf_counter() >= next_kill:
            next_kill += kill_every
            alive = [p for p in procs if p.poll() is None]
            if alive:
                victim = rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                procs[procs.index(victim)] = launch()
    wall = time.perf_counter() - t0
    for p in procs:
        codes.append(p.returncode)
        if p.returncode != 0:
            errors.append((Path(p.args[-1]) / "stderr.txt").read_text().strip()[-300:])

    trials = optuna.load_study(study_name="soak", storage=open_storage(out, url)).get_trials()
    c = count_trials(trials)
    lost = [t for t in trials if t.user_attrs.get("lost")]
    retries = {}
    for t in trials:
        if t.user_attrs.get("retry_cause") == "lost":
            retries.setdefault(t.user_attrs["retry_of"], []).append(t)
    retried_once = all(len(retries.get(t.number, [])) == 1 for t in lost if t.user_attrs.get("interrupted"))
    retries_done = all(r.state.is_finished() for rs in retries.values() for r in rs)
    reasons = all(t.user_attrs.get("reason", "").startswith("worker lost (") for t in lost)
    ok = (c.finished == total and c.running == 0 and c.waiting == 0 and retried_once
          and retries_done and reasons and not errors)
    print(f"wall {wall:.0f} s, {c.finished / wall * 60:.0f} trials/min; {started} processes started, "
          f"{kills} killed")
    print(f"finished {c.finished} of {total} (overshoot {c.finished - total}): {c.completed} completed, "
          f"{c.pruned} pruned, {c.failed} failed; running {c.running}, queued {c.waiting}")
    print(f"lost trials {len(lost)} (each failed with 'worker lost (...)': {reasons}), "
          f"retried exactly once: {retried_once}, retries finished: {retries_done}")
    if lost:
        print(f"  e.g. trial {lost[0].number}: {lost[0].user_attrs['reason']}")
    print(f"the last {workers} workers exited with {sorted(codes)}" + (f"; errors: {errors}" if errors else ""))
    print("soak:", "PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (default: start a throwaway server)")
    parser.add_argument("--overhead-trials", type=int, default=30)
    parser.add_argument("--overhead-repeats", type=int, default=3)
    parser.add_argument("--throughput-trials", type=int, default=40)
    parser.add_argument("--soak-trials", type=int, default=200)
    parser.add_argument("--soak-workers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=20.0)
    parser.add_argument("--parts", nargs="+", default=["overhead", "throughput", "soak"],
                        choices=["overhead", "throughput", "soak"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from tuner.experiment import prepare
    from tuner.recipe import Recipe

    server = None
    url = args.postgres
    if url is None:
        url, server = start_server()
    work = Path(tempfile.mkdtemp(prefix="tune-bench-"))
    try:
        exp = prepare(Recipe.from_flags(hp=TINY), "cpu")
        from tuner.search import search

        # A process's first trial pays for imports torch makes on first use: not measured.
        search(exp, study_name="warm-up", out=work / "warm-up", trials=1, epochs=1, plots=False)
        durable = with_setting(url, "synchronous_commit=on")
        ok = True
        if "overhead" in args.parts:
            overhead(exp, {"journal file": None, "postgresql (durable commits)": durable,
                           "postgresql (synchronous_commit off)":
                               with_setting(url, "synchronous_commit=off")},
                     work / "overhead", args.overhead_trials, args.overhead_repeats)
        if "throughput" in args.parts:
            throughput(exp, {"journal": None, "postgresql": durable}, work / "throughput",
                       args.throughput_trials)
        if "soak" in args.parts:
            ok = soak(durable, work / "soak", args.soak_trials, args.soak_workers, args.kill_every)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            subprocess.run([str(ROOT / ".ci" / "postgres-stop"), str(server)], check=False)
            shutil.rmtree(server, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
