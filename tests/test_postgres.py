"""Searches on a real PostgreSQL server: two "machines" (two ``tune search``
processes of two ``--jobs`` workers each) on one study, a worker killed with
SIGKILL mid-trial, the server restarted and stopped mid-search, ``tune status``,
the total kept exact under races, and the password never shown.

The server is the one ``.ci/run`` started (``TUNE_TEST_POSTGRES``), or one
these tests start with ``.ci/postgres-start`` when PostgreSQL is installed.
Without either the tests skip, saying why; in CI (``TUNE_TEST_POSTGRES_REQUIRED=1``)
they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import run_tune
from pg_server import ENV_REQUIRED, discard, server_or_reason
from procs import TINY, children, finish, freeze_mid_trial, spawn_tune, training_trial, trials_of, wait_for
from tuner.search.study import count_trials


@pytest.fixture(scope="module")
def postgres():
    server, reason = server_or_reason()
    if server is None:
        message = f"no PostgreSQL server for these tests: {reason}"
        if os.environ.get(ENV_REQUIRED) == "1":
            pytest.fail(message)
        pytest.skip(message)
    yield server
    discard(server)


@pytest.fixture
def db(postgres):
    """A fresh database on the server: its URL, password included."""
    return postgres.new_database()


def rdb(url: str):
    from tuner.search.storage import open_storage

    return open_storage(".", url)


def no_password(postgres, *texts: str) -> None:
    for text in texts:
        assert postgres.password not in text


def files_under(*folders: Path) -> str:
    return "".join(p.read_text(errors="replace") for f in folders for p in f.rglob("*") if p.is_file())


def test_two_machines_two_workers_each_and_one_killed(postgres, db, tmp_path):
    """Machine A and machine B (two processes with --jobs 2) share one study; one of
    A's workers is killed with SIGKILL mid-trial. The study ends with exactly 8
    trials; the killed one failed with its reason and was retried once; A reports
    the lost worker (exit 1), B finishes cleanly."""
    args = ["search", "--storage", db, "--study", "shared", "--jobs", "2", "--trials", "8",
            "--epochs", "2", "--pruner", "none", "--heartbeat", "2", *TINY, "--json"]
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir(), b_dir.mkdir()
    a = spawn_tune(*args, cwd=a_dir)
    b = spawn_tune(*args, cwd=b_dir)
    storage = rdb(db)
    a_workers = wait_for("A's workers", lambda: len(children(a.pid)) >= 2 and children(a.pid))
    victim = freeze_mid_trial(storage, "shared", a_workers)
    os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
    a_done, b_done = finish(a), finish(b)

    assert a_done.code == 1 and b_done.code == 0, a_done.stderr + b_done.stderr + b_done.stdout
    assert f"(pid {victim.user_attrs['worker']['pid']}) was killed by SIGKILL" in a_done.stderr
    assert "the study has 8 of 8 trials finished" in a_done.stderr
    result = json.loads(b_done.stdout)
    assert result["trials"] == 8 and result["lost_trials"] == 1
    trials = trials_of(storage, "shared")
    counts = count_trials(trials)
    assert (counts.finished, counts.lost, counts.running, counts.waiting) == (8, 1, 0, 0)
    lost = trials[victim.number]
    assert lost.state.name == "FAIL" and re.match(
        rf"worker lost \(host [^,]+, pid {victim.user_attrs['worker']['pid']}, last heartbeat \d+ s ago; "
        r"the process has exited\)", lost.user_attrs["reason"])
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == lost.params
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 4  # every worker of both machines ran trials
    # Four workers, four sampler seeds: no two fresh trials sampled the same configuration.
    fresh = [tuple(sorted(t.params.items())) for t in trials if "retry_of" not in t.user_attrs]
    assert len(set(fresh)) == len(fresh)
    no_password(postgres, a_done.stdout, a_done.stderr, b_done.stdout, b_done.stderr,
                files_under(a_dir, b_dir))

    status = run_tune("status", "--storage", db, "--json", "--out", str(a_dir))
    assert status.code == 0, status.stderr
    (s,) = status.json()["studies"]
    assert (s["study"], s["finished"], s["total"], s["trials"]["lost"], s["running"]) == \
        ("shared", 8, 8, 1, [])
    # Each of the 8 trials ran its 2 epochs, and the lost one the 1 or 2 it reported; the best
    # is the best completed trial's value (the four workers' seeds take the pid: no fixed value).
    assert 17 <= s["epochs_spent"] <= 18
    assert s["best"]["value"] == max(t.value for t in trials if t.state.name == "COMPLETE")
    assert status.json()["storage"] == db.replace(postgres.password, "***")
    no_password(postgres, status.stdout, status.stderr, run_tune("status", "--storage", db).stdout)


def test_a_server_restart_mid_search_is_ridden_out(postgres, db, tmp_path, monkeypatch):
    """The server stops for two seconds mid-search and comes back: the worker waits
    for it (retrying with backoff) and finishes the study with nothing lost."""
    monkeypatch.chdir(tmp_path)
    storage = rdb(db)

    def restart_after_two_trials() -> None:
        wait_for("two finished trials", lambda: count_trials(trials_of(storage, "coarse")).finished >= 2,
                 every=0.05)
        postgres.stop()
        time.sleep(2)
        postgres.start()

    restarter = threading.Thread(target=restart_after_two_trials, daemon=True)
    restarter.start()
    done = run_tune("search", "--storage", db, "--trials", "8", "--epochs", "2", "--pruner", "none",
                    *TINY, "--json")
    restarter.join(timeout=60)
    assert done.code == 0, done.stderr
    counts = count_trials(trials_of(storage, "coarse"))
    assert (counts.finished, counts.lost, counts.running) == (8, 0, 0)
    no_password(postgres, done.stdout, done.stderr)


def test_a_worker_that_loses_the_server_exits_1_and_a_rerun_reclaims_its_trial(
        postgres, db, tmp_path, monkeypatch):
    """The server goes away mid-trial for longer than a worker waits (a minute;
    2 s here): one error line, exit 1, the trial left RUNNING. After the server is
    back, the same command reclaims it (3 missed 1 s heartbeats), runs it again and
    completes the study."""
    from tuner.search import reconnect

    monkeypatch.setattr(reconnect, "PATIENCE_SECONDS", 2.0)
    monkeypatch.chdir(tmp_path)
    args = ["search", "--storage", db, "--trials", "2", "--epochs", "4", "--pruner", "none",
            "--heartbeat", "1", *TINY, "--hp", "batch_size=8", "--json"]
    storage = rdb(db)
    stopped = threading.Event()

    def stop_mid_trial() -> None:
        wait_for("a trial training", lambda: training_trial(storage, "coarse", {os.getpid()}),
                 every=0.01)
        postgres.stop()
        stopped.set()

    stopper = threading.Thread(target=stop_mid_trial, daemon=True)
    stopper.start()
    try:
        lost = run_tune(*args)
    finally:
        stopper.join(timeout=60)
        postgres.start()
    assert stopped.is_set()
    assert lost.code == 1 and lost.stdout == "", lost.stderr
    (line,) = lost.stderr.strip().splitlines()
    assert line.startswith("error: lost the connection to the storage postgresql://tune:***@")
    assert "for 2 s" in line and "run the same command again" in line
    no_password(postgres, lost.stderr)
    left = [t for t in trials_of(storage, "coarse") if t.state.name == "RUNNING"]
    assert len(left) == 1 and left[0].user_attrs["worker"]["pid"] == os.getpid()

    again = run_tune(*args)
    assert again.code == 0, again.stderr
    trials = trials_of(storage, "coarse")
    counts = count_trials(trials)
    assert (counts.finished, counts.lost, counts.running) == (2, 1, 0)
    reclaimed = trials[left[0].number]
    assert reclaimed.state.name == "FAIL" and "worker lost" in reclaimed.user_attrs["reason"]
    retry = [t for t in trials if t.user_attrs.get("retry_of") == reclaimed.number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"


@pytest.mark.parametrize("lock_wait, most", [(30.0, 1), (0.0, 4)])
def test_four_workers_racing_for_the_last_trial(db, monkeypatch, lock_wait, most):
    """PostgreSQL's advisory lock makes the total exact; without it (the lock not
    had in time: here another connection holds it all along) the workers still
    claim, and four can overshoot by at most one trial each but one."""
    import hashlib

    import optuna
    from sqlalchemy import text

    from tuner.search import study as study_module
    from tuner.search.reconnect import retrying
    from tuner.search.lease import rdb_of
    from tuner.search.study import Plan, claim_trial, load_study

    monkeypatch.setattr(study_module, "LOCK_WAIT_SECONDS", lock_wait)
    optuna.create_study(study_name="race", storage=rdb(db), direction="maximize")
    plan = Plan("race", ".", db, "coarse", {}, 1, 1, time.time() + 1.5, 0, "none", jobs=4)
    studies = [load_study(plan, retrying(rdb(db), describe="db"), worker=i) for i in range(4)]
    start = threading.Barrier(4)
    claimed = []

    def claim(study) -> None:
        start.wait()
        if claim_trial(study, plan) is not None:
            claimed.append(1)

    holder = None
    if lock_wait == 0.0:  # the lock taken elsewhere: a claim that waited for it would claim nothing
        key = int.from_bytes(hashlib.sha256(b"tune:race").digest()[:8], "big", signed=True)
        holder = rdb_of(rdb(db)).engine.connect()
        holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    try:
        threads = [threading.Thread(target=claim, args=(s,)) for s in studies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
    created = len(studies[0].get_trials(deepcopy=False))
    assert created == len(claimed) and 1 <= created <= most


def test_a_wrong_password_is_one_line_and_masked(postgres, tune):
    wrong = postgres.url.replace(postgres.password, "not-the-password-42")
    run = tune("search", "--storage", wrong, "--trials", "1")
    assert run.code == 2 and run.stderr.count("\n") == 1
    assert "password authentication failed" in run.stderr and "not-the-password-42" not in run.stderr
