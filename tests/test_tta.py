"""Test-time augmentation: the views' geometry, the bootstrap, and auto's decision
on a real model trained on the digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tuner.data import Normalizer, TensorData
from tuner.errors import TuneError
from tuner.sources import load_digits
from tuner.tta import (SET_NAMES, VIEW_SETS, ViewRun, apply_view, check_views_apply, decide_auto,
                       evaluate_tta, paired_bootstrap, parse_views, tta_probabilities)

ALL_VIEWS = ["plain", *(v for views in VIEW_SETS.values() for v in views)]


def ramp(size: int) -> torch.Tensor:
    """One image (1, 1, size, size) whose pixels hold their column index."""
    return torch.arange(size, dtype=torch.float32).expand(1, 1, size, size).clone()


@pytest.fixture(scope="module")
def digits_model():
    """A small CNN trained for a second on the 8x8 digits, and the validation split."""
    train, val = load_digits()
    norm = Normalizer.fit(train)
    train, val = train.map_x(norm), val.map_x(norm)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(16 * 64, 10))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        for xb, yb in train.batches(64, shuffle=True, generator=g):
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model, val


# --- views -------------------------------------------------------------------------------

def test_every_view_keeps_shape_dtype_and_device():
    x = torch.rand(5, 3, 12, 10)
    for name in ALL_VIEWS:
        out = apply_view(name, x)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device, name
    assert apply_view("plain", x) is x


def test_flip_of_flip_is_the_image():
    x = torch.rand(4, 3, 7, 9)
    assert torch.equal(apply_view("flip", apply_view("flip", x)), x)
    assert torch.equal(apply_view("flip", ramp(8))[0, 0, 0], torch.arange(7, -1, -1.0))


@pytest.mark.parametrize("name, offset", [
    ("crop_top_left", 0.0), ("crop_bottom_left", 0.0), ("crop_centre", 0.05),
    ("crop_top_right", 0.1), ("crop_bottom_right", 0.1),
])
def test_crops_are_90_percent_windows_resized_back(name, offset):
    """Pixel p of a crop reads the input at 0.9 p - 0.05 + offset * side (pixel
    centres), so on a ramp the crop is that straight line, clamped to the image."""
    size = 20
    out = apply_view(name, ramp(size))[0, 0, 0]
    expected = (0.9 * torch.arange(size) - 0.05 + offset * size).clamp(0, size - 1)
    assert float((out - expected).abs().max()) < 1e-4
    # Left crops see column 0; right crops see the last column.
    if "left" in name:
        assert float(out[0]) == pytest.approx(0.0, abs=1e-5)
    if "right" in name:
        assert float(out[-1]) == pytest.approx(size - 1, abs=1e-5)


def test_scales_zoom_around_the_centre_keeping_the_size():
    size = 32
    centre = (size - 1) / 2
    p = torch.arange(size, dtype=torch.float32)
    mid = size // 2
    zoom_in = apply_view("scale_1.1", ramp(size))[0, 0, mid]
    assert float((zoom_in[2:-2] - ((p - centre) / 1.1 + centre)[2:-2]).abs().max()) < 1e-4
    zoom_out = apply_view("scale_0.9", ramp(size))[0, 0, mid]
    assert float((zoom_out[3:-3] - ((p - centre) / 0.9 + centre)[3:-3]).abs().max()) < 1e-4
    # Zooming out uncovers a border read as 0 (the mean, on normalised data).
    border = apply_view("scale_0.9", torch.ones(1, 1, size, size))[0, 0]
    assert float(border[0, 0]) == 0.0 and float(border[mid, mid]) == 1.0


def test_parse_views_names_the_sets_or_auto():
    assert parse_views("flip,crops") == (("flip", "crops"), False)
    assert parse_views(["scales", "scales"]) == (("scales",), False)
    assert parse_views("auto") == (SET_NAMES, True)
    with pytest.raises(TuneError, match="unknown view 'mirror'"):
        parse_views("flip,mirror")
    with pytest.raises(TuneError, match="no view"):
        parse_views(",")
    with pytest.raises(TuneError, match="auto chooses among all the views") as err:
        parse_views("auto,flip")
    assert "--tta auto alone" in err.value.hint


def test_views_need_image_samples():
    check_views_apply((1, 8, 8), ["flip"])
    check_views_apply((64,), [])
    with pytest.raises(TuneError) as err:
        check_views_apply((64,), ["flip", "crops"])
    assert err.value.message == ("--tta flip,crops needs image samples shaped "
                                 "(channels, height, width); these are (64,)")


# --- the bootstrap -----------------------------------------------------------------------

def test_bootstrap_interval_covers_a_known_difference():
    base = np.zeros(1000, dtype=bool)
    base[:700] = True
    new = base.copy()
    new[700:820] = True  # 120 more right ...
    new[:20] = False  # ... and 20 fewer: a gain of exactly 0.1
    gain = paired_bootstrap(base, new, seed=0)
    assert gain.gain == pytest.approx(0.1)
    assert gain.low < 0.1 < gain.high and gain.low > 0.05 and gain.high < 0.15
    assert paired_bootstrap(base, new, seed=0) == gain  # seeded
    assert paired_bootstrap(new, base, seed=0).gain == pytest.approx(-0.1)
    same = paired_bootstrap(base, base)
    assert (same.gain, same.low, same.high) == (0.0, 0.0, 0.0)


def test_bootstrap_interval_covers_the_true_gain_95_percent_of_the_time():
    """Many data sets drawn from a population whose true gain is 0.1: the 95%
    interval should cover 0.1 in about 95% of them."""
    rng = np.random.default_rng(1)
    covered = 0
    trials = 400
    for i in range(trials):
        kind = rng.choice(3, size=300, p=[0.15, 0.05, 0.8])  # new right only / base only / same
        base, new = kind == 1, kind == 0
        g = paired_bootstrap(base, new, n_resamples=2000, seed=i)
        covered += g.low <= 0.1 <= g.high
    assert 0.90 <= covered / trials <= 0.99


def test_bootstrap_matches_resampling_the_samples():
    """The multinomial shortcut has the distribution of resampling indices."""
    rng = np.random.default_rng(2)
    base, new = rng.random(200) < 0.7, rng.random(200) < 0.75
    idx = rng.integers(0, 200, size=(4000, 200))
    by_index = (new[idx].mean(1) - base[idx].mean(1))
    ours = paired_bootstrap(base, new, n_resamples=4000, seed=3)
    lo, hi = np.percentile(by_index, [2.5, 97.5])
    assert abs(ours.low - lo) < 0.015 and abs(ours.high - hi) < 0.015


# --- evaluation and auto -------------------------------------------------------------------

def test_auto_drops_the_flip_on_digits(digits_model):
    model, val = digits_model
    result = evaluate_tta(model, val, "auto")
    dropped = {d.name: d.reason for d in result.dropped}
    assert "flip" in dropped and "below the plain view" in dropped["flip"]
    assert "flip" not in result.kept
    assert set(result.kept) | set(dropped) == set(SET_NAMES)
    accuracy = {v.name: v.accuracy for v in result.views}
    assert list(accuracy) == ["plain", *SET_NAMES]
    assert accuracy["flip"] < accuracy["plain"] - 0.2  # a mirrored digit is often another digit
    assert result.gain == pytest.approx(result.accuracy - accuracy["plain"])
    assert result.gain_ci[0] <= result.gain <= result.gain_ci[1]
    assert result.gain > 0 if result.kept else result.gain == 0
    assert result.cost > 1.5 if result.kept else result.cost == 1.0
    assert set(result.to_dict()) == {"views", "accuracy", "gain", "gain_ci", "cost", "kept",
                                     "dropped"}
    assert model.training  # the fixture's model was left in train mode, and is again


def test_asked_views_are_all_averaged_and_reported(digits_model):
    model, val = digits_model
    result = evaluate_tta(model, val, "flip,scales")
    assert result.kept == ["flip", "scales"] and result.dropped == []
    # The average is over plain, flip, scale 0.9 and scale 1.1, each alike.
    x = val.x
    with torch.no_grad():
        model.eval()
        probs = torch.stack([torch.softmax(model(apply_view(v, x)), 1)
                             for v in ("plain", "flip", "scale_0.9", "scale_1.1")]).mean(0)
        model.train()
    assert float((result.probabilities - probs).abs().max()) < 1e-5
    acc = float((probs.argmax(1) == val.y).double().mean())
    assert result.accuracy == pytest.approx(acc)
    assert result.cost > 2.5  # four forward passes
    assert float((tta_probabilities(model, val, ["flip", "scales"]) - probs).abs().max()) < 1e-5


def test_views_run_in_eval_mode():
    """Dropout on: a model evaluated in train mode would give two different answers."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 3))
    data = TensorData(torch.randn(40, 1, 4, 4), torch.randint(0, 3, (40,)))
    first = evaluate_tta(model, data, "crops").probabilities
    second = evaluate_tta(model, data, "crops").probabilities
    assert torch.equal(first, second) and model.training


