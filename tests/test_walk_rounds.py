"""The walk's rounds: how a diagnosis changes the next search, and how long the
final trainings get. The step bodies that train are replaced by recorders here;
tests/test_run.py walks the real demo end to end."""

from __future__ import annotations

import pytest

from tuner.experiment import prepare
from tuner.hp import ParamSpec
from tuner.search import default_space
from tuner.task import TaskSpec
from tuner.walk import steps as S
from tuner.walk.adjust import adjust_space
from tuner.walk.state import StepRecord
from tuner.walk.steps import final_epochs

MLP = {"width": ParamSpec("width", "int", 32, 1024, log=True),
       "depth": ParamSpec("depth", "int", 1, 4),
       "dropout": ParamSpec("dropout", "float", 0.0, 0.5)}


def test_overfitting_raises_regularisation_ranges():
    space = default_space(MLP)
    adj = adjust_space(space, ["overfitting"])
    assert adj.space["weight_decay"].low == pytest.approx(space["weight_decay"].low * 10)
    assert adj.space["weight_decay"].high == pytest.approx(0.1)  # capped
    assert (adj.space["dropout"].low, adj.space["dropout"].high) == pytest.approx((0.2, 0.7))
    assert adj.space["width"] == space["width"] and adj.epoch_factor == 1


def test_underfitting_adds_capacity_and_length():
    space = default_space(MLP)
    adj = adjust_space(space, ["underfitting"])
    assert adj.space["width"].high == 2048 and adj.space["depth"].high == 5
    assert adj.space["weight_decay"].high == pytest.approx(space["weight_decay"].high / 10)
    assert adj.epoch_factor == 2


def test_instability_lowers_the_lr_range_and_good_fit_changes_nothing():
    space = default_space(MLP)
    adj = adjust_space(space, ["unstable"])
    assert adj.space["lr"].high == pytest.approx(space["lr"].high * 10 ** -0.5)
    same = adjust_space(space, ["good-fit"])
    assert same.space == space and same.changes == [] and same.epoch_factor == 1


def test_final_training_doubles_once_per_still_improving_round():
    # 20 configured epochs, 9-epoch fine trials; each still-improving round doubles
    # both the next trials (18, 36) and the final run: 20, 40, 80.
    assert [final_epochs(20, 9, 1), final_epochs(20, 18, 2), final_epochs(20, 36, 4)] == [20, 40, 80]
    assert final_epochs(5, 9, 1) == 18  # never shorter than twice the trials


def test_rounds_follow_the_diagnosis_until_a_good_fit(tune, monkeypatch, tmp_path):
    exp = prepare(TaskSpec())
    codes = iter([["still-improving"], ["still-improving"], ["good-fit"]])
    trained: list[tuple[str, int]] = []

    def record(name, **summary):
        return StepRecord(name, "pass", 0.0, summary, [], {"best": {"params": {}, "trial": 0}})

    monkeypatch.setattr(S, "sanity", lambda walk, name: record(name))
    monkeypatch.setattr(S, "lr_range_step", lambda walk: record("lr-range"))
    monkeypatch.setattr(S, "search_step", lambda walk, name, mode, **kw: record(
        name, study=name, epochs_per_trial=(kw.get("adjusted") or {}).get("epochs", 9)))
    monkeypatch.setattr(S, "adjust_step", lambda walk, name, c, last: StepRecord(
        name, "pass", 0.0, {"codes": c, "epoch_factor": 2, "epochs_per_trial": 2 * last.summary["epochs_per_trial"]},
        [], {"epochs": 2 * last.summary["epochs_per_trial"], "space": {}}))

    def train(walk, name, search_rec, factor):
        trained.append((name, final_epochs(20, search_rec.summary["epochs_per_trial"], factor)))
        return StepRecord(name, "pass", 0.0, {"final_val_acc": 0.9}, [], {"hyperparameters": {}})

    monkeypatch.setattr(S, "train_best_step", train)
    monkeypatch.setattr(S, "diagnose_step", lambda walk, name, t: record(name, codes=next(codes)))
    from tuner.walk import walk

    result = walk(exp, tmp_path / "out", rounds=5)
    assert trained == [("train-best", 20), ("train-best-2", 40), ("train-best-3", 80)]
    assert [s.step for s in result.steps][-1] == "diagnose-3"  # stopped at the good fit


def test_until_must_name_a_step(tune):
    run = tune("run", "--until", "bogus")
    assert run.code == 2 and "--until bogus: no such step" in run.stderr and "overfit-small" in run.stderr
