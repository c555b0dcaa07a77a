"""Augmentation as training hyperparameters: applied in training only, refused on
data that is not images, searched on image data behind an on/off gate, turned
off by overfit-small, and moved by the diagnosis policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tuner.diagnose import diagnose, read_curves
from tuner.hp import ParamSpec
from tuner.search import default_space
from tuner.search.space import declarations
from tuner.walk.adjust import adjust_space

CURVES = Path(__file__).parent / "fixtures" / "curves"


def curves(run) -> list[dict]:
    epochs = json.loads(Path(run.json()["files"][1]).read_text())["epochs"]
    return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]


def test_augmentation_trains_differently_repeats_and_never_touches_validation(tune):
    plain = tune("train", "--hp", "epochs=2", "--json", "--out", "plain")
    aug = tune("train", "--hp", "epochs=2", "--hp", "flip=0.5", "--hp", "cutout=0.25", "--json",
               "--out", "aug")
    again = tune("train", "--hp", "epochs=2", "--hp", "flip=0.5", "--hp", "cutout=0.25", "--json",
                 "--out", "again")
    assert aug.code == 0, aug.stderr
    assert curves(aug) == curves(again)  # the same seed repeats, draws included
    assert [e["train_loss"] for e in curves(aug)] != [e["train_loss"] for e in curves(plain)]
    # augment=false turns all five off: the run is the plain one.
    off = tune("train", "--hp", "epochs=2", "--hp", "flip=0.5", "--hp", "augment=false", "--json",
               "--out", "off")
    assert curves(off) == curves(plain)


def test_augmentation_on_flat_data_is_one_clear_error(tune, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "flat.npz", x=rng.normal(size=(100, 6)).astype(np.float32),
             y=np.arange(100) % 2)
    run = tune("train", "--data", str(tmp_path / "flat.npz"), "--hp", "flip=0.5")
    assert run.code == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "augmentation needs image samples shaped (channels, height, width); these are (6,)" in run.stderr
    bad = tune("train", "--hp", "crop=0")
    assert bad.code == 2 and "crop" in bad.stderr and "(0, 1]" in bad.stderr


def test_the_coarse_space_of_image_data_gates_augmentation():
    images = default_space({}, images=True)
    assert images["augment"].options == (False, True)
    for name in ("flip", "crop", "translate", "jitter", "cutout"):
        assert images.when[name] == ("augment", (True,))
    assert (images["crop"].low, images["crop"].high) == (0.35, 1.0)
    assert images["flip"].options == (0.0, 0.5)
    assert "flip" not in default_space({})  # flat data: no augmentation
    fixed = default_space({}, images=True, fixed={"flip": 0.5}, train_fixed={"augment": True})
    assert "augment" not in fixed and "flip" not in fixed and "crop" in fixed and "crop" not in fixed.when


def test_overfit_small_turns_augmentation_off_and_says_so(tune):
    run = tune("overfit-small", "--hp", "flip=0.5", "--hp", "crop=0.5", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    finding = next(f for f in result["findings"] if f["code"] == "augmentation-off")
    assert "flip=0.5 crop=0.5" in finding["message"]
    assert result["metrics"]["passed"] is True


def test_overfitting_on_images_advises_augmentation_and_underfitting_lowers_it():
    run = read_curves(CURVES / "overfitting.json")
    hyper = {**run.hyperparameters, "flip": 0.0, "crop": 1.0, "cutout": 0.0, "augment": True}
    on_images = declarations({}, images=True)
    d = diagnose(run.history, hyper=hyper, declared=on_images).get("overfitting")
    assert d.hp["flip"] == 0.5 and d.hp["crop"] < 1.0 and d.hp["cutout"] > 0
    assert "--hp flip=0.5" in d.advice
    flat = diagnose(run.history, hyper=hyper, declared={}).get("overfitting")
    assert "flip" not in flat.hp

    space = default_space({}, images=True)
    more = adjust_space(space, ["overfitting"], on_images, train_fixed={"augment": True})
    assert more.space["augment"].options == (True,) and more.space["flip"].options == (0.5,)
    assert more.space["crop"].high < 1.0 and more.space["cutout"].low > 0.0
    less = adjust_space(space, ["underfitting"], on_images, train_fixed={"augment": True})
    assert less.space["augment"].options == (False,)


def test_a_narrowed_space_without_augmentation_gets_it_back_on_overfitting():
    narrowed = default_space({}, fixed={"augment": False}, train_fixed={"augment": True})
    narrowed = narrowed.set("augment", choices=[False])  # the best trials all left it off
    back = adjust_space(narrowed, ["overfitting"], declarations({}, images=True),
                        train_fixed={"augment": True})
    assert back.space["augment"].options == (True,)
    assert "cutout" in back.space and back.space.when["cutout"] == ("augment", (True,))
    kept = adjust_space(narrowed, ["overfitting"], declarations({}, images=True),
                        fixed={"cutout": 0.0}, train_fixed={"augment": True})
    assert "cutout" not in kept.space  # a name fixed with --hp stays fixed


def test_descending_names_move_the_other_way():
    crop = ParamSpec("crop", "float", 0.35, 1.0, role="regularization", descending=True)
    from tuner.diagnose.policy import moves, step_value

    [more] = [m for m in moves("overfitting", {"crop": crop}) if m.name == "crop"]
    assert step_value(more, 1.0, crop) < 1.0