def test_auto_keeps_nothing_when_the_average_does_not_gain():
    """A set as accurate as the plain view by itself, but whose average with it
    loses: auto drops it and says so."""
    labels = torch.tensor([0, 0, 1, 1])
    # Both right on 3 of 4, wrong on different samples; where each is wrong it is
    # the more confident, so the average is wrong on both.
    plain = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55], [0.6, 0.4]])
    crops = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.45, 0.55]]) * 5  # 5 views' sum
    run = ViewRun(plain, {"crops": crops}, labels, {"plain": 1.0, "crops": 5.0})
    kept, dropped = decide_auto(run, ["crops"])
    assert kept == [] and [d.name for d in dropped] == ["crops"]
    assert "not gain" in dropped[0].reason


def test_auto_on_flat_features_keeps_nothing_and_asked_views_are_an_error():
    torch.manual_seed(0)
    model = nn.Linear(6, 2)
    data = TensorData(torch.randn(30, 6), torch.randint(0, 2, (30,)))
    result = evaluate_tta(model, data, "auto")
    assert result.kept == [] and result.gain == 0 and result.cost == 1.0
    assert {d.name for d in result.dropped} == set(SET_NAMES)
    with pytest.raises(TuneError, match="needs image samples"):
        evaluate_tta(model, data, "flip")
