"""Workers that die, freeze or come back late, on the default journal file:
leases and heartbeats, reclaiming lost trials, the lost-worker report,
sampler seeds per process, and ``tune status``. (The same on a PostgreSQL
server: test_postgres.py.)
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_tune
from procs import TINY, children, finish, freeze_mid_trial, spawn_tune, trials_of, wait_for
from tuner.search.lease import BEAT_KEY, LEASE_KEY, Worker, this_worker
from tuner.search.storage import open_storage
from tuner.search.study import Plan, claim_trial, count_trials, derive_seed, load_study

LOST = re.compile(r"worker lost \(host (?P<host>[^,]+), pid (?P<pid>\d+), last heartbeat \d+ s ago")


def test_a_frozen_worker_loses_its_trial_and_a_killed_one_is_reported(tmp_path):
    """SIGSTOP one of two --jobs workers mid-trial: after 3 missed heartbeats (1 s each)
    the other worker fails its trial and runs it again; then SIGKILL the frozen one:
    the parent reports it (exit 1) once the study is done, with exactly 6 trials."""
    search = spawn_tune("search", "--jobs", "2", "--trials", "6", "--epochs", "3", "--pruner", "none",
                        "--heartbeat", "1", *TINY, "--json", cwd=tmp_path)
    storage = open_storage(tmp_path / ".tune")
    workers = wait_for("two workers", lambda: len(children(search.pid)) >= 2 and children(search.pid))
    victim = freeze_mid_trial(storage, "coarse", workers)
    pid = victim.user_attrs["worker"]["pid"]
    try:
        lost = wait_for("the frozen trial to be reclaimed", lambda: next(
            (t for t in trials_of(storage, "coarse") if t.number == victim.number
             and t.state.name == "FAIL"), None), timeout=30, every=0.2)
    finally:
        os.kill(pid, signal.SIGKILL)
    done = finish(search)

    assert done.code == 1, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: lost a --jobs worker:") and f"(pid {pid}) was killed by SIGKILL" in error
    assert "the study has 6 of 6 trials finished" in error and "1 lost and retried" in error
    trials = trials_of(storage, "coarse")
    assert count_trials(trials).finished == 6 and count_trials(trials).running == 0
    # Frozen, not dead: reclaimed by its heartbeat's age, not because its process was gone.
    match = LOST.match(lost.user_attrs["reason"])
    assert match and int(match["pid"]) == pid and "exited" not in lost.user_attrs["reason"]
    assert lost.user_attrs["lost"] and lost.user_attrs["interrupted"]
    retries = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == lost.params and retries[0].user_attrs["retry_cause"] == "lost"
    assert all(t.user_attrs["worker"]["host"] == this_worker().host for t in trials)


@pytest.fixture
def demo(tmp_path):
    """The demo prepared in this process, and a coarse study to run it in."""
    import optuna

    from tuner.experiment import prepare
    from tuner.search.space import default_space
    from tuner.recipe import Recipe

    exp = prepare(Recipe.from_flags(hp=["width=32", "depth=1"]), "cpu")
    space = default_space(exp.space, fixed=exp.fixed, train_fixed=exp.params.to_dict())
    out = tmp_path / "out"
    optuna.create_study(study_name="s", storage=open_storage(out), direction="maximize")
    plan = Plan("s", str(out), None, "coarse", space.to_dict(), 2, 2, None, 0, "none", heartbeat=1)
    return exp, plan, space


def test_a_worker_that_wakes_after_its_trial_was_reclaimed_drops_it(demo):
    """A worker elsewhere claims a trial and goes silent; 3 s later this worker
    reclaims it and runs its retry; the late worker's result is not counted."""
    from tuner.search.objective import run_trial, sample_training
    from tuner.search.reconnect import retrying

    exp, plan, space = demo
    plan = dataclasses.replace(plan, trials=1)
    storage = retrying(open_storage(plan.out), describe="journal")
    study = load_study(plan, storage, worker=0)
    elsewhere = Worker("elsewhere", 4242)
    late = claim_trial(study, plan, me=elsewhere)
    assert late is not None
    sample_training(late, space)  # it got as far as sampling its configuration
    frozen = study._storage.get_trial(late._trial_id)
    assert frozen.user_attrs["worker"] == {"host": "elsewhere", "pid": 4242}
    assert frozen.system_attrs[LEASE_KEY]["interval"] == 1

    other = claim_trial(study, plan)  # waits for the lease to lapse (3 s), then reclaims it
    assert other is not None
    lost = study._storage.get_trial(late._trial_id)
    assert lost.state.name == "FAIL"
    assert LOST.match(lost.user_attrs["reason"])["host"] == "elsewhere"
    assert run_trial(exp, study, late, space, plan.epochs).state == "lost"  # it wakes up
    assert run_trial(exp, study, other, space, plan.epochs).state == "complete"
    trials = study.get_trials(deepcopy=False)
    assert lost.params and lost.params.items() <= trials[other.number].params.items()
    assert trials[other.number].user_attrs["retry_of"] == late.number
    counts = count_trials(trials)
    assert (counts.completed, counts.lost, counts.finished) == (1, 1, 1)


