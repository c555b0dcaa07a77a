"""tune lr-range: the probe's outcomes, NaN as divergence, state restored in
memory, a repeatable suggestion, and the command's JSON, files and errors."""

from __future__ import annotations

import json
import math
import tempfile

import pytest
import torch
from torch import nn

from tuner.experiment import prepare
from tuner.lr_range import decade_probe, load_lr_range, lr_range, range_test
from tuner.lr_range.decade_probe import (HORIZON_EPOCHS, MAX_PROBE_ITERS, best_row, classify,
                                         horizon_steps, probe, probe_iters_for, probe_params)
from tuner.lr_range.suggest import parabola_vertex, probe_estimate
from tuner.lr_range.sweep import SmoothedLoss
from tuner.recipe import Recipe

SMALL = ["width=32", "depth=1"]
FAST = ["--probe", "1e-1,1e-3", "--probe-iters", "30", "--iters", "30", "--repeats", "2", "--hp", "width=32", "--hp", "depth=1"]


@pytest.fixture(scope="module")
def sgd_exp():
    return prepare(Recipe.from_flags(hp=SMALL + ["optimizer=sgd", "momentum=0.9"]), "cpu")


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- the decade probe ---------------------------------------------------------------

def test_probe_classifies_exploded_drops_and_flat(sgd_exp):
    model = sgd_exp.build().model
    rows = decade_probe(model, sgd_exp.train, probe_params(sgd_exp.params, False),
                        loss_fn=sgd_exp.task.loss_fn, device=sgd_exp.device,
                        lrs=(30.0, 1e-2, 1e-9), iters=20)
    outcome = {r.lr: r.outcome for r in rows}
    assert outcome == {30.0: "exploded", 1e-2: "drops", 1e-9: "flat"}
    drops = {r.lr: r.drop for r in rows}
    assert drops[1e-2] > 0.2
    assert abs(drops[1e-9]) < 0.01


def test_probe_starts_every_lr_from_the_same_weights(sgd_exp):
    """An LR's result does not depend on which LRs ran before it."""
    model = sgd_exp.build().model
    before = state_copy(model)
    kw = dict(loss_fn=sgd_exp.task.loss_fn, device=sgd_exp.device, iters=20)
    params = probe_params(sgd_exp.params, False)
    alone = decade_probe(model, sgd_exp.train, params, lrs=(1e-3,), **kw)
    after_others = decade_probe(model, sgd_exp.train, params, lrs=(1.0, 1e-2, 1e-3), **kw)
    assert after_others[-1].end_loss == alone[0].end_loss
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_probe_extends_past_the_end_that_trains_best_and_refines_to_half_decades(sgd_exp):
    """Given only 1e-5 and 1e-4, the probe walks up a decade at a time while the top
    trains best, then brackets the best with half decades."""
    model = sgd_exp.build().model
    rows = probe(model, sgd_exp.train, probe_params(sgd_exp.params, False),
                 loss_fn=sgd_exp.task.loss_fn, device=sgd_exp.device, lrs=(1e-4, 1e-5), iters=30)
    lrs = [r.lr for r in rows]
    assert lrs == sorted(lrs, reverse=True) and max(lrs) >= 1e-2
    best = best_row(rows)
    assert best.lr != max(lrs) and best.lr != min(lrs)  # bracketed
    for factor in (10 ** 0.5, 10 ** -0.5):
        assert any(abs(math.log10(lr / (best.lr * factor))) < 1e-9 for lr in lrs)


def test_probe_looks_between_decades_when_none_drops_clearly():
    """A loss that falls 1-4% at every decade is flat there: the probe still refines
    around the decade that lowered it most."""
    from tuner.lr_range.decade_probe import ProbeRow

    rows = [ProbeRow(1e-1, "flat", 0.01, 2.08, 2.06), ProbeRow(1e-2, "flat", 0.04, 2.08, 2.0),
            ProbeRow(1e-3, "flat", 0.001, 2.08, 2.078), ProbeRow(1.0, "exploded", -0.1, 2.08, 2.3)]
    assert best_row(rows).lr == 1e-2
    assert best_row([rows[3]]) is None


