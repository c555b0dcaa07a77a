"""`tune evaluate` and `tune predict`: a checkpoint used afterwards, with no task
flags, test-time augmentation decided by measurement, and clear bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def trained(tune):
    run = tune("train", "--hp", "epochs=4", "--json")
    assert run.code == 0, run.stderr
    return Path(".tune/model.pt").resolve(), run.json()


def test_evaluate_scores_the_validation_split_as_training_measured(tune, trained):
    model, result = trained
    run = tune("evaluate", str(model), "--json")
    assert run.code == 0, run.stderr
    ev = run.json()
    assert set(ev) >= {"accuracy", "loss", "n", "per_class", "tta", "files"}
    assert ev["accuracy"] == pytest.approx(result["best_val_acc"], abs=1e-9)
    assert ev["n"] == sum(row["n"] for row in ev["per_class"]) and len(ev["per_class"]) == 10
    assert ev["tta"] is None and 0 < ev["loss"] < 1
    png = next(Path(f) for f in ev["files"] if f.endswith("confusion.png"))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert sum(map(sum, ev["confusion"])) == ev["n"]


def test_auto_tta_drops_the_flip_on_digits_and_predict_reuses_its_choice(tune, trained, tmp_path):
    model, _ = trained
    ev = tune("evaluate", str(model), "--tta", "auto", "--json").json()
    tta = ev["tta"]
    assert set(tta) == {"views", "accuracy", "gain", "gain_ci", "cost", "kept", "dropped"}
    dropped = {d["name"]: d["reason"] for d in tta["dropped"]}
    assert "flip" in dropped and "below the plain view" in dropped["flip"]
    assert "flip" not in tta["kept"]
    flip = next(v for v in tta["views"] if v["name"] == "flip")
    assert flip["accuracy"] < 0.7  # a mirrored digit is another digit
    low, high = tta["gain_ci"]
    assert low <= tta["gain"] <= high
    record = json.loads(Path(str(model).replace("model.pt", "model.tta.json")).read_text())
    assert record["views"] == tta["kept"]

    from tuner.sources import load_digits

    _, val = load_digits()
    np.savez(tmp_path / "new.npz", x=val.x[:25].numpy())  # no labels: prediction only
    run = tune("predict", str(model), "--data", str(tmp_path / "new.npz"), "--tta", "auto",
               "--out", str(tmp_path / "preds.csv"), "--json")
    assert run.code == 0, run.stderr
    assert run.json()["views"] == tta["kept"] and run.json()["n"] == 25
    rows = list(csv.DictReader((tmp_path / "preds.csv").open()))
    assert len(rows) == 25 and list(rows[0])[:3] == ["sample", "predicted", "p_0"]
    assert all(abs(sum(float(r[f"p_{c}"]) for c in range(10)) - 1) < 1e-4 for r in rows)
    hits = sum(r["predicted"] == str(int(y)) for r, y in zip(rows, val.y[:25]))
    assert hits >= 22


def test_class_names_and_file_names_come_from_an_image_folder(tune, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("data", 24), ("held", 6)):
        for name, value in (("dark", 40), ("light", 215)):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(rng.normal(value, 20, size=(8, 8)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}{i}.png")
    assert tune("train", "--model", "cnn", "--data", str(tmp_path / "data"), "--hp", "epochs=10",
                "--hp", "width=8", "--hp", "lr=0.01", "--hp", "batch_size=8").code == 0
    ev = tune("evaluate", ".tune/model.pt", "--data", str(tmp_path / "held"), "--json").json()
    assert [row["class"] for row in ev["per_class"]] == ["dark", "light"] and ev["accuracy"] == 1.0
    flat = tmp_path / "unlabelled"
    flat.mkdir()
    for f in sorted((tmp_path / "held" / "light").iterdir())[:3]:
        (flat / f.name).write_bytes(f.read_bytes())
    pred = tune("predict", ".tune/model.pt", "--data", str(flat), "--json").json()
    assert [r["sample"] for r in pred["predictions"]] == ["light0.png", "light1.png", "light2.png"]
    assert {r["predicted"] for r in pred["predictions"]} == {"light"}


def test_bad_input_is_one_error_line(tune, trained, tmp_path):
    model, _ = trained
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    np.savez(tmp_path / "flat.npz", x=np.zeros((4, 5), np.float32), y=np.zeros(4, np.int64))
    np.savez(tmp_path / "unlabelled.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    cases = [
        (("evaluate", str(text)), "not a readable tune checkpoint"),
        (("evaluate", str(tmp_path / "missing.pt")), "no such checkpoint"),
        (("evaluate", str(model), "--data", str(tmp_path / "flat.npz")), "the model takes (1, 8, 8)"),
        (("evaluate", str(model), "--data", str(tmp_path / "unlabelled.npz")), "no labels"),
        (("evaluate", str(model), "--tta", "mirror"), "unknown view 'mirror'"),
        (("predict", str(model), "--data", str(tmp_path / "unlabelled.npz"), "--tta", "auto",
          "--out", str(tmp_path / "p.csv")), "run tune evaluate"),
    ]
    for args, words in cases:
        run = tune(*args)
        assert run.code == 2, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], (args, lines)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("edit,columns", [(lambda row: row.split(",", 1)[1], 2),
                                          (lambda row: row + ",0.5", 4)], ids=["short", "long"])
def test_a_ragged_held_out_csv_is_refused_as_a_ragged_training_csv_is(tune, tmp_path, edit, columns):
    """A row with a column too few or too many: held-out data names the row, word for word
    as training does (a short row used to end in a traceback, a long one in "a feature
    column is not numeric")."""
    rng = np.random.default_rng(2)
    rows = [f"{a:.3f},{b:.3f},{int(a > 0)}" for a, b in rng.normal(size=(40, 2))]
    (tmp_path / "good.csv").write_text("\n".join(["a,b,label", *rows]) + "\n")
    rows[4] = edit(rows[4])  # the file's sixth line
    (tmp_path / "ragged.csv").write_text("\n".join(["a,b,label", *rows]) + "\n")
    assert tune("train", "--data", str(tmp_path / "good.csv"), "--hp", "epochs=1").code == 0
    runs = [tune("train", "--data", str(tmp_path / "ragged.csv"), "--hp", "epochs=1"),
            tune("evaluate", ".tune/model.pt", "--data", str(tmp_path / "ragged.csv")),
            tune("predict", ".tune/model.pt", "--data", str(tmp_path / "ragged.csv"),
                 "--out", str(tmp_path / "p.csv"))]
    for run in runs:
        assert run.code == 2, (run.stdout, run.stderr)
        assert run.stderr.strip().splitlines() == runs[0].stderr.strip().splitlines(), run.stderr
    lines = runs[0].stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert f"ragged.csv: row 6 has {columns} columns, the first row 3" in lines[0]
    assert not (tmp_path / "p.csv").exists()


def test_views_on_data_that_is_not_images_are_refused(tune, tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "flat.npz", x=rng.normal(size=(120, 5)).astype(np.float32),
             y=np.arange(120) % 3)
    assert tune("train", "--data", str(tmp_path / "flat.npz"), "--hp", "epochs=1").code == 0
    run = tune("evaluate", ".tune/model.pt", "--tta", "flip")
    assert run.code == 2 and "needs image samples" in run.stderr
    auto = tune("evaluate", ".tune/model.pt", "--tta", "auto", "--json")
    assert auto.code == 0 and auto.json()["tta"]["kept"] == []
