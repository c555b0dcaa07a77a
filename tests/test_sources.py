"""Built-in data sources and per-channel normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tuner.data import Normalizer, TensorData, stratified_indices
from tuner.experiment import prepare
from tuner.recipe import Recipe


def test_npz_with_and_without_validation(tune, tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=(200, 5)).astype(np.float32) + y[:, None] * 3
    np.savez(tmp_path / "split.npz", x=x, y=y)
    np.savez(tmp_path / "given.npz", x=x[:150], y=y[:150], x_val=x[150:], y_val=y[150:])
    exp = prepare(Recipe.from_flags(data=str(tmp_path / "split.npz")))
    assert (len(exp.train), len(exp.val)) == (160, 40)
    exp = prepare(Recipe.from_flags(data=str(tmp_path / "given.npz")))
    assert (len(exp.train), len(exp.val)) == (150, 50)
    run = tune("train", "--data", "given.npz", "--json", "--hp", "epochs=3")
    assert run.json()["best_val_acc"] > 0.9


def test_csv_with_named_label_column_and_class_names(tmp_path):
    rng = np.random.default_rng(1)
    rows = ["f1,label,f2"] + [f"{a:.3f},{'cat' if a > 0 else 'dog'},{b:.3f}"
                              for a, b in rng.normal(size=(50, 2))]
    (tmp_path / "d.csv").write_text("\n".join(rows))
    exp = prepare(Recipe.from_flags(data=str(tmp_path / "d.csv")))
    assert exp.task.num_classes == 2 and exp.task.class_names == ["cat", "dog"]
    assert exp.train.x.shape[1] == 2


def test_image_folder(tmp_path):
    from PIL import Image

    for c, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (12, 10), colour).save(tmp_path / "imgs" / c / f"{i}.png")
    exp = prepare(Recipe.from_flags(model="cnn", data=str(tmp_path / "imgs")))
    assert exp.train.x.shape[1:] == (3, 10, 12)
    assert exp.task.class_names == ["blue", "red"] and len(exp.train) + len(exp.val) == 12


def test_normalisation_uses_the_training_split_only():
    exp = prepare(Recipe())
    x = exp.train.x
    assert x.mean().item() == pytest.approx(0, abs=1e-4) and x.std().item() == pytest.approx(1, abs=1e-3)
    assert abs(exp.val.x.mean().item()) > 1e-4  # val is scaled with train's statistics, not its own
    raw = prepare(Recipe.from_flags(hp=["normalize=false"]))
    assert raw.train.x.max().item() == 16.0


def test_per_feature_statistics_guard_constant_features():
    x = torch.stack([torch.arange(10.0), torch.full((10,), 3.0)], dim=1)
    norm = Normalizer.fit(TensorData(x, torch.zeros(10).long()))
    out = norm(x)
    assert torch.isfinite(out).all() and out[:, 1].abs().max() == 0


def test_stratified_subset_keeps_every_class():
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    idx = stratified_indices(labels, 20, seed=0)
    picked = labels[idx]
    assert len(idx) == 20 and set(picked.tolist()) == {0, 1, 2}
    assert (picked == 0).sum() >= 17


def test_digits_read_directly_match_scikit_learn():
    from sklearn.datasets import load_digits as sk_digits

    from tuner.sources import _digits_table

    bunch, table = sk_digits(), _digits_table()
    assert np.array_equal(table[:, :64], bunch.data) and np.array_equal(table[:, 64], bunch.target)