def test_probe_trains_as_long_as_a_coarse_trial():
    from tuner.search.driver import COARSE_EPOCHS

    assert HORIZON_EPOCHS == COARSE_EPOCHS
    assert horizon_steps(1438, 64) == 23 * 3 and probe_iters_for(1438, 64) == 69
    assert probe_iters_for(10 ** 6, 16) == MAX_PROBE_ITERS  # capped on large data


def test_lr_range_probes_the_horizon_and_warns_when_shorter(sgd_exp):
    kw = dict(probe_lrs=(1e-1, 1e-2), iters=20, repeats=1)
    full = lr_range(sgd_exp, **kw)
    assert full.settings["probe_iters"] == full.settings["horizon_steps"] == 69
    assert not any("fewer than" in w for w in full.warnings)
    short = lr_range(sgd_exp, probe_iters=10, **kw)
    assert any("fewer than the 69" in w for w in short.warnings)


def test_suggestion_is_the_probes_with_the_sweeps_as_a_fallback():
    from tuner.lr_range.decade_probe import ProbeRow
    from tuner.lr_range.suggest import suggest
    from tuner.lr_range.sweep import Sweep

    lrs = [10 ** (-7 + 8 * i / 99) for i in range(100)]
    smoothed = [2.0 - math.exp(-(math.log10(x) + 1) ** 2) for x in lrs]  # bottoms out at 1e-1
    sweep = Sweep(lrs, smoothed, smoothed, True, "blew up", 1e-7, 10.0, 100)
    rows = [ProbeRow(1e-2, "drops", 0.5, 2.0, 1.0), ProbeRow(10 ** -2.5, "drops", 0.3, 2.0, 1.4),
            ProbeRow(10 ** -1.5, "drops", 0.4, 2.0, 1.2)]
    s = suggest(rows, [sweep], 1e-3)
    assert s.source == "probe" and -2.25 <= math.log10(s.lr) <= -1.75
    assert s.per_repeat == [pytest.approx(10 ** -1.5, rel=0.1)]  # the range test's own, beside it
    flat = [ProbeRow(1e-2, "flat", 0.01, 2.0, 1.98)]
    s = suggest(flat, [sweep], 1e-3)
    assert s.source == "sweep" and s.lr == pytest.approx(10 ** -1.5, rel=0.1) and s.warnings
    s = suggest(flat, [], 1e-3)
    assert s.source == "configured" and s.lr == 1e-3


def test_classify_rules():
    assert classify(2.0, math.nan) == ("exploded", None)
    assert classify(2.0, 2.2)[0] == "exploded"  # ended above where it started
    assert classify(2.0, 1.97)[0] == "flat"
    outcome, drop = classify(2.0, 0.5)
    assert outcome == "drops" and drop == pytest.approx(0.75)


# --- the range test ----------------------------------------------------------------

def test_nan_loss_is_divergence_and_stops_the_sweep(sgd_exp):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.fill_(math.nan)
    sweep = range_test(model, sgd_exp.train, sgd_exp.params, loss_fn=sgd_exp.task.loss_fn,
                       device=sgd_exp.device, iters=50)
    assert sweep.diverged
    assert "nan" in sweep.reason
    assert len(sweep.losses) == 1  # the very first NaN ends it


