"""tune check-init: per-layer statistics at initialisation and what they reveal."""

from __future__ import annotations

import dataclasses
import json
import math
import textwrap
from pathlib import Path

import pytest

from tuner.checks import check_init
from tuner.experiment import prepare
from tuner.recipe import Recipe

TINY = textwrap.dedent('''
    import torch
    from torch import nn

    def build_model(hp):
        {body}

    def load_data():
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 3, (200,), generator=g)
        x = torch.randn(200, 8, generator=g)
        x[torch.arange(200), y] += 2
        return (x[:160], y[:160]), (x[160:], y[160:])
''')


def tiny_task(write_task, body: str) -> str:
    return write_task(TINY.replace("{body}", textwrap.dedent(body).strip().replace("\n", "\n    ")))


@pytest.fixture(scope="module")
def demo():
    return prepare(Recipe(), "cpu")


@pytest.mark.parametrize("init,scale,code", [
    ("normal", 0.01, "activations-vanish"),
    ("normal", 0.05, "activations-explode"),
    ("kaiming", 0.01, None),
])
def test_the_classic_experiment(demo, init, scale, code):
    # What `tune check-init --hp init=... --hp init_scale=... --hp depth=6 --hp width=4096`
    # gives: the built-in MLP's own hyperparameters, without building it a second time.
    hp = {"depth": 6, "width": 4096, "init": init, "init_scale": scale}
    exp = dataclasses.replace(demo, model_hp={**demo.model_hp, **hp})
    result = check_init(exp)
    m = result.metrics
    assert len(m["weight_layer_std"]) == 7
    scale_codes = {f.code for f in result.findings} & {"activations-vanish", "activations-explode"}
    if code is None:
        assert result.verdict == "pass", result.findings
        assert 0.8 < m["std_factor"] < 1.25 and 0.5 < m["std_drift"] < 2
    else:
        assert scale_codes == {code}
        finding = next(f for f in result.findings if f.code == code)
        assert "Kaiming" in finding.advice and "sqrt(2/fan_in)" in finding.advice
        # std falls by ~sqrt(4096/2)*0.01 = 0.45 per layer, or grows by ~2.26.
        expected = math.sqrt(4096 / 2) * scale
        assert m["std_factor"] == pytest.approx(expected, rel=0.25)
        assert f"×{m['std_factor']:.2f} per layer" in finding.message


def test_the_demo_passes_and_writes_plot_and_json(tune):
    run = tune("check-init", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["verdict"] == "pass" and result["findings"] == []
    assert set(result) >= {"verdict", "findings", "metrics", "files"}
    layers = result["metrics"]["layers"]
    # Flatten has no parameters; Linear, ReLU, Linear, ReLU, Linear are watched.
    assert [r["kind"] for r in layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    relu = layers[1]
    assert 0.35 < relu["zeros"] < 0.65 and relu["dead"] < 0.1  # ReLU zeroes about half
    assert all(r["grad_norm"] > 0 for r in layers if r["kind"] == "Linear")
    png, js = (Path(f) for f in result["files"])
    assert png.name == "check_init.png" and png.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(js.read_text())
    assert js.name == "check_init.json" and saved["verdict"] == "pass"
    assert saved["files"] == result["files"]  # the JSON lists the PNG and itself


def test_human_output_puts_the_verdict_first(tune):
    run = tune("check-init", "--hp", "normalize=false")
    assert run.code == 0  # a warning does not fail
    text = run.stdout
    assert text.index("WARN") < text.index("inputs-not-normalised") < text.index("layers at initialisation")
    assert "normalise each input" in " ".join(text.split())


def test_failures_exit_1(tune, write_task):
    task = tiny_task(write_task, '''
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        return model.requires_grad_(False)
    ''')
    run = tune("check-init", "--task", task, "--json")
    assert run.code == 1
    result = run.json()
    assert result["verdict"] == "fail"
    assert [f["code"] for f in result["findings"]] == ["no-trainable-parameters"]


def test_unused_module_gets_no_gradient(tune, write_task):
    task = tiny_task(write_task, '''
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Linear(8, 3)
                self.aux = nn.Linear(8, 3)   # built, never called
            def forward(self, x):
                return self.body(x)
        return Net()
    ''')
    result = tune("check-init", "--task", task, "--json").json()
    finding = next(f for f in result["findings"] if f["code"] == "no-gradient")
    assert finding["severity"] == "fail" and "aux.weight" in finding["message"]
    assert "body" not in finding["message"]


def test_a_submodule_named_model_does_not_hide_the_roots_gradient(tune, write_task):
    # The root row is displayed as "model", like the user's own `self.model`:
    # gradients must come from the module itself, not a lookup by that name.
    task = tiny_task(write_task, '''
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
                self.temperature = nn.Parameter(torch.ones(3))   # a direct parameter on the root
            def forward(self, x):
                return self.model(x) * self.temperature
        return Net()
    ''')
    result = tune("check-init", "--task", task, "--json").json()
    assert "no-gradient" not in [f["code"] for f in result["findings"]]
    layers = result["metrics"]["layers"]
    root = next(r for r in layers if r["kind"] == "Net")
    assert root["name"] == "model" and root["role"] == "param"
    temperature = next(p for p in result["metrics"]["params"] if p["name"] == "temperature")
    assert temperature["grad_norm"] > 0
    assert root["grad_norm"] == pytest.approx(temperature["grad_norm"])
    assert [r["name"] for r in layers if r["kind"] == "Linear"] == ["model.0", "model.2"]
    assert all(r["grad_norm"] > 0 for r in layers if r["kind"] == "Linear")


def test_dead_relu_names_the_layer(tune, write_task):
    task = tiny_task(write_task, '''
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
        nn.init.constant_(model[0].bias, -50.0)
        return model
    ''')
    result = tune("check-init", "--task", task, "--json").json()
    dead = next(f for f in result["findings"] if f["code"] == "dead-relu")
    assert dead["severity"] == "fail" and "100% of the units of 1 (ReLU" in dead["message"]
    assert next(r for r in result["metrics"]["layers"] if r["kind"] == "ReLU")["dead"] == 1.0


def test_some_constant_features_are_only_info(tune, write_task):
    task = write_task(TINY.replace("{body}", "return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))")
                      .replace("return (x[:160]", "x[:, 7] = 0.0\n    return (x[:160]"))
    result = tune("check-init", "--task", task, "--json").json()
    assert result["verdict"] == "pass"
    (finding,) = result["findings"]
    assert finding["code"] == "constant-features" and finding["severity"] == "info"
    assert result["metrics"]["inputs"]["constant"] == [7]


def test_same_seed_same_numbers():
    a, b, c = (check_init(prepare(Recipe.from_flags(seed=s), "cpu")).metrics for s in (3, 3, 4))
    assert a["layers"] == b["layers"] and a["inputs"] == b["inputs"]
    assert a["layers"] != c["layers"]


def test_bad_input_is_exit_2_before_any_file(tune):
    run = tune("check-init", "--hp", "depth=zero")
    assert run.code == 2 and run.stderr.startswith("error: ") and not Path(".tune").exists()
