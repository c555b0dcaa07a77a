"""``tune search`` and ``tune best`` end to end: real training on digits, real
Optuna studies in the journal file, the JSON contract, resuming, parallel
workers, failures and Ctrl-C.

Trials are kept short (a small MLP, 1-3 epochs) so the file runs in well under
a minute and a half on two cores.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from conftest import run_tune
from tuner.search import SearchSpace, is_narrower

# The demo (an MLP on digits), its architecture kept small so trials are fast.
# Augmentation off: these tests are about the search itself (tests/test_augment_search.py
# covers searching augmentation).
SMALL = ["--space", "width=32:256:log", "--space", "depth=1:2", "--space", "dropout=0:0.2",
         "--hp", "augment=false"]
KEYS = {"study", "storage", "best", "trials", "completed", "pruned", "failed", "space", "epochs_spent"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small MLPs train as fast on one thread, and far faster when the CPU is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def study_trials(out: Path, name: str) -> list:
    import optuna

    from tuner.search import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(out)).get_trials()


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    """One coarse search of the demo, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("search") / "out"
    run = run_tune("search", "--coarse", "--trials", "12", "--seed", "1", *SMALL,
                   "--out", str(out), "--json")
    assert run.code == 0, run.stderr
    return out, run.json()


def test_coarse_search_finds_a_good_demo_configuration(coarse):
    out, result = coarse
    assert KEYS <= set(result)
    assert result["study"] == "coarse" and result["storage"] == str(out / "studies.journal")
    assert result["best"]["value"] >= 0.95
    assert set(result["best"]) >= {"params", "value", "trial"}
    assert result["trials"] == 12 == result["completed"] + result["pruned"] + result["failed"]
    assert result["pruned"] >= 1  # hopeless trials stop early...
    trials = study_trials(out, "coarse")
    spent = sum(len(t.user_attrs["history"]["epochs"]) for t in trials)
    assert result["epochs_spent"] == spent < 12 * 3  # ...and the epochs count what really ran
    assert result["space"]["lr"] == {"kind": "float", "low": 1e-5, "high": 0.1, "log": True}
    assert result["space"]["width"] == {"kind": "int", "low": 32, "high": 256, "log": True}
    best = next(t for t in trials if t.number == result["best"]["trial"])
    # The trial trained on its sampled LR rounded to 4 significant digits, as printed.
    assert best.user_attrs["hp"]["lr"] == float(f"{best.params['lr']:.4g}") == result["best"]["params"]["lr"]
    assert best.user_attrs["history"]["epochs"][-1]["val_acc"] is not None
    for suffix in ("_lr.png", "_history.png", "_importance.png", ".json"):
        assert (out / f"search_coarse{suffix}").stat().st_size > 0