class Exp(nn.Module):
    """exp() of the logits: trains at first, overflows to inf and NaN at a large LR."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)


def test_nan_ends_a_sweep_that_never_trips_the_ratio(sgd_exp):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), Exp())
    sweep = range_test(model, sgd_exp.train, sgd_exp.params, loss_fn=sgd_exp.task.loss_fn,
                       device=sgd_exp.device, start_lr=1e-4, end_lr=1e4, iters=60,
                       diverge_factor=1e300)
    assert sweep.diverged and "nan" in sweep.reason
    assert math.isnan(sweep.losses[-1]) and all(map(math.isfinite, sweep.losses[:-1]))
    assert len(sweep.losses) < 60
    assert min(sweep.smoothed[:-1]) < sweep.smoothed[0]  # it did train before blowing up


def test_range_test_restores_weights_buffers_modes_optimizer_and_rng(sgd_exp):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(),
                          nn.Dropout(0.2), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb, yb = sgd_exp.train.x[:64], sgd_exp.train.y[:64]
    nn.functional.cross_entropy(model(xb), yb).backward()
    optimizer.step()  # the optimizer now has moment estimates to lose
    model.eval()
    weights, opt_state = state_copy(model), json.dumps(str(optimizer.state_dict()))
    moments = {k: v.clone() for k, v in optimizer.state[model[1].weight].items()}
    rng = torch.get_rng_state()

    sweep = range_test(model, sgd_exp.train, sgd_exp.params, loss_fn=sgd_exp.task.loss_fn,
                       device=sgd_exp.device, iters=40, optimizer=optimizer)

    assert len(sweep.losses) > 10
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in weights.items())  # incl. BatchNorm running stats
    assert not model.training and not model[4].training
    assert torch.equal(torch.get_rng_state(), rng)
    assert json.dumps(str(optimizer.state_dict())) == opt_state
    assert all(torch.equal(optimizer.state[model[1].weight][k], v) for k, v in moments.items())


def test_range_test_writes_no_file(sgd_exp, monkeypatch, tmp_path):
    """Restoration is in memory: saving or making a temporary file would fail here."""
    def refuse(*args, **kwargs):
        raise AssertionError("the range test must not write files")

    monkeypatch.setattr(torch, "save", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.chdir(tmp_path)
    model = sgd_exp.build().model
    range_test(model, sgd_exp.train, sgd_exp.params, loss_fn=sgd_exp.task.loss_fn,
               device=sgd_exp.device, iters=20)
    assert list(tmp_path.iterdir()) == []


def test_smoothing_is_bias_corrected():
    smooth = SmoothedLoss(0.9)
    assert smooth.update(2.0) == pytest.approx(2.0)  # not 0.2: the zero start is corrected away
    assert smooth.update(2.0) == pytest.approx(2.0)
    assert math.isnan(smooth.update(math.nan))


# --- the suggestion ---------------------------------------------------------------

def test_parabola_vertex_finds_the_minimum_between_decades():
    assert parabola_vertex([-3.0, -2.0, -1.0], [1.0, 0.0, 1.0]) == pytest.approx(-2.0)
    xs = [-3.0, -2.0, -1.0]
    assert parabola_vertex(xs, [(x + 2.3) ** 2 for x in xs]) == pytest.approx(-2.3)
    assert parabola_vertex(xs, [0.0, 1.0, 0.0]) is None  # a maximum, not a minimum


def test_probe_estimate_ignores_exploded_and_flat():
    from tuner.lr_range.decade_probe import ProbeRow

    rows = [ProbeRow(1.0, "exploded", None, 2.3, math.nan), ProbeRow(1e-1, "drops", 0.9, 2.3, 0.23),
            ProbeRow(1e-2, "drops", 0.5, 2.3, 1.15), ProbeRow(1e-3, "flat", 0.01, 2.3, 2.28)]
    estimate = probe_estimate(rows)
    assert -1.5 <= estimate <= -0.5  # near the best probe LR, 1e-1, not beyond half-way
    assert probe_estimate([rows[0], rows[3]]) is None


def test_suggestion_repeats_for_a_fixed_seed(sgd_exp):
    kw = dict(probe_lrs=(1e-1, 1e-2, 1e-3), probe_iters=30, iters=40, repeats=2)
    first = lr_range(sgd_exp, **kw).to_dict()
    second = lr_range(sgd_exp, **kw).to_dict()
    for d in (first, second):
        d.pop("seconds")
    assert first == second
    low, high = first["range"]
    assert low < first["suggested_lr"] < high
    assert 1e-3 < first["suggested_lr"] < 1.0
    assert first["spread_decades"] == pytest.approx(
        max(map(math.log10, first["repeat_suggestions"])) - min(map(math.log10, first["repeat_suggestions"])))


# --- the command --------------------------------------------------------------------

def test_command_json_and_saved_result(tune, tmp_path):
    run = tune("lr-range", *FAST, "--hp", "optimizer=sgd", "--hp", "momentum=0.9", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert {"suggested_lr", "range", "spread_decades", "probe", "diverged", "warnings"} <= set(result)
    assert result["optimizer"] == "sgd" and result["settings"]["momentum"] == 0.9
    assert all(set(p) == {"lr", "outcome", "drop"} for p in result["probe"])
    assert {1e-1, 1e-3} <= {p["lr"] for p in result["probe"]}  # and half decades around the best
    assert result["source"] == "probe" and result["settings"]["probe_iters"] == 30
    assert {p["outcome"] for p in result["probe"]} <= {"exploded", "flat", "drops"}
    assert isinstance(result["diverged"], bool) and isinstance(result["warnings"], list)
    low, high = result["range"]
    assert low < result["suggested_lr"] < high

    saved = json.loads((tmp_path / ".tune" / "lr_range.json").read_text())
    assert saved == {k: v for k, v in result.items() if k != "threads"} and result["threads"] == 1
    assert (tmp_path / ".tune" / "lr_range.png").read_bytes()[:4] == b"\x89PNG"
    loaded = load_lr_range(tmp_path / ".tune")
    assert loaded.suggested_lr == result["suggested_lr"] and list(loaded.range) == result["range"]
    assert load_lr_range(tmp_path / "nowhere") is None


def test_command_human_output_and_never_diverged_warning(tune):
    run = tune("lr-range", *FAST, "--end-lr", "1e-4")
    assert run.code == 0, run.stderr
    assert "decade probe" in run.stdout and "suggested lr" in run.stdout
    assert "never diverged" in run.stdout


def test_no_lr_makes_the_loss_fall_exit_1_with_warnings(tune):
    run = tune("lr-range", "--probe", "1e-9", "--probe-iters", "10", "--start-lr", "1e-10",
               "--end-lr", "1e-8", "--iters", "20", "--repeats", "1", "--hp", "width=32", "--json")
    assert run.code == 1, run.stderr
    result = run.json()
    assert [p["outcome"] for p in result["probe"]] == ["flat"]
    assert result["diverged"] is False
    assert any("never fell" in w for w in result["warnings"])
    assert any("never diverged" in w for w in result["warnings"])
    assert result["suggested_lr"] == 1e-3  # the configured lr, kept


@pytest.mark.parametrize("flags, message", [
    (["--probe", "abc"], "--probe abc"),
    (["--probe", "-1"], "--probe -1"),
    (["--iters", "3"], "--iters 3"),
    (["--repeats", "0"], "--repeats 0"),
    (["--probe-iters", "0"], "--probe-iters 0"),
    (["--start-lr", "1", "--end-lr", "0.1"], "--start-lr"),
])
def test_bad_flags_are_one_error_line_and_write_nothing(tune, tmp_path, flags, message):
    run = tune("lr-range", *flags)
    assert run.code == 2
    assert run.stderr.startswith("error: ") and message in run.stderr
    assert run.stderr.count("\n") == 1
    assert not (tmp_path / ".tune").exists()


def test_terminal_plot_marks_suggestion_and_range():
    from cli.textplot import log_x_plot

    xs = [10 ** (-6 + 6 * i / 49) for i in range(50)]
    ys = [2.0 - math.exp(-(math.log10(x) + 2) ** 2) for x in xs]
    text = log_x_plot(xs, ys, markers=[1e-2], span=(1e-3, 3e-2)).plain
    assert "│" in text and "═" in text and "•" in text and "1e-2" in text
    assert len(text.splitlines()) == 12