def test_a_lost_retry_is_not_retried_again(demo):
    """Queued again once: a retry whose worker is lost too counts as failed, with why."""
    exp, plan, space = demo
    study = load_study(plan, open_storage(plan.out), worker=0)
    ghost = Worker("elsewhere", 1)
    first = claim_trial(study, plan, me=ghost)
    _age(study, first, 10)
    retry = claim_trial(study, plan, me=ghost)  # reclaims the first, takes its retry
    _age(study, retry, 10)
    assert claim_trial(study, plan, me=Worker("elsewhere", 2)) is not None
    trials = study.get_trials(deepcopy=False)
    assert retry.number == first.number + 1 and trials[retry.number].user_attrs["retry_of"] == first.number
    assert "not retried again" in trials[retry.number].user_attrs["reason"]
    counts = count_trials(trials)
    assert (counts.lost, counts.failed, counts.running, counts.waiting) == (1, 1, 1, 0)


def _age(study, trial, seconds):
    """Make a trial's heartbeat ``seconds`` old, as a silent worker would leave it."""
    study._storage.set_trial_system_attr(trial._trial_id, BEAT_KEY, time.time() - seconds)


def test_sampler_seeds_differ_per_process_and_repeat_for_one_job():
    a, b = Worker("box-a", 100), Worker("box-b", 100)
    assert derive_seed(7, 0, 0) == derive_seed(7, 0, 0)
    seeds = {derive_seed(7, 0, 0, process=w) for w in (a, b, Worker("box-a", 101))}
    assert len(seeds) == 3 and derive_seed(7, 0, 0) not in seeds
    base = Plan("s", "out", None, "coarse", {}, 1, 1, None, 7, "none")
    assert not base.shared  # --jobs 1 on a file: the same --seed repeats (test_search.py)
    assert Plan("s", "out", None, "coarse", {}, 1, 1, None, 7, "none", jobs=2).shared
    assert Plan("s", "out", "postgresql://h/db", "coarse", {}, 1, 1, None, 7, "none").shared


def test_status_shows_trials_workers_and_stale_leases(demo):
    exp, plan, space = demo
    study = load_study(plan, open_storage(plan.out), worker=0)
    study.set_user_attr("trials", 2)
    running = claim_trial(study, plan)
    gone = claim_trial(study, plan, me=Worker("elsewhere", 99))
    _age(study, gone, 100)
    study.tell(running, 0.5)
    status = run_tune("status", "--out", plan.out, "--json")
    assert status.code == 0, status.stderr
    result = status.json()
    assert result["storage"] == str(Path(plan.out) / "studies.journal")
    (s,) = result["studies"]
    assert (s["study"], s["total"], s["finished"], s["stale"]) == ("s", 2, 1, 1)
    assert s["trials"] == {"complete": 1, "pruned": 0, "failed": 0, "lost": 0, "interrupted": 0,
                           "running": 1, "waiting": 0}
    assert s["best"] == {"trial": running.number, "value": 0.5}
    (r,) = s["running"]
    assert (r["trial"], r["host"], r["pid"], r["stale"]) == (gone.number, "elsewhere", 99, True)
    assert r["heartbeat_age_seconds"] >= 100 and r["heartbeat_seconds"] == 1
    table = run_tune("status", "--out", plan.out)
    assert "elsewhere:99" in table.stdout and "stale" in table.stdout
    missing = run_tune("status", "--out", plan.out, "--study", "nope")
    assert missing.code == 2 and "studies there: s" in missing.stderr


def test_status_watch_refreshes_until_ctrl_c(demo, tmp_path):
    exp, plan, space = demo
    watch = spawn_tune("status", "--out", plan.out, "--watch", cwd=tmp_path)
    time.sleep(4)  # two refreshes at least, after the start-up
    watch.send_signal(signal.SIGINT)
    done = finish(watch, timeout=20)
    assert done.code == 0, done.stderr
    assert done.stdout.count("studies in") >= 2 and "error" not in done.stderr


def test_status_does_not_import_torch(tmp_path):
    code = ("import sys; sys.argv = ['tune', 'status', '--json']\n"
            "from cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert run.stdout.strip().splitlines()[-1] == "False" and "no studies" in run.stderr


def test_without_a_postgresql_driver_the_error_names_the_package(tune, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if neither driver were installed
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    run = tune("search", "--storage", "postgresql://me:s3cret@127.0.0.1:1/db", "--trials", "1")
    assert run.code == 2 and run.stderr.count("\n") == 1
    assert "pip install 'tune[postgres]'" in run.stderr and "s3cret" not in run.stderr
    status = tune("status", "--storage", "postgresql://me:s3cret@127.0.0.1:1/db")
    assert status.code == 2 and "tune[postgres]" in status.stderr and "s3cret" not in status.stderr


@pytest.mark.parametrize("args, words", [
    (("search", "--heartbeat", "0"), "--heartbeat 0"),
    (("status", "--watch", "--json"), "--watch"),
])
def test_bad_input_is_one_line_and_exit_2(tune, args, words):
    run = tune(*args)
    assert run.code == 2 and words in run.stderr and run.stderr.count("\n") == 1
