"""tune diagnose: labelled curves from real trainings get their codes, noise does
not flip them, advice is concrete, and the command reads files and studies.

The labelled curves in fixtures/curves/ come from real digits trainings made
by fixtures/make_curves.py; the labels there were written by hand per run.
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import pytest

from tuner.diagnose import CODES, diagnose, load_curves, read_curves
from tuner.engine import History
from tuner.errors import TuneError

CURVES = Path(__file__).parent / "fixtures" / "curves"
LABELS = json.loads((CURVES / "labels.json").read_text())
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def codes_of(path: Path) -> list[str]:
    run = read_curves(path)
    return diagnose(run.history, hyper=run.hyperparameters).codes


# --- the labelled runs ----------------------------------------------------------

def test_fixtures_cover_every_code_single_epoch_and_nan():
    expected = {c for lab in LABELS.values() for c in lab["expected"]}
    assert expected == set(CODES)
    assert len(load_curves(CURVES / "single-epoch.csv").epochs) == 1
    assert math.isnan(load_curves(CURVES / "diverged-nan.csv").epochs[-1].train_loss)


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("name", sorted(LABELS))
def test_labelled_run_gets_its_codes(name, fmt):
    assert codes_of(CURVES / f"{name}.{fmt}") == LABELS[name]["expected"]


@pytest.mark.parametrize("name", sorted(LABELS))
def test_realistic_noise_does_not_flip_a_diagnosis(name):
    """Noise of the size real runs show between epochs (training loss 1%,
    validation loss 4%, accuracy +-2 samples) leaves every label as it is."""
    history = load_curves(CURVES / f"{name}.csv")
    for seed in range(10):
        rng = random.Random(seed)
        noisy = copy.deepcopy(history)
        for e in noisy.epochs:
            e.train_loss *= 1 + rng.gauss(0, 0.01)
            e.val_loss *= 1 + rng.gauss(0, 0.04)
            e.val_acc = min(1.0, max(0.0, e.val_acc + rng.randint(-2, 2) / 359))
            e.train_acc = min(1.0, max(0.0, e.train_acc + rng.randint(-2, 2) / 1438))
        assert diagnose(noisy).codes == LABELS[name]["expected"], f"seed {seed}"


# overfitting-small-data is left out: its validation loss sits flat at its
# minimum, so from the losses alone it honestly looks like a good fit.
@pytest.mark.parametrize("name", sorted(set(LABELS) - {"overfitting-small-data"}))
def test_loss_only_curves_get_the_same_codes(name):
    history = load_curves(CURVES / f"{name}.csv")
    for e in history.epochs:
        e.train_acc = e.val_acc = math.nan
    assert diagnose(history).codes == LABELS[name]["expected"]


# --- single epoch, NaN, evidence and advice ---------------------------------------

def test_single_epoch_is_still_improving_with_its_reason():
    result = diagnose(load_curves(CURVES / "single-epoch.json"))
    (d,) = result.diagnoses
    assert d.code == "still-improving" and d.evidence["epochs"] == 1
    assert result.verdict == "warn" and d.hp["epochs"] >= 10


def test_nan_curve_fails_at_the_epoch_it_went_nan():
    run = read_curves(CURVES / "diverged-nan.json")
    result = diagnose(run.history, hyper=run.hyperparameters)
    (d,) = result.diagnoses
    assert result.verdict == "fail"
    assert d.evidence["epoch"] == 2 and math.isnan(d.evidence["train_loss"])
    assert d.hp["lr"] == pytest.approx(run.hyperparameters["lr"] / 10)
    assert "--hp lr=1" in d.advice and "--hp warmup_epochs=1" in d.advice


def test_a_curve_that_is_nan_from_its_first_epoch():
    history = load_curves(CURVES / "diverged-nan.csv")
    history.epochs = history.epochs[1:]
    assert diagnose(history).codes == ["diverged"]


def test_a_finite_blow_up_above_the_starting_level_is_diverged_too():
    d = diagnose(load_curves(CURVES / "diverged-late.csv")).get("diverged")
    assert d.evidence["train_loss"] > 1e6 * d.evidence["start_train_loss"]


def test_a_validation_loss_of_zero_is_not_a_blow_up():
    history = load_curves(CURVES / "good-fit.csv")
    for e in history.epochs:
        e.val_loss = 0.0
    assert "diverged" not in diagnose(history).codes


def test_evidence_carries_the_numbers_the_rule_compared():
    over = diagnose(load_curves(CURVES / "overfitting.json")).get("overfitting")
    assert over.evidence["acc_gap"] > 0.1 and over.evidence["train_acc"] > 0.99
    unstable = diagnose(load_curves(CURVES / "unstable.json")).get("unstable")
    assert unstable.evidence["loss_rises"] >= 2 and unstable.evidence["largest_rise"] >= 0.5
    under = diagnose(load_curves(CURVES / "underfitting.json")).get("underfitting")
    assert under.evidence["train_acc"] < 0.7


def mlp_declared():
    """What the built-in MLP declares (width and depth as capacity, dropout as regularisation)."""
    from models.mlp import build_mlp
    from tuner.hp import HP

    hp = HP()
    build_mlp(hp, (1, 8, 8), 10)
    return hp.declared


def test_advice_is_in_tune_hyperparameters_from_the_runs_values():
    def advice(name):
        run = read_curves(CURVES / f"{name}.json")
        result = diagnose(run.history, hyper=run.hyperparameters, declared=mlp_declared())
        return result.diagnoses[0], run.hyperparameters

    over, hp = advice("overfitting")
    assert over.hp["weight_decay"] > hp["weight_decay"] and over.hp["dropout"] > hp["dropout"]
    assert over.hp["width"] < hp["width"] and "--hp weight_decay=" in over.advice
    under, hp = advice("underfitting")
    assert under.hp["width"] > hp["width"] and under.hp["weight_decay"] < hp["weight_decay"]
    assert under.hp["lr"] > hp["lr"] and under.hp["epochs"] > hp["epochs"]
    unstable, hp = advice("unstable")
    assert unstable.hp["lr"] < hp["lr"] and unstable.hp["batch_size"] > hp["batch_size"]
    improving, hp = advice("still-improving")
    assert improving.hp["epochs"] == 2 * hp["epochs"] and improving.hp["schedule"] == "cosine"


def test_advice_names_no_hyperparameter_the_model_does_not_declare():
    run = read_curves(CURVES / "overfitting.json")
    hyper = {k: v for k, v in run.hyperparameters.items() if k not in ("width", "depth", "dropout")}
    d = diagnose(run.history, hyper=hyper).diagnoses[0]
    assert "width" not in d.advice and "dropout" not in d.advice
    assert set(d.hp) == {"weight_decay", "epochs"}


def test_without_known_hyperparameters_advice_is_relative_not_invented():
    d = diagnose(load_curves(CURVES / "unstable.csv")).diagnoses[0]
    assert "lr" not in d.hp and "lr ÷3" in d.advice


def test_empty_history_is_bad_input():
    with pytest.raises(TuneError):
        diagnose(History())


# --- reading curves from any training -------------------------------------------------

def test_other_layouts_read_the_same(tmp_path):
    ref = load_curves(CURVES / "good-fit.csv")
    rows = [{"epoch": e.epoch, "val_loss": e.val_loss, "train_loss": e.train_loss,
             "val_acc": e.val_acc, "train_acc": e.train_acc, "extra": 1} for e in ref.epochs]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    (tmp_path / "cols.json").write_text(json.dumps(columns))
    lines = ["Val_Loss,epoch,train_loss,note"] + [f"{r['val_loss']},{r['epoch']},{r['train_loss']},x"
                                                 for r in rows]
    (tmp_path / "loss.csv").write_text("\n".join(lines) + "\n")
    for name in ("rows.json", "cols.json"):
        h = load_curves(tmp_path / name)
        assert h.column("val_acc") == ref.column("val_acc")
        assert diagnose(h).codes == ["good-fit"]
    loss_only = load_curves(tmp_path / "loss.csv")
    assert loss_only.column("val_loss") == ref.column("val_loss")
    assert all(math.isnan(v) for v in loss_only.column("val_acc"))


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("epoch,train_loss\n1,0.5\n", "missing column(s) val_loss"),
    ("epoch,train_loss,val_loss\n", "no epochs"),
    ("epoch,train_loss,val_loss\n1,0.5,abc\n", "line 2: val_loss is 'abc'"),
    ("epoch,train_loss,val_loss\n1,0.5,\n", "val_loss is empty"),
    ("epoch,train_loss,val_loss\n2,0.5,0.4\n1,0.4,0.3\n", "epochs must increase"),
    ("epoch,train_loss,val_loss\n1.5,0.5,0.4\n", "not a whole number"),
    ("epoch,train_loss,val_loss\n1,0.5\n", "line 2 has 2 values"),
    ('{"epoch": [1, 2], "train_loss": [1], "val_loss": [1, 2]}', "not a list as long"),
    ('{"epochs": [{"epoch": 1, "train_loss": 1}]}', "missing column(s) val_loss"),
    ("[1, 2]", "expected a list of per-epoch objects"),
    ("{broken", "not valid JSON"),
])
def test_malformed_curves_are_one_clean_error(tmp_path, text, fragment):
    path = tmp_path / ("c.json" if text[:1] in "[{" else "c.csv")
    path.write_text(text)
    with pytest.raises(TuneError) as err:
        load_curves(path)
    assert fragment in err.value.one_line()


# --- the command ----------------------------------------------------------------------

def test_cli_json_contract_png_and_exit_codes(tune):
    r = tune("diagnose", "--curves", str(CURVES / "overfitting.json"), "--json")
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["verdict"] == "warn"
    assert [d["code"] for d in data["diagnoses"]] == ["overfitting"]
    assert set(data["diagnoses"][0]) >= {"code", "evidence", "advice"}
    png = Path(".tune/diagnose.png")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert json.loads(Path(".tune/diagnose.json").read_text())["verdict"] == "warn"

    r = tune("diagnose", "--curves", str(CURVES / "diverged-blowup.csv"), "--json")
    assert r.code == 1 and r.json()["verdict"] == "fail"
    r = tune("diagnose", "--curves", str(CURVES / "good-fit.csv"))
    assert r.code == 0 and "good-fit" in r.stdout and "PASS" in r.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--curves", "missing.csv"], "no such file"),
    (["--curves", "x.csv", "--study", "s"], "--curves excludes"),
    ([], "nothing to diagnose"),
    (["--study", "nope"], "no studies"),
    (["--trial", "0"], "no studies"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tune, args, fragment):
    r = tune("diagnose", *args, "--out", "out")
    assert r.code == 2 and r.stdout == ""
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert fragment in r.stderr
    assert not Path("out").exists()


def test_real_short_training_then_diagnose(tune):
    """tune train's own files, as they are: one epoch is still improving."""
    r = tune("train", "--hp", "epochs=1", "--hp", "width=32", "--json")
    assert r.code == 0, r.stderr
    by_default = tune("diagnose", "--json")  # no study: falls back to .tune/history.json
    assert by_default.code == 0, by_default.stderr
    assert by_default.json()["source"].endswith("history.json")
    from_csv = tune("diagnose", "--curves", ".tune/history.csv", "--json")
    for run in (by_default, from_csv):
        assert [d["code"] for d in run.json()["diagnoses"]] == ["still-improving"]
    assert by_default.json()["hyperparameters"]["width"] == 32


