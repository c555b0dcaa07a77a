"""The walk's rounds: how a diagnosis changes the next search (the one policy, on
ranges), and how long the final trainings get. The step bodies that train are
replaced by recorders here; tests/test_run.py walks the real demo end to end."""

from __future__ import annotations

import pytest

from tuner.diagnose import DiagnoseResult, Diagnosis
from tuner.engine import EpochRecord, History
from tuner.experiment import prepare
from tuner.findings import CheckResult
from tuner.hp import ParamSpec
from tuner.recipe import Recipe
from tuner.search import SearchResult, default_space
from tuner.train import TrainResult
from tuner.walk import steps as S
from tuner.walk.adjust import Adjustment, adjust_space
from tuner.walk.state import StepRecord
from tuner.walk.steps import Outcome, final_epochs

MLP = {"width": ParamSpec("width", "int", 32, 1024, log=True, role="capacity"),
       "depth": ParamSpec("depth", "int", 1, 4, role="capacity"),
       "dropout": ParamSpec("dropout", "float", 0.0, 0.5, role="regularization")}


def test_overfitting_raises_regularisation_and_shrinks_capacity_within_the_declared_ranges():
    space = default_space(MLP).set("width", low=64, high=256)
    adj = adjust_space(space, ["overfitting"], MLP)
    assert adj.space["weight_decay"].low == pytest.approx(space["weight_decay"].low * 10)
    assert adj.space["weight_decay"].high == pytest.approx(0.1)  # capped
    # dropout moves by 40% of its declared range (0.2), never past the declared 0.5
    assert (adj.space["dropout"].low, adj.space["dropout"].high) == pytest.approx((0.2, 0.5))
    assert (adj.space["width"].low, adj.space["width"].high) == (32, 128)
    assert adj.epoch_factor == 1 and adj.findings == []


def test_underfitting_adds_capacity_and_length_and_says_when_the_declaration_stops_it():
    space = default_space(MLP).set("width", low=64, high=256).set("depth", low=1, high=3)
    adj = adjust_space(space, ["underfitting"], MLP)
    assert (adj.space["width"].low, adj.space["width"].high) == (128, 512)
    assert (adj.space["depth"].low, adj.space["depth"].high) == (2, 4)
    assert adj.space["weight_decay"].high == pytest.approx(space["weight_decay"].high / 10)
    assert adj.epoch_factor == 2
    # Already at the declared top: no range leaves the declaration; the task file is named.
    at_top = adjust_space(default_space(MLP).set("width", low=512, high=1024)
                          .set("depth", low=4, high=4), ["underfitting"], MLP)
    assert at_top.space["depth"].high == 4 and at_top.space["width"].high == 1024
    edge = [f for f in at_top.findings if f.code == "best-at-edge"]
    assert edge and "depth" in edge[0].message and 'hp.int("depth", 1, 5' in edge[0].advice


def test_a_model_without_roles_gets_only_training_changes():
    plain = {k: ParamSpec(k, v.kind, v.low, v.high, v.log) for k, v in MLP.items()}
    space = default_space(plain)
    adj = adjust_space(space, ["underfitting"], plain)
    assert adj.space["width"] == space["width"] and adj.space["dropout"] == space["dropout"]
    assert adj.space["weight_decay"] != space["weight_decay"]


def test_instability_lowers_the_lr_range_and_good_fit_changes_nothing():
    space = default_space(MLP)
    adj = adjust_space(space, ["unstable"], MLP)
    assert adj.space["lr"].high == pytest.approx(space["lr"].high / 3)
    same = adjust_space(space, ["good-fit"], MLP)
    assert same.space == space and same.changes == [] and same.epoch_factor == 1


def test_final_training_doubles_once_per_still_improving_round():
    # 20 configured epochs, 9-epoch fine trials; each still-improving round doubles
    # both the next trials (18, 36) and the final run: 20, 40, 80.
    assert [final_epochs(20, 9, 1), final_epochs(20, 18, 2), final_epochs(20, 36, 4)] == [20, 40, 80]
    assert final_epochs(5, 9, 1) == 18  # never shorter than twice the trials


def test_rounds_pass_typed_results_and_follow_the_diagnosis_until_a_good_fit(monkeypatch, tmp_path):
    exp = prepare(Recipe())
    codes = iter([["still-improving"], ["still-improving"], ["good-fit"]])
    trained: list[tuple[str, int]] = []

    def record(name, value, **summary):
        return Outcome(value, StepRecord(name, "pass", 0.0, summary, [], {}))

    def found(name, epochs):
        return SearchResult(name, "", "fine", epochs, {}, {"params": {}, "trial": 0, "value": 0.9},
                            1, 1, 0, 0, 0, 0)

    monkeypatch.setattr(S, "sanity", lambda ctx, name: record(name, CheckResult(name)))
    monkeypatch.setattr(S, "lr_range_step", lambda ctx: record("lr-range", None))
    monkeypatch.setattr(S, "search_step", lambda ctx, name, mode, **kw: record(
        name, found(name, kw["adjusted"][1] if kw.get("adjusted") else 9)))

    def adjust(ctx, name, diagnosis, last):
        assert isinstance(diagnosis, DiagnoseResult) and isinstance(last, SearchResult)
        return record(name, (Adjustment(default_space(MLP), 2), 2 * last.epochs))

    def train(ctx, name, search, factor, max_epochs=None):
        assert max_epochs is None  # no --epoch-budget: retraining is not capped
        assert isinstance(search, SearchResult)
        trained.append((name, final_epochs(20, search.epochs, factor)))
        history = History([EpochRecord(1, 1.0, 1.0, 0.9, 0.9, 0.1, 0.0)])
        return record(name, TrainResult(history, {}), final_val_acc=0.9)

    def diagnose(ctx, name, result, reference=None):
        assert isinstance(result, TrainResult)
        found_codes = next(codes)
        return record(name, DiagnoseResult([Diagnosis(c, "", {}, "") for c in found_codes], {}),
                      codes=found_codes)

    monkeypatch.setattr(S, "adjust_step", adjust)
    monkeypatch.setattr(S, "train_best_step", train)
    monkeypatch.setattr(S, "diagnose_step", diagnose)
    from tuner.walk import walk

    result = walk(exp, tmp_path / "out", rounds=5)
    assert trained == [("train-best", 20), ("train-best-2", 40), ("train-best-3", 80)]
    assert [s.step for s in result.steps][-1] == "diagnose-3"  # stopped at the good fit


def test_until_must_name_a_step(tune):
    run = tune("run", "--until", "bogus")
    assert run.code == 2 and "--until bogus: no such step" in run.stderr and "overfit-small" in run.stderr
