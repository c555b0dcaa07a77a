"""`tune run`: the whole walk on the demo, resuming, and stopping on a failed check."""

from __future__ import annotations

import shlex
from pathlib import Path

ZOO = Path(__file__).parent / "zoo"
SANITY = ["check-init", "check-loss", "overfit-small"]


def test_walk_stops_resumes_and_completes_the_demo(tune):
    first = tune("run", "--until", "lr-range", "--json")
    assert first.code == 0, first.stderr
    part = first.json()
    assert [s["step"] for s in part["steps"]] == SANITY + ["lr-range"]
    assert "until" in part["stopped"]
    assert all(s["verdict"] == "pass" for s in part["steps"][:3])

    run = tune("run", "--rounds", "1", "--json")
    assert run.code == 0, run.stderr
    walk = run.json()
    names = [s["step"] for s in walk["steps"]]
    assert walk["resumed"] == SANITY + ["lr-range"]  # done before: not run again
    assert names[:8] == SANITY + ["lr-range", "search-coarse", "search-fine", "train-best", "diagnose"]
    assert walk["best"]["val_acc"] >= 0.95
    assert set(walk["best"]["params"]) >= {"lr", "weight_decay", "width", "depth", "epochs"}
    assert walk["epochs_spent"] > sum(s.get("epochs_run", 0) for s in walk["steps"])
    report = Path(walk["report"]).read_text()
    assert "tune train --model mlp --data digits --hp lr=" in report
    assert "run/train-best/curves.png" in report
    coarse = next(s for s in walk["steps"] if s["step"] == "search-coarse")
    lr = next(s for s in walk["steps"] if s["step"] == "lr-range")
    assert coarse["trials"] >= 10 and lr["range"][0] < lr["suggested_lr"] < lr["range"][1]

    # The report's command reproduces the best model exactly.
    command = next(line for line in report.splitlines() if line.startswith("tune train "))
    again_trained = tune(*shlex.split(command)[1:], "--json", "--out", "repro").json()
    assert again_trained["best_val_acc"] == walk["best"]["val_acc"]

    # Nothing is left to do: a third run reuses every step.
    again = tune("run", "--rounds", "1", "--json").json()
    assert again["resumed"] == names and again["best"] == walk["best"]


def test_a_failed_sanity_check_stops_the_walk(tune):
    run = tune("run", "--task", str(ZOO / "nan_inputs.py"), "--json")
    assert run.code == 1
    walk = run.json()
    assert walk["verdict"] == "fail" and "check-init" in walk["stopped"]
    assert [s["step"] for s in walk["steps"]] == ["check-init"]
    assert "inputs-nan" in walk["steps"][0]["findings"]


def test_a_walk_with_other_settings_is_not_mixed_in(tune):
    assert tune("run", "--until", "check-init").code == 0
    other = tune("run", "--until", "check-init", "--seed", "3")
    assert other.code == 2 and "other settings" in other.stderr and "--restart" in other.stderr
    assert tune("run", "--until", "check-init", "--seed", "3", "--restart").code == 0


def test_budget_bounds_the_walk(tune):
    run = tune("run", "--budget", "0.02", "--json")  # 1.2 seconds: the checks use it up
    assert run.code == 0, run.stderr
    walk = run.json()
    assert walk["stopped"] == "budget spent"
    assert 1 <= len(walk["steps"]) < 8 and walk["best"] is None
    assert Path(walk["report"]).is_file()