# --- --study: trials written as tune search writes them ---------------------------------

def add_study(out: Path, name: str, runs: list[tuple[str, float | None]]) -> None:
    """A study whose trials carry fixture curves in user_attrs, like tune search's
    (a value of None makes a failed trial)."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    from tuner.jsonable import to_jsonable
    from tuner.search.storage import open_storage

    study = optuna.create_study(study_name=name, storage=open_storage(out), direction="maximize")
    for fixture, value in runs:
        run = read_curves(CURVES / f"{fixture}.json")
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.FAIL if value is None else TrialState.COMPLETE, value=value, params={"lr": run.hyperparameters["lr"]},
            distributions={"lr": FloatDistribution(1e-5, 10, log=True)},
            user_attrs={"history": to_jsonable(run.history.to_dict()),
                        "hp": to_jsonable(run.hyperparameters)}))


def test_study_best_trial_by_default_and_trial_by_number(tune):
    out = Path(".tune")
    add_study(out, "older", [("underfitting", 0.5)])
    add_study(out, "newer", [("unstable", 0.96), ("good-fit", 0.975), ("diverged-nan", None)])
    r = tune("diagnose", "--json")  # most recent study, its best trial
    assert r.code == 0, r.stderr
    assert r.json()["source"] == "study newer trial 1"
    assert [d["code"] for d in r.json()["diagnoses"]] == ["good-fit"]
    r = tune("diagnose", "--study", "newer", "--trial", "0", "--json")
    assert [d["code"] for d in r.json()["diagnoses"]] == ["unstable"]
    assert r.json()["diagnoses"][0]["hp"]["lr"] < 0.02  # advice from the trial's own hp
    r = tune("diagnose", "--study", "older", "--json")
    assert [d["code"] for d in r.json()["diagnoses"]] == ["underfitting"]
    r = tune("diagnose", "--trial", "2", "--json")  # a failed trial's curves are readable too
    assert r.code == 1 and [d["code"] for d in r.json()["diagnoses"]] == ["diverged"]
    r = tune("diagnose", "--study", "newer", "--trial", "7")
    assert r.code == 2 and "no such trial" in r.stderr
    r = tune("diagnose", "--study", "missing")
    assert r.code == 2 and "no such study" in r.stderr and "newer" in r.stderr