def test_fine_search_narrows_around_the_coarse_best(coarse):
    out, first = coarse
    run = run_tune("search", "--fine", "--trials", "3", "--out", str(out), "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    coarse_space, fine_space = (SearchSpace.from_dict(r["space"]) for r in (first, result))
    assert is_narrower(fine_space, coarse_space)
    assert fine_space.contains(first["best"]["searched"])
    assert result["from"] == "coarse" and result["epochs_per_trial"] == 9  # 3x the coarse epochs
    assert result["trials"] == 3
    # It starts from the coarse best, trained longer.
    trials = study_trials(out, "fine")
    assert trials[0].params == first["best"]["searched"]
    assert trials[0].user_attrs["from_trial"] == first["best"]["trial"]
    # The narrowed space is stored with the study, and printed for people.
    human = run_tune("search", "--study", "fine", "--trials", "3", "--out", str(out))
    assert human.code == 0 and "narrowed space" in human.stdout and "(0 new)" in human.stdout


def test_best_args_feed_tune_train(coarse):
    out, result = coarse
    args = run_tune("best", "--study", "coarse", "--format", "args", "--out", str(out))
    assert args.code == 0, args.stderr
    argv = shlex.split(args.stdout)
    assert argv[:6] == ["--model", "mlp", "--data", "digits", "--seed", "1"]
    assert f"lr={result['best']['params']['lr']!r}" in argv
    train = run_tune("train", *argv, "--hp", "epochs=1", "--out", str(out / "retrain"), "--json")
    assert train.code == 0, train.stderr
    hyper = train.json()["hyperparameters"]
    for name in ("lr", "optimizer", "batch_size", "width", "depth", "dropout", "weight_decay"):
        assert hyper[name] == result["best"]["params"][name]
    as_json = run_tune("best", "--study", "coarse", "--format", "json", "--out", str(out))
    assert json.loads(as_json.stdout) == result["best"]["params"]
    toml = run_tune("best", "--study", "coarse", "--format", "toml", "--out", str(out)).stdout
    tomllib = pytest.importorskip("tomllib")
    assert tomllib.loads(toml) == result["best"]["params"]


def test_resuming_counts_the_study_total(tune):
    first = tune("search", "--trials", "2", "--epochs", "1", *SMALL, "--json")
    assert first.code == 0, first.stderr
    again = tune("search", "--trials", "4", "--epochs", "1", *SMALL, "--json")
    assert again.code == 0, again.stderr
    assert (again.json()["trials"], again.json()["new_trials"]) == (4, 2)
    done = tune("search", "--trials", "4", "--json")  # settings come from the study
    assert (done.json()["trials"], done.json()["new_trials"]) == (4, 0)
    assert len(study_trials(Path(".tune"), "coarse")) == 4
    other = tune("search", "--trials", "5", "--epochs", "2")
    assert other.code == 2 and "trains 1 epochs per trial" in other.stderr


def test_same_seed_same_trials_and_values(tune):
    runs = [tune("search", "--trials", "3", "--epochs", "1", "--seed", "7", *SMALL,
                 "--out", out, "--json").json() for out in ("a", "b")]
    assert runs[0]["top"] == runs[1]["top"] and runs[0]["best"] == runs[1]["best"]
    other = tune("search", "--trials", "3", "--epochs", "1", "--seed", "8", *SMALL, "--out", "c", "--json")
    assert other.json()["top"] != runs[0]["top"]


def test_two_jobs_complete_the_exact_number_of_trials(tune):
    run = tune("search", "--jobs", "2", "--trials", "5", "--epochs", "1", "--study", "par", *SMALL, "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["trials"] == 5 and result["completed"] + result["pruned"] == 5
    trials = study_trials(Path(".tune"), "par")
    assert len(trials) == 5 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert "error" not in run.stderr.lower()


def test_a_diverged_trial_fails_with_its_reason_and_the_search_goes_on(tune):
    run = tune("search", "--trials", "5", "--epochs", "1", "--hp", "optimizer=sgd",
               "--hp", "augment=false", "--hp", "width=64", "--hp", "depth=1",
               "--space", "lr=0.01,1000", "--seed", "3", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["trials"] == 5 and result["failed"] >= 1 and result["completed"] >= 1
    failed = [t for t in study_trials(Path(".tune"), "coarse") if t.state.name == "FAIL"]
    assert failed and all("loss became" in t.user_attrs["reason"] for t in failed)
    assert all(t.params["lr"] == 1000 for t in failed)


def test_when_most_trials_fail_the_search_says_so(tune):
    run = tune("search", "--trials", "2", "--epochs", "1", "--hp", "optimizer=sgd", "--hp", "width=64",
               "--hp", "depth=2", "--hp", "init=normal", "--hp", "init_scale=1.0",
               "--space", "lr=1000,5000", "--json")
    assert run.code == 1  # nothing completed
    result = run.json()
    assert result["best"] is None and result["failed"] == 2
    assert [w["code"] for w in result["warnings"]] == ["many-failed"]
    assert "loss became nan" in result["warnings"][0]["message"]


INTERRUPTING_TASK = '''
from pathlib import Path
import torch
from torch import nn

FLAG = Path(__file__).with_name("interrupted.flag")
calls = 0

class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 2))
    def forward(self, x):
        global calls
        calls += 1
        if self.training and calls > 15 and not FLAG.exists():
            FLAG.write_text("once")
            raise KeyboardInterrupt  # as if Ctrl-C arrived in the middle of a trial
        return self.body(x)

def build_model(hp):
    return Net(hp.int("width", 4, 16))

def load_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x[:, 0] > 0).long()
    return (x[:192], y[:192]), (x[192:], y[192:])
'''


def test_ctrl_c_marks_the_trial_and_a_rerun_resumes_with_nothing_lost(tune, write_task):
    task = write_task(INTERRUPTING_TASK)
    args = ("search", "--task", task, "--trials", "3", "--epochs", "2", "--hp", "batch_size=32", "--json")
    stopped = tune(*args)
    assert stopped.code == 130
    result = stopped.json()  # the summary is still printed
    assert result["interrupted"] is True and result["trials"] < 3
    marked = [t for t in study_trials(Path(".tune"), "coarse") if t.user_attrs.get("interrupted")]
    assert len(marked) == 1 and "interrupted" in marked[0].user_attrs["reason"]
    resumed = tune(*args)
    assert resumed.code == 0, resumed.stderr
    assert resumed.json()["trials"] == 3 and resumed.json()["failed"] == 0
    trials = study_trials(Path(".tune"), "coarse")
    retry = [t for t in trials if t.user_attrs.get("retry_of") == marked[0].number]
    assert len(retry) == 1 and retry[0].params == marked[0].params  # the same trial, redone


def test_lr_range_result_centres_the_lr_range(tune):
    Path(".tune").mkdir()
    Path(".tune/lr_range.json").write_text(json.dumps({"suggested_lr": 0.003, "range": [1e-4, 0.1]}))
    run = tune("search", "--from-lr-range", "--trials", "1", "--epochs", "1", *SMALL, "--json")
    assert run.code == 0, run.stderr
    lr = run.json()["space"]["lr"]
    assert lr["log"] and lr["low"] == pytest.approx(3e-4) and lr["high"] == pytest.approx(3e-2)


def test_any_optuna_storage_url_works_and_its_password_is_masked(tune):
    run = tune("search", "--storage", "sqlite:///studies.db", "--trials", "1", "--epochs", "1", *SMALL,
               "--json")
    assert run.code == 0, run.stderr
    assert run.json()["storage"] == "sqlite:///studies.db" and Path("studies.db").is_file()
    best = tune("best", "--storage", "sqlite:///studies.db", "--json")
    assert best.json()["study"] == "coarse"
    bad = tune("search", "--storage", "postgresql://me:s3cret@127.0.0.1:1/db", "--trials", "1")
    assert bad.code == 2 and "s3cret" not in bad.stderr and "***" in bad.stderr


@pytest.mark.parametrize("args, words", [
    (("search", "--coarse", "--fine"), "exclude each other"),
    (("search", "--epochs", "9"), "1-5 epochs"),
    (("search", "--fine"), "there is none"),
    (("search", "--fine", "--from", "nope"), "no such coarse study"),
    (("search", "--space", "lr=abc"), "--space"),
    (("search", "--jobs", "0"), "--jobs 0"),
    (("search", "--from-lr-range"), "lr_range.json not found"),
    (("best", "--study", "nope"), "no studies"),
    (("best", "--format", "yaml"), "--format yaml"),
    (("search", "--hp", "lr=0.01", "--hp", "weight_decay=0", "--hp", "batch_size=64",
      "--hp", "optimizer=adam", "--hp", "beta1=0.9", "--hp", "width=64", "--hp", "depth=1",
      "--hp", "dropout=0", "--hp", "augment=false"), "nothing left to search"),
])
def test_bad_input_is_one_line_and_exit_2(tune, args, words):
    run = tune(*args)
    assert run.code == 2 and run.stderr.startswith("error:") and words in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not Path(".tune").exists()  # nothing written
