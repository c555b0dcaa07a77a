"""The search space as data: defaults, --space parsing, narrowing, edge warnings.

No training here: these are the rules a user relies on when reading the
space a search printed.
"""

from __future__ import annotations

import math

import pytest

from tuner.errors import TuneError
from tuner.hp import ParamSpec
from tuner.search import SearchSpace, apply_space_args, default_space, is_narrower, mask_url, narrow_space
from tuner.search.narrow import edge_findings, failure_findings
from tuner.search.space import lr_span

MODEL = {
    "width": ParamSpec("width", "int", 32, 1024, log=True, default=256),
    "depth": ParamSpec("depth", "int", 1, 4, default=2),
    "dropout": ParamSpec("dropout", "float", 0.0, 0.5, default=0.0),
    "init": ParamSpec("init", "choice", options=("kaiming", "xavier"), default="kaiming", search=False),
}
TRAIN = {"optimizer": "adam", "lr": 1e-3}


def test_default_space_searches_training_and_model_names_but_not_fixed_ones():
    space = default_space(MODEL, fixed={"dropout": "0.1"}, train_fixed=TRAIN)
    searched = {"lr", "weight_decay", "batch_size", "optimizer", "momentum", "beta1", "width", "depth"}
    assert searched <= set(space)
    assert "dropout" not in space and "init" not in space  # fixed by --hp / search=False
    assert (space["lr"].low, space["lr"].high, space["lr"].log) == (1e-5, 1e-1, True)
    assert space.when["momentum"] == ("optimizer", ("sgd",))
    assert space.active("momentum", {"optimizer": "sgd"}) and not space.active("beta1", {"optimizer": "sgd"})


def test_fixing_the_optimizer_keeps_only_its_own_momentum_name():
    space = default_space(MODEL, fixed={"optimizer": "sgd"}, train_fixed={"optimizer": "sgd"})
    assert "momentum" in space and "beta1" not in space and "momentum" not in space.when


def test_lr_range_centres_the_lr_range_below_the_blow_up():
    from tuner.lr_range import LRRangeResult

    def result(lr, top):
        return LRRangeResult(lr, (1e-4, top), 0.0, [], False, [], "adam")

    low, high = lr_span(result(3e-3, 1e-2))
    assert low == pytest.approx(3e-4) and high == pytest.approx(1e-2)  # capped at the measured top
    low, high = lr_span(result(1e-2, 1.0))
    assert (low, high) == (pytest.approx(1e-3), pytest.approx(1e-1))  # a decade either side
    with pytest.raises(TuneError):
        lr_span(result(float("nan"), 1e-2))


def test_space_flags_set_ranges_and_choices_with_the_names_kind():
    base = default_space(MODEL, train_fixed=TRAIN)
    space = apply_space_args(base, ["lr=1e-4:1e-2:log", "batch_size=16,32", "width=64:128",
                                    "optimizer=sgd", "dropout=0:0.3"], model_space=MODEL, train_fixed=TRAIN)
    assert (space["lr"].low, space["lr"].high, space["lr"].log) == (1e-4, 1e-2, True)
    assert space["batch_size"].options == (16, 32)
    assert space["width"].kind == "int" and (space["width"].low, space["width"].high) == (64, 128)
    assert space["optimizer"].options == ("sgd",)
    assert "beta1" not in space  # no Adam left to use it


@pytest.mark.parametrize("flag, words", [
    ("lr", "not of the form"),
    ("lr=abc:1", "must be numbers"),
    ("lr=1:0.1", "LOW must be <= HIGH"),
    ("lr=0:1:log", "LOW > 0"),
    ("lr=-1:1", "lr must be > 0"),
    ("nope=1:2", "unknown hyperparameter"),
    ("epochs=1:3", "--epochs"),
    ("optimizer=sgd:adam", "takes choices"),
    ("optimizer=sgd,rmsprop", "must be one of"),
    ("width=8:64", "outside the range the model declares"),
    ("dropout=0.1", "also fixed with --hp"),
])
def test_bad_space_flags_are_one_clear_error(flag, words):
    with pytest.raises(TuneError) as e:
        apply_space_args(default_space(MODEL, train_fixed=TRAIN), [flag], model_space=MODEL,
                         fixed={"dropout": "0.2"}, train_fixed=TRAIN)
    assert words in e.value.one_line()


