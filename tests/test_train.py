"""`tune train` on the built-in demo: what it writes, what it reports, repeatability."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch



def test_demo_trains_to_95_percent_and_writes_its_files(tune):
    run = tune("train", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert set(result) >= {"best_val_acc", "final_val_acc", "epochs_run", "diverged", "files"}
    assert result["best_val_acc"] >= 0.95
    assert result["epochs_run"] == 20 and result["diverged"] is False

    files = {Path(f).name: Path(f) for f in result["files"]}
    assert set(files) == {"model.pt", "history.json", "history.csv", "curves.png"}
    assert files["curves.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = list(csv.DictReader(files["history.csv"].open()))
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr", "seconds"]
    assert len(rows) == 20 and float(rows[-1]["val_acc"]) == result["final_val_acc"]
    history = json.loads(files["history.json"].read_text())
    assert len(history["epochs"]) == 20

    # The checkpoint describes itself (plain containers and tensors only) ...
    ckpt = torch.load(files["model.pt"], weights_only=True)
    assert set(ckpt) >= {"state_dict", "recipe", "hyperparameters", "normalization", "classes",
                         "best_val_acc", "final_val_acc", "epoch"}
    assert ckpt["classes"] == [str(i) for i in range(10)]
    assert ckpt["recipe"]["model"] == "mlp" and ckpt["recipe"]["data"] == "digits"
    assert ckpt["best_val_acc"] == result["best_val_acc"] and ckpt["epoch"] == result["weights_epoch"]
    assert history["epochs"][ckpt["epoch"] - 1]["val_acc"] == result["best_val_acc"]
    # ... keeps the best epoch's weights, and predicts what the run measured, from raw inputs.
    from tuner.checkpoint import load
    from tuner.sources import load_digits

    loaded = load(files["model.pt"])
    _, val = load_digits()
    acc = (loaded.probabilities(val.x).argmax(1) == val.y).double().mean().item()
    assert abs(acc - result["best_val_acc"]) < 1e-9


def test_human_output_is_a_table_and_no_json(tune):
    run = tune("train", "--hp", "epochs=2")
    assert run.code == 0
    assert "val_acc" in run.stdout and "best val_acc" in run.stdout
    assert not run.stdout.lstrip().startswith("{")


def test_same_seed_same_curves_other_seed_differs(tune):
    def curves(seed: str) -> list[dict]:
        run = tune("train", "--json", "--hp", "epochs=3", "--hp", "dropout=0.2", "--seed", seed)
        epochs = json.loads(Path(run.json()["files"][1]).read_text())["epochs"]
        return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]

    a, b, c = curves("7"), curves("7"), curves("8")
    assert a == b
    assert c != a


def test_divergence_is_reported_not_raised_and_keeps_the_good_model(tune):
    good = tune("train", "--json", "--hp", "epochs=1").json()
    before = {f: Path(f).read_bytes() for f in good["files"]}
    run = tune("train", "--json", "--hp", "optimizer=sgd", "--hp", "lr=1e4", "--hp", "epochs=5")
    assert run.code == 1
    result = run.json()
    assert result["diverged"] is True
    assert result["epochs_run"] < 5
    assert "lr" in result["reason"]
    assert {f: Path(f).read_bytes() for f in good["files"]} == before  # the good run is intact
    assert all(Path(f).parent.name == "diverged" for f in result["files"])
    human = tune("train", "--hp", "optimizer=sgd", "--hp", "lr=1e4", "--hp", "epochs=5")
    assert "diverged" in human.stdout and "untouched" in human.stdout


def test_hyperparameters_reach_the_engine_and_the_model(tune):
    run = tune("train", "--json", "--hp", "epochs=2", "--hp", "width=32", "--hp", "depth=1",
               "--hp", "schedule=cosine", "--hp", "optimizer=sgd", "--hp", "lr=0.1")
    result = run.json()
    hp = result["hyperparameters"]
    assert (hp["width"], hp["depth"], hp["schedule"], hp["optimizer"], hp["lr"]) == (32, 1, "cosine", "sgd", 0.1)
    state = torch.load(Path(result["files"][0]), weights_only=True)["state_dict"]
    assert state["1.weight"].shape == (32, 64)  # Flatten, then Linear(64 -> width)
    history = json.loads(Path(result["files"][1]).read_text())["epochs"]
    assert history[-1]["lr"] < 0.01  # cosine has annealed by the last step


def test_cnn_on_digits(tune):
    run = tune("train", "--model", "cnn", "--json", "--hp", "epochs=3", "--hp", "width=16")
    assert run.code == 0, run.stderr
    assert run.json()["best_val_acc"] > 0.8


def test_bad_input_keeps_earlier_results(tune):
    first = tune("train", "--json", "--hp", "epochs=1").json()
    before = {f: Path(f).read_bytes() for f in first["files"]}
    run = tune("train", "--hp", "epochs=1", "--hp", "widht=3")
    assert run.code == 2
    assert {f: Path(f).read_bytes() for f in first["files"]} == before
