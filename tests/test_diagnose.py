"""tune diagnose: labelled curves from real trainings get their codes, noise does
not flip them, advice is concrete, and the command reads files and studies.

The labelled curves in fixtures/curves/ come from real trainings made by
fixtures/make_curves.py; the labels there were written by hand per run: the
codes with everything tune knows (the chance level each history records, and
the best accuracy other runs of the same data reached), and where they differ,
without that reference and "bare" (a CSV from elsewhere: neither).
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import pytest

from tuner.chance import Chance
from tuner.diagnose import CODES, diagnose, load_curves, read_curves
from tuner.engine import History
from tuner.errors import TuneError

CURVES = Path(__file__).parent / "fixtures" / "curves"
LABELS = json.loads((CURVES / "labels.json").read_text())
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def codes_of(path: Path, **kwargs) -> list[str]:
    run = read_curves(path)
    return diagnose(run.history, hyper=run.hyperparameters, **kwargs).codes


def chance_of(name: str) -> Chance:
    """The chance level tune recorded with the run (history.json has it, the CSV not)."""
    chance = read_curves(CURVES / f"{name}.json").history.chance
    assert chance is not None
    return chance


def expected(name: str, variant: str = "expected") -> list[str]:
    return LABELS[name].get(variant, LABELS[name]["expected"])


def add_noise(history: History, seed: int) -> History:
    """Noise of the size real runs show between epochs: training loss 1%, validation
    loss 4%, accuracy +-2 samples."""
    rng = random.Random(seed)
    noisy = copy.deepcopy(history)
    for e in noisy.epochs:
        e.train_loss *= 1 + rng.gauss(0, 0.01)
        e.val_loss *= 1 + rng.gauss(0, 0.04)
        e.val_acc = min(1.0, max(0.0, e.val_acc + rng.randint(-2, 2) / 359))
        e.train_acc = min(1.0, max(0.0, e.train_acc + rng.randint(-2, 2) / 1438))
    return noisy


# --- the labelled runs ----------------------------------------------------------

def test_fixtures_cover_every_code_single_epoch_and_nan():
    assert {c for lab in LABELS.values() for c in lab["expected"]} == set(CODES)
    assert len(load_curves(CURVES / "single-epoch.csv").epochs) == 1
    assert math.isnan(load_curves(CURVES / "diverged-nan.csv").epochs[-1].train_loss)
    assert load_curves(CURVES / "good-fit.csv").chance is None  # a CSV does not carry it


@pytest.mark.parametrize("name", sorted(LABELS))
def test_labelled_run_gets_its_codes(name):
    """history.json as tune writes it (chance level inside), against what other
    runs of the same data reached; the CSV with its chance level given (--classes)."""
    ref = LABELS[name]["reference"]
    assert codes_of(CURVES / f"{name}.json", reference=ref) == expected(name)
    assert codes_of(CURVES / f"{name}.csv", reference=ref, chance=chance_of(name)) == expected(name)


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("name", sorted(LABELS))
def test_without_the_reference_or_chance_level(name, fmt):
    """Without the reference, and bare (a curves file from elsewhere: chance level
    unknown too, judged as before tune knew it)."""
    assert codes_of(CURVES / f"{name}.json") == expected(name, "without_reference")
    history = load_curves(CURVES / f"{name}.{fmt}")
    history.chance = None
    result = diagnose(history)
    assert result.codes == expected(name, "bare")
    assert result.chance is None and "chance level unknown" in result.notes[0]


@pytest.mark.parametrize("name", sorted(LABELS))
def test_realistic_noise_does_not_flip_a_diagnosis(name):
    """Ten noisy copies of each run keep their labels, judged with everything tune
    knows, and bare too where the bare judgement is the right one (where it is
    not, as for a run at chance, its wrong answer need not be a steady one)."""
    history = read_curves(CURVES / f"{name}.json").history
    for seed in range(10):
        noisy = add_noise(history, seed)
        assert diagnose(noisy, reference=LABELS[name]["reference"]).codes == expected(name), seed
        if "bare" not in LABELS[name]:
            noisy.chance = None
            assert diagnose(noisy).codes == expected(name), f"bare, seed {seed}"


# Left out, because the losses alone honestly say something else:
# overfitting-small-data's validation loss sits flat at its minimum (a good fit);
# unstable's validation loss ends 8x its training loss (overfitting too, which
# the accuracies, 2 points apart, rule out); underfitting's weight decay squashes
# the logits, so its loss ends at 98% of chance level with 40% accuracy (a run
# that learned nothing); good-fit-noisy-labels is judged against a reference accuracy.
LOSS_ONLY_AMBIGUOUS = {"overfitting-small-data", "unstable", "underfitting", "good-fit-noisy-labels"}


@pytest.mark.parametrize("name", sorted(set(LABELS) - LOSS_ONLY_AMBIGUOUS))
def test_loss_only_curves_get_the_same_codes(name):
    history = read_curves(CURVES / f"{name}.json").history
    for e in history.epochs:
        e.train_acc = e.val_acc = math.nan
    assert diagnose(history).codes == expected(name)
    if "bare" not in LABELS[name]:  # where the bare judgement is right, it is right from losses too
        history.chance = None
        assert diagnose(history).codes == expected(name)


def test_loss_only_underfitting_at_chance_loss_names_the_weight_decay():
    run = read_curves(CURVES / "underfitting.json")
    for e in run.history.epochs:
        e.train_acc = e.val_acc = math.nan
    (d,) = diagnose(run.history, hyper=run.hyperparameters).diagnoses
    assert d.code == "not-learning" and "weight_decay 1" in d.advice


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


# --- chance level ------------------------------------------------------------------------

STUCK = sorted(n for n, lab in LABELS.items()
               if {"diverged", "lr-too-low", "not-learning"} & set(lab["expected"]))


@pytest.mark.parametrize("name", STUCK)
def test_a_run_at_chance_never_gets_capacity_advice(name):
    run = read_curves(CURVES / f"{name}.json")
    result = diagnose(run.history, hyper=run.hyperparameters, reference=LABELS[name]["reference"])
    assert result.verdict == "fail"
    for d in result.diagnoses:
        assert "bigger model" not in d.advice and "width" not in d.hp and "depth" not in d.hp


def test_diverged_to_chance_names_the_blow_up_and_chance_level():
    run = read_curves(CURVES / "diverged-to-chance.json")
    (d,) = diagnose(run.history, hyper=run.hyperparameters).diagnoses
    assert d.code == "diverged" and d.evidence["epoch"] == 1 and d.evidence["chance_ratio"] > 3
    assert d.evidence["val_acc"] < 0.12 and "chance" in d.message
    assert d.hp["lr"] == pytest.approx(run.hyperparameters["lr"] / 10)


def test_imbalanced_chance_is_the_majority_share_and_the_label_entropy():
    run = read_curves(CURVES / "diverged-imbalanced.json")
    chance = run.history.chance
    assert chance.classes == 4 and chance.val_acc == pytest.approx(0.70, abs=0.01)
    entropy = -(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1))
    assert chance.train_loss == pytest.approx(entropy, rel=0.02) and chance.train_loss < math.log(4)
    d = diagnose(run.history).get("diverged")
    assert d.evidence["val_acc"] == pytest.approx(chance.val_acc)


def test_lr_too_low_raises_lr_and_gives_sgd_momentum():
    run = read_curves(CURVES / "lr-too-low.json")
    (d,) = diagnose(run.history, hyper=run.hyperparameters).diagnoses
    assert d.code == "lr-too-low" and d.evidence["train_loss_fall_share"] > 0.03
    assert d.hp == {"lr": pytest.approx(10 * run.hyperparameters["lr"]), "momentum": 0.9}
    assert "tune lr-range" in d.advice


@pytest.mark.parametrize("name, suspect", [("not-learning", None),
                                           ("not-learning-weight-decay", "weight_decay 10")])
def test_not_learning_sends_to_the_sanity_checks(name, suspect):
    run = read_curves(CURVES / f"{name}.json")
    (d,) = diagnose(run.history, hyper=run.hyperparameters).diagnoses
    assert d.code == "not-learning" and d.hp == {}
    assert "tune check-init" in d.advice and "tune overfit-small" in d.advice
    assert (suspect in d.advice) if suspect else "weight_decay" not in d.advice


@pytest.mark.parametrize("name", ["underfitting-creeping", "underfitting-creeping-deeper"])
def test_creeping_far_below_the_task_gets_both_advices(name):
    run = read_curves(CURVES / f"{name}.json")
    result = diagnose(run.history, hyper=run.hyperparameters, reference=LABELS[name]["reference"],
                      declared=mlp_declared())
    under, improving = result.diagnoses
    assert under.evidence["epochs_to_target"] > len(run.history.epochs)
    assert "twice the epochs alone will not get there" in under.message
    assert under.hp["width"] > run.hyperparameters["width"] and under.hp["lr"] > run.hyperparameters["lr"]
    assert improving.hp["epochs"] == 2 * run.hyperparameters["epochs"]


def test_measured_chance_of_tasks(write_task):
    """From the labels and the task's own loss: balanced digits, an imbalanced zoo
    task, and a loss that takes no class scores (its chance loss is unknown)."""
    from tuner.experiment import prepare
    from tuner.recipe import Recipe

    digits = prepare(Recipe.from_flags(hp=["epochs=1"]), "cpu").chance
    assert digits.classes == 10 and digits.train_loss == pytest.approx(math.log(10), rel=0.01)
    zoo = Path(__file__).parent / "zoo" / "healthy_imbalanced.py"
    imbalanced = prepare(Recipe.from_flags(task=str(zoo)), "cpu").chance
    assert imbalanced.train_acc == pytest.approx(0.78, abs=0.03) and imbalanced.train_loss < 0.8
    odd = write_task(
        "import torch\n"
        "from torch import nn\n"
        "def build_model(hp):\n    return nn.Linear(4, 3)\n"
        "def load_data():\n"
        "    g = torch.Generator().manual_seed(0)\n"
        "    x, y = torch.randn(60, 4, generator=g), torch.arange(60) % 3\n"
        "    return (x[:40], y[:40]), (x[40:], y[40:])\n"
        "def loss_fn(out, y):\n    assert len(y) > 1, 'needs a batch'\n"
        "    return nn.functional.cross_entropy(out, y)\n")
    chance = prepare(Recipe.from_flags(task=odd), "cpu").chance
    assert chance.val_acc == pytest.approx(1 / 3, abs=0.1) and chance.val_loss is None


def test_history_round_trip_keeps_chance_and_old_records_read_as_unknown():
    history = read_curves(CURVES / "lr-too-low.json").history
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again.chance == history.chance
    old = history.to_dict()
    del old["chance"]
    assert History.from_dict(old).chance is None


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

    # A CSV carries no chance level: the blow-up then reads as underfitting, and the
    # output says why; --classes 10 supplies it, and the run failed.
    r = tune("diagnose", "--curves", str(CURVES / "diverged-blowup.csv"), "--json")
    assert r.code == 0 and r.json()["codes"] == ["underfitting"] and r.json()["chance"] is None
    assert "chance level unknown" in r.json()["notes"][0]
    r = tune("diagnose", "--curves", str(CURVES / "diverged-blowup.csv"), "--classes", "10", "--json")
    assert r.code == 1 and r.json()["verdict"] == "fail" and r.json()["codes"] == ["diverged"]
    assert r.json()["chance"]["val_acc"] == pytest.approx(0.1)
    r = tune("diagnose", "--curves", str(CURVES / "good-fit.csv"))
    assert r.code == 0 and "good-fit" in r.stdout and "PASS" in r.stdout
    assert "chance level unknown" in r.stdout


def test_cli_classes_shares_and_reference_from_the_command_line(tune):
    """An imbalanced run from elsewhere: --classes with the shares makes 0.70
    accuracy chance level; --reference judges underfitting against other runs."""
    csv = str(CURVES / "diverged-imbalanced.csv")
    assert tune("diagnose", "--curves", csv, "--classes", "4", "--json").json()["codes"] == ["underfitting"]
    r = tune("diagnose", "--curves", csv, "--classes", "0.7,0.1,0.1,0.1", "--json")
    assert r.code == 1 and r.json()["codes"] == ["diverged"]
    noisy = str(CURVES / "good-fit-noisy-labels.csv")
    assert tune("diagnose", "--curves", noisy, "--json").json()["codes"] == ["underfitting"]
    r = tune("diagnose", "--curves", noisy, "--classes", "10", "--reference", "0.958", "--json")
    assert r.json()["codes"] == ["good-fit"] and r.json()["reference"] == 0.958


@pytest.mark.parametrize("args, fragment", [
    (["--curves", "missing.csv"], "no such file"),
    (["--curves", "x.csv", "--classes", "1"], "whole number of classes"),
    (["--curves", "x.csv", "--classes", "ten"], "not a number"),
    (["--curves", "x.csv", "--classes", "0.5,-0.5"], "shares must be non-negative"),
    (["--curves", "x.csv", "--reference", "97"], "between 0 and 1"),
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
    # history.json records the task's chance level; the CSV cannot.
    chance = by_default.json()["chance"]
    assert chance["classes"] == 10 and chance["val_acc"] == pytest.approx(0.1, abs=0.01)
    assert chance["val_loss"] == pytest.approx(math.log(10), rel=0.01)
    assert from_csv.json()["chance"] is None and from_csv.json()["notes"]


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


def test_study_trial_is_judged_against_the_other_trials_best(tune):
    """The creeping run alone is still improving; in a study whose best trial reached
    0.975 it is also far below what the task allows."""
    out = Path(".tune")
    add_study(out, "s", [("good-fit", 0.975), ("underfitting-creeping", 0.351), ("diverged-nan", None)])
    r = tune("diagnose", "--study", "s", "--trial", "1", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["reference"] == 0.975 and r.json()["chance"]["classes"] == 10
    assert r.json()["codes"] == ["underfitting", "still-improving"]
    r = tune("diagnose", "--study", "s", "--json")  # the best trial: the others reached less
    assert r.json()["reference"] == 0.351 and r.json()["codes"] == ["good-fit"]