def test_narrowing_keeps_the_best_trial_and_only_seen_choices():
    coarse = default_space(MODEL, train_fixed=TRAIN)
    top = [{"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 32, "optimizer": "adamw", "beta1": 0.9,
            "width": 256, "depth": 2},
           {"lr": 1e-2, "weight_decay": 1e-3, "batch_size": 64, "optimizer": "adamw", "beta1": 0.85,
            "width": 512, "depth": 2},
           {"lr": 1e-3, "weight_decay": 3e-5, "batch_size": 32, "optimizer": "adamw", "beta1": 0.95,
            "width": 128, "depth": 3}]
    fine = narrow_space(coarse, top)
    assert is_narrower(fine, coarse)
    assert fine.contains(top[0]) and all(fine.contains(t) for t in top)
    assert fine["optimizer"].options == ("adamw",) and fine["batch_size"].options == (32, 64)
    assert "momentum" not in fine  # no SGD trial among the best
    assert 1e-3 > fine["lr"].low > 1e-5 and 1e-2 < fine["lr"].high < 1e-1
    assert fine["depth"].kind == "int" and fine["depth"].low >= 1 and fine["depth"].high <= 4
    # Round trip through the JSON stored with a study.
    assert SearchSpace.from_dict(fine.to_dict()) == fine


def test_a_range_never_collapses_when_the_top_trials_agree():
    coarse = SearchSpace({"lr": ParamSpec("lr", "float", 1e-5, 1e-1, log=True)})
    fine = narrow_space(coarse, [{"lr": 1e-3}] * 3)
    assert fine["lr"].low < 1e-3 < fine["lr"].high


def test_widen_and_shift_for_callers_that_adjust_the_space():
    space = SearchSpace({"lr": ParamSpec("lr", "float", 1e-4, 1e-2, log=True),
                         "dropout": ParamSpec("dropout", "float", 0.1, 0.3)})
    wide = space.widen("lr", 2)
    assert math.log10(wide["lr"].high / wide["lr"].low) == pytest.approx(4)
    assert space.widen("dropout", 4)["dropout"].low == 0.0  # never below 0
    assert space.widen("dropout", 4, ceiling=0.5)["dropout"].high == 0.5
    assert space.shift("lr", 10)["lr"].low == pytest.approx(1e-3)
    assert space is not wide and space["lr"].low == 1e-4  # immutable


def test_edge_warnings_name_the_parameter_and_how_to_widen():
    space = SearchSpace({"lr": ParamSpec("lr", "float", 1e-4, 1e-2, log=True),
                         "dropout": ParamSpec("dropout", "float", 0.0, 0.5),
                         "width": ParamSpec("width", "int", 32, 1024, log=True)})
    found = edge_findings(space, {"lr": 9.9e-3, "dropout": 0.0, "width": 1000}, limits=MODEL)
    by_text = " ".join(f.message + f.advice for f in found)
    assert [f.code for f in found] == ["best-at-edge", "best-at-edge"]
    assert "lr" in by_text and "--space lr=0.0001:0.1:log" in by_text
    assert "dropout" not in by_text  # 0 is a natural limit
    assert "build_model declares width" in by_text  # beyond the model's own range
    assert edge_findings(space, {"lr": 1e-3, "dropout": 0.2, "width": 128}) == []


def test_many_failures_warn_only_past_half():
    assert failure_findings(10, 5) == []
    (f,) = failure_findings(10, 6, ["training loss became nan"])
    assert f.code == "many-failed" and "6 of 10" in f.message and "lower the LR range" in f.advice


def test_passwords_are_masked_in_storage_urls():
    assert mask_url("postgresql://me:s3cret@db.host:5432/tune") == "postgresql://me:***@db.host:5432/tune"
    assert mask_url("mysql+pymysql://u:p%40ss@h/db") == "mysql+pymysql://u:***@h/db"
    assert mask_url("postgresql://me@db/tune") == "postgresql://me@db/tune"
    assert mask_url("runs/studies.journal") == "runs/studies.journal"
