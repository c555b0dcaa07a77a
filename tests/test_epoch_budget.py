"""``--epoch-budget``: a search (and a walk) that trains at most N epochs in all.

Real searches on the demo with a small MLP and 1-3 epoch trials; the claim
rule itself (a running trial holds its full length) is checked on a real
study without training.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import procs
import pytest

SMALL = ["--space", "width=32:128:log", "--space", "depth=1:2", "--space", "dropout=0:0.2",
         "--hp", "augment=false"]


def trials_of(out: Path, name: str) -> list:
    from tuner.search import open_storage

    return procs.trials_of(open_storage(out), name)


def trained(t) -> int:
    return len(t.user_attrs["history"]["epochs"])


def test_the_budget_is_spent_but_never_exceeded_and_pruned_trials_count_what_they_ran(tune):
    run = tune("search", "--epoch-budget", "20", "--epochs", "3", "--seed", "2", *SMALL, "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    trials = trials_of(Path(".tune"), "coarse")
    spent = sum(trained(t) for t in trials)
    assert result["epoch_budget"] == 20 and result["max_trials"] is None
    assert result["epochs_spent"] == spent
    assert 20 - 3 < spent <= 20  # less than one trial's length left unused
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned and all(trained(t) < 3 for t in pruned)  # a pruned trial counts what it ran...
    assert len(trials) > 20 // 3  # ...and the epochs it saved went to more trials
    human = tune("search", "--out", ".tune")  # resumed, nothing left: the summary only
    assert human.code == 0 and f"{spent} of a budget of 20" in human.stdout
    status = tune("status", "--json")
    assert status.code == 0, status.stderr
    (study,) = status.json()["studies"]
    assert (study["epochs_spent"], study["epoch_budget"], study["total"]) == (spent, 20, None)
    assert f"{spent}/20" in tune("status").stdout


def test_a_resumed_study_counts_what_it_spent_and_remembers_its_budget(tune):
    first = tune("search", "--epoch-budget", "6", "--epochs", "2", *SMALL, "--json").json()
    assert first["epochs_spent"] <= 6 and first["epoch_budget"] == 6
    again = tune("search", "--json").json()  # no flag: the study's budget, nothing new fits
    assert again["new_trials"] == 0 and again["epoch_budget"] == 6
    assert again["epochs_spent"] == first["epochs_spent"]
    more = tune("search", "--epoch-budget", "12", "--json").json()
    assert more["new_trials"] >= 1 and more["epoch_budget"] == 12
    assert 12 - 2 < more["epochs_spent"] <= 12  # the first run's epochs count against the 12
    assert more["epochs_spent"] == sum(trained(t) for t in trials_of(Path(".tune"), "coarse"))


def test_two_jobs_keep_the_budget_exact(tune):
    run = tune("search", "--jobs", "2", "--epoch-budget", "9", "--epochs", "2", "--study", "par",
               "--heartbeat", "3", *SMALL, "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    trials = trials_of(Path(".tune"), "par")
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert 9 - 2 < result["epochs_spent"] == sum(trained(t) for t in trials) <= 9


def test_trials_still_cap_a_budgeted_search(tune):
    result = tune("search", "--epoch-budget", "100", "--trials", "3", "--epochs", "1", *SMALL,
                  "--json").json()
    assert result["trials"] == 3 == result["max_trials"] and result["epochs_spent"] == 3


def test_a_running_trial_holds_its_whole_length_until_it_ends(tmp_path):
    """The claim rule on a real study: with 2 trials of 3 epochs and a budget of 5, the
    second waits while the first runs (it may train all 3), and starts once the first
    was pruned after 1 epoch (1 + 3 <= 5)."""
    import optuna
    from optuna.trial import TrialState

    from tuner.search.storage import open_storage
    from tuner.search.study import Plan, claim_trial

    storage = open_storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")

    def plan(wait: float) -> Plan:
        return Plan("s", str(tmp_path), None, "coarse", {}, 3, None, time.time() + wait, 0, "none",
                    epoch_budget=5)

    first = claim_trial(study, plan(5))
    assert first is not None
    started = time.monotonic()
    assert claim_trial(study, plan(0.6)) is None  # the first may still train 3: 3 + 3 > 5
    assert time.monotonic() - started >= 0.5  # it waited for the first to end
    first.report(0.5, 1)
    first.set_user_attr("epochs", 1)
    study.tell(first, state=TrialState.PRUNED)
    second = claim_trial(study, plan(5))
    assert second is not None  # 1 spent + 3 held <= 5
    second.set_user_attr("epochs", 3)
    study.tell(second, 0.9)
    assert claim_trial(study, plan(5)) is None  # 4 spent: no trial of 3 fits, at once


@pytest.mark.parametrize("args, words", [
    (("search", "--epoch-budget", "0"), "--epoch-budget 0"),
    (("search", "--epoch-budget", "2"), "less than one trial of 3 epochs"),
    (("search", "--epoch-budget", "-5", "--fine"), "--epoch-budget -5"),
    (("run", "--epoch-budget", "10"), "at least 13 epochs"),
    (("run", "--epoch-budget", "0"), "--epoch-budget 0"),
])
def test_bad_budgets_are_one_line_and_exit_2(tune, args, words):
    run = tune(*args)
    assert run.code == 2 and run.stderr.startswith("error:") and words in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not Path(".tune").exists()  # nothing written


def test_tune_run_splits_its_budget_and_reports_the_split(tune):
    run = tune("run", "--epoch-budget", "30", "--rounds", "1", "--epochs", "1", *SMALL, "--json")
    assert run.code == 0, run.stderr
    walk = run.json()
    budget = walk["epoch_budget"]
    split, spent = budget["split"], budget["spent"]
    assert split["budget"] == 30 and split["coarse_epochs_per_trial"] == 1
    assert split["fine_epochs_per_trial"] == 3
    assert split["coarse"] + split["fine"] + split["retrain"] + split["later_rounds"] == 30
    assert split["coarse"] < split["fine"]
    assert spent["total"] == walk["epochs_spent"] <= 30
    steps = {s["step"]: s for s in walk["steps"]}
    assert spent["coarse"] == steps["search-coarse"]["epochs_spent"] <= split["coarse"]
    assert steps["search-coarse"]["epoch_budget"] == split["coarse"]
    # The fine search gets its share and what the coarse search left.
    assert steps["search-fine"]["epoch_budget"] == split["coarse"] + split["fine"] - spent["coarse"]
    assert spent["retrain"] == steps["train-best"]["epochs_run"] <= split["retrain"] + \
        (split["coarse"] + split["fine"] - spent["coarse"] - spent["fine"])
    state = json.loads(Path(".tune/run/state.json").read_text())
    assert state["settings"]["epoch_budget"] == 30
    report = Path(walk["report"]).read_text()
    assert "## Epoch budget" in report and f"| coarse search | {split['coarse']} | {spent['coarse']} |" in report
    # The same walk resumes; another budget is another walk.
    again = tune("run", "--epoch-budget", "30", "--rounds", "1", "--epochs", "1", *SMALL, "--json")
    assert again.code == 0 and again.json()["epoch_budget"] == budget
    other = tune("run", "--epoch-budget", "40", "--rounds", "1", "--epochs", "1", *SMALL)
    assert other.code == 2 and "epoch_budget" in other.stderr
    # The rounds shape the split: resuming with others would re-split what was half spent.
    rounds = tune("run", "--epoch-budget", "30", "--rounds", "0", "--epochs", "1", *SMALL)
    assert rounds.code == 2 and "rounds: 1 then, 0 now" in rounds.stderr, rounds.stderr


FAILS_AT_ONCE = '''
import torch
from torch import nn

def build_model(hp):
    if hp.choice("act", ["relu", "broken"]) == "broken":
        raise RuntimeError("this model cannot be built")
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

def load_data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 3
    x = torch.randn(120, 4, generator=g)
    return (x[:90], y[:90]), (x[90:], y[90:])
'''


def test_a_budgeted_search_whose_every_trial_fails_at_once_still_ends(tune, tmp_path):
    """A trial failing before its first epoch counts one epoch: without that, a task
    whose model never builds would claim trials forever under a budget."""
    task = tmp_path / "broken.py"
    task.write_text(FAILS_AT_ONCE)
    run = tune("search", "--task", str(task), "--epoch-budget", "6", "--epochs", "1",
               "--space", "act=broken", "--json")
    assert run.code == 1, run.stderr  # no trial completed
    result = run.json()
    assert result["failed"] == 6 and result["epochs_spent"] == 6
    assert "cannot be built" in result["failures"][0]["reason"]


def test_restart_with_a_refused_budget_keeps_the_old_study(tune):
    assert tune("search", "--trials", "2", "--epochs", "1", *SMALL).code == 0
    before = len(trials_of(Path(".tune"), "coarse"))
    run = tune("search", "--restart", "--epoch-budget", "2", "--epochs", "3")
    assert run.code == 2 and "less than one trial of 3 epochs" in run.stderr
    assert len(trials_of(Path(".tune"), "coarse")) == before == 2  # not deleted


def test_tune_run_prints_the_split(tune):
    run = tune("run", "--epoch-budget", "16", "--rounds", "0", "--epochs", "1", *SMALL)
    assert run.code == 0, run.stderr
    assert "epoch budget 16:" in run.stdout and "coarse" in run.stdout and "retrain" in run.stdout
    assert "epochs trained (spent/planned: coarse search" in run.stdout


def test_a_budget_on_the_library_call_matches_the_flag(tmp_path):
    """``search(..., epoch_budget=N)`` is what the flag calls."""
    from tuner.experiment import prepare
    from tuner.recipe import Recipe
    from tuner.search import search

    exp = prepare(Recipe.from_flags(model="mlp", data="digits", hp=["width=32", "depth=1",
                                                                      "augment=false"]), "cpu")
    result = search(exp, study_name="lib", out=tmp_path, epochs=1, epoch_budget=4, plots=False)
    assert result.epoch_budget == 4 and result.epochs_spent == 4 and result.trials == 4


def test_a_retraining_stopped_by_ctrl_c_still_counts_against_the_walks_budget(tune, monkeypatch):
    """Ctrl-C after 2 epochs of the retraining: exit 130; the rerun retrains from the
    start, and the budget counts the 2 epochs of the stopped attempt too."""
    from tuner.walk import steps

    real = steps.train_and_save
    calls = []

    def stopped_once(exp, folder, on_epoch):
        calls.append(folder)

        def on(rec):
            on_epoch(rec)
            if len(calls) == 1 and rec.epoch == 2:
                raise KeyboardInterrupt
        return real(exp, folder, on_epoch=on)

    monkeypatch.setattr(steps, "train_and_save", stopped_once)
    args = ("run", "--epoch-budget", "16", "--rounds", "0", "--epochs", "1", *SMALL)
    first = tune(*args)
    assert first.code == 130 and len(calls) == 1
    state = json.loads(Path(".tune/run/state.json").read_text())
    assert state["interrupted_epochs"] == {"train-best": 2}
    again = tune(*args, "--json")
    assert again.code == 0, again.stderr
    walk = again.json()
    steps_done = {s["step"]: s for s in walk["steps"]}
    retrained = steps_done["train-best"]["epochs_run"]
    spent = walk["epoch_budget"]["spent"]
    assert spent["retrain"] == retrained + 2
    assert spent["total"] == walk["epochs_spent"] == sum(
        s.get("epochs_spent", 0) for s in walk["steps"]) + 2
    assert walk["epochs_spent"] <= 16
