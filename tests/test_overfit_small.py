"""tune overfit-small: memorise a small stratified subset through the engine."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from tuner.checks import overfit_small
from tuner.checks.overfit import candidate_lrs
from tuner.experiment import prepare
from tuner.params import TrainParams
from tuner.recipe import Recipe

RANDOM_LABELS = textwrap.dedent('''
    import torch
    from torch import nn

    def build_model(hp):
        return nn.Linear(8, 4)   # 36 weights cannot memorise 100 random labels

    def load_data():
        g = torch.Generator().manual_seed(0)
        return ((torch.randn(300, 8, generator=g), torch.randint(0, 4, (300,), generator=g)),
                (torch.randn(50, 8, generator=g), torch.randint(0, 4, (50,), generator=g)))
''')


@pytest.fixture(scope="module")
def demo():
    return prepare(Recipe(), "cpu")


def test_the_demo_memorises_quickly(tune):
    run = tune("overfit-small", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    m = result["metrics"]
    assert result["verdict"] == "pass" and result["findings"] == []
    assert m["passed"] and m["final_acc"] >= 0.99 and m["final_loss"] <= 0.3 * m["initial_loss"]
    assert m["samples"] == 100 and m["lrs_tried"] == [1e-3] and m["steps"] < 100
    png, js = (Path(f) for f in result["files"])
    assert png.name == "overfit_small.png" and png.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(js.read_text())
    assert js.name == "overfit_small.json" and saved["metrics"]["steps"] == m["steps"]
    assert saved["files"] == result["files"]  # the JSON lists the PNG and itself


def test_human_output(tune):
    run = tune("overfit-small", "--samples", "30")
    assert run.code == 0
    out = run.stdout
    assert out.index("PASS") < out.index("memorising 30 samples") < out.index("memorised")


def test_dropout_and_weight_decay_are_off_for_the_run(demo):
    # Weight decay 3 with Adam pins the weights near 0; dropout 0.5 adds noise.
    params = demo.params.replace(weight_decay=3.0)
    exp = dataclasses.replace(demo, params=params, model_hp={**demo.model_hp, "dropout": 0.5})
    result = overfit_small(exp, samples=50)
    assert result.verdict == "pass"
    assert result.metrics["dropout_layers_disabled"] == 2
    # Off, not merely counted: every step's loss and accuracy are those of the same
    # model built without dropout and trained without weight decay.
    plain = dataclasses.replace(demo, params=demo.params.replace(weight_decay=0.0),
                                model_hp={**demo.model_hp, "dropout": 0.0})
    reference = overfit_small(plain, samples=50)
    assert reference.metrics["dropout_layers_disabled"] == 0
    assert result.metrics["attempts"] == reference.metrics["attempts"]


def test_an_unlucky_lr_is_not_a_bug(demo):
    exp = dataclasses.replace(demo, params=demo.params.replace(lr=1e-7))
    seen = []
    result = overfit_small(exp, samples=50, max_steps=60, on_step=lambda *a: seen.append(a))
    assert result.verdict == "pass"
    assert result.metrics["lrs_tried"][0] == 1e-7 and result.metrics["lr"] == 1e-3
    assert [f.code for f in result.findings] == ["overfit-lr"]
    done = [s[0] for s in seen]
    assert done == sorted(done) and all(total == 60 * 4 for _, total, _ in seen)


def test_candidate_lrs():
    assert candidate_lrs(TrainParams()) == [1e-3, 1e-2, 1e-4]
    assert candidate_lrs(TrainParams(lr=3e-4)) == [3e-4, 1e-3, 1e-2, 3e-3]
    assert candidate_lrs(TrainParams(optimizer="sgd", lr=0.05)) == [0.05, 0.1, 0.01, 0.5]
    assert candidate_lrs(TrainParams(optimizer="sgd", lr=0.1)) == [0.1, 0.01, 1.0]


def test_too_little_capacity_cannot_overfit(tune, write_task):
    run = tune("overfit-small", "--task", write_task(RANDOM_LABELS), "--json", "--max-steps", "150")
    assert run.code == 1
    result = run.json()
    (finding,) = result["findings"]
    assert finding["code"] == "cannot-overfit" and finding["severity"] == "fail"
    assert len(result["metrics"]["lrs_tried"]) > 1  # never fails on one LR
    assert 0.4 < result["metrics"]["final_acc"] < 0.99


def test_seeded_runs_repeat(demo):
    a, b = (overfit_small(demo, samples=40).metrics for _ in range(2))
    assert a["attempts"] == b["attempts"]


def test_help_states_the_library_defaults(tune):
    from tuner.checks.overfit import DEFAULT_MAX_STEPS, DEFAULT_SAMPLES

    run = tune("overfit-small", "--help")
    assert run.code == 0
    text = " ".join(run.stdout.replace("│", " ").split())
    assert f"memorise. [default: {DEFAULT_SAMPLES}]" in text
    assert f"tried. [default: {DEFAULT_MAX_STEPS}]" in text


def test_samples_must_be_positive(tune):
    run = tune("overfit-small", "--samples", "0")
    assert run.code == 2 and "--samples" in run.stderr and run.stdout == ""
