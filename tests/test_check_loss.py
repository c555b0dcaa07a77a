"""tune check-loss: the untrained model's loss against log C and the label entropy."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

TASK = textwrap.dedent('''
    import torch
    from torch import nn
    import torch.nn.functional as F

    def build_model(hp):
        {model}

    def load_data():
        g = torch.Generator().manual_seed(0)
        y = {labels}
        x = torch.randn(len(y), 8, generator=g)
        x[torch.arange(len(y)), y] += 2
        return (x[:240], y[:240]), (x[240:], y[240:])
''')
BALANCED = "torch.randint(0, 4, (300,), generator=g)"
MLP = "return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))"


def task(write_task, *, model: str = MLP, labels: str = BALANCED, extra: str = "") -> str:
    return write_task(TASK.replace("{model}", model).replace("{labels}", labels) + textwrap.dedent(extra))


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["findings"]]


def test_the_demo_passes_with_the_reference_numbers(tune):
    run = tune("check-loss", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    m = result["metrics"]
    assert result["verdict"] == "pass" and result["findings"] == []
    assert m["log_num_classes"] == math.log(10) and abs(m["label_entropy"] - math.log(10)) < 0.01
    assert m["batches"] == 5 and len(m["batch_losses"]) == 5
    assert m["loss_min"] <= m["loss"] <= m["loss_max"] < 2.5 * math.log(10)
    # Weight decay adds 0.5 * wd * sum(w^2): the regularised loss is higher.
    assert m["weight_decay"] == 1e-3 and m["loss_with_weight_decay"] > m["loss"]
    assert Path(result["files"][0]).name == "check_loss.json"
    saved = json.loads(Path(result["files"][0]).read_text())
    assert saved["metrics"]["loss"] == m["loss"]
    assert result["files"] == saved["files"] == [result["files"][0]]  # no plot: the JSON alone


def test_unnormalised_inputs_make_the_loss_far_too_high(tune):
    run = tune("check-loss", "--hp", "normalize=false", "--json")
    assert run.code == 1
    finding = run.json()["findings"][0]
    assert finding["code"] == "loss-too-high" and finding["severity"] == "fail"
    assert "-log(1/10)" in finding["message"] and "input scale" in finding["advice"]


def test_human_output(tune):
    run = tune("check-loss", "--batches", "2")
    assert run.code == 0
    assert run.stdout.index("PASS") < run.stdout.index("-log(1/C)") < run.stdout.index("label entropy H")


def test_imbalance_is_judged_against_the_entropy(tune, write_task):
    # 90% class 0: H is far below log 4; a model that starts at log C is fine.
    labels = "torch.where(torch.rand(300, generator=g) < 0.9, 0, torch.randint(1, 4, (300,), generator=g))"
    result = tune("check-loss", "--task", task(write_task, labels=labels), "--json").json()
    assert result["verdict"] == "pass"
    (finding,) = result["findings"]
    assert finding["code"] == "class-imbalance" and finding["severity"] == "info"
    m = result["metrics"]
    assert m["label_entropy"] < 0.5 * m["log_num_classes"] and m["majority_share"] > 0.85


def test_a_wrong_loss_is_far_below_the_entropy(tune, write_task):
    # nll_loss on raw logits (no log_softmax): about -mean(logit), near 0 or negative.
    extra = '''
        def loss_fn(outputs, targets):
            return F.nll_loss(outputs, targets)
    '''
    result = tune("check-loss", "--task", task(write_task, extra=extra), "--json").json()
    assert codes(result) == ["loss-too-low"] and result["verdict"] == "fail"
    assert "label leak" in result["findings"][0]["advice"]


def test_nan_is_traced_to_the_outputs(tune, write_task):
    model = '''class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
        def forward(self, x):
            return self.fc(x) / (x[:, :1] * 0)   # 0/0 and x/0: NaN and inf
    return Net()'''
    result = tune("check-loss", "--task", task(write_task, model=model), "--json").json()
    assert result["metrics"]["nan_origin"] == "outputs"
    assert codes(result) == ["loss-nan"] and "outputs are NaN/inf" in result["findings"][0]["message"]


def test_nan_is_traced_to_the_loss(tune, write_task):
    extra = '''
        def loss_fn(outputs, targets):
            return -torch.log(outputs).mean()   # log of negative logits
    '''
    result = tune("check-loss", "--task", task(write_task, extra=extra), "--json").json()
    assert result["metrics"]["nan_origin"] == "loss"
    assert "loss_fn returns NaN" in result["findings"][0]["message"]


def test_softmax_outputs_with_a_custom_loss_only_warn(tune, write_task):
    # With its own loss the user may expect probabilities (here: NLL of log p, correct).
    model = "return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4), nn.Softmax(dim=1))"
    extra = '''
        def loss_fn(outputs, targets):
            return F.nll_loss(torch.log(outputs), targets)
    '''
    result = tune("check-loss", "--task", task(write_task, model=model, extra=extra), "--json").json()
    assert codes(result) == ["softmax-before-loss"] and result["verdict"] == "warn"


def test_weight_decay_without_weights_to_decay(tune, write_task):
    model = '''model = nn.Sequential(nn.Linear(8, 4))
    nn.init.zeros_(model[0].weight); nn.init.zeros_(model[0].bias)
    return model'''
    result = tune("check-loss", "--task", task(write_task, model=model), "--hp", "weight_decay=0.1",
                  "--json").json()
    assert codes(result) == ["weight-decay-no-effect"] and result["verdict"] == "warn"
    assert result["metrics"]["weight_decay"] == 0.1
    assert result["metrics"]["loss_with_weight_decay"] == result["metrics"]["loss"]


def test_missing_classes_warn(tune, write_task):
    labels = "torch.randint(0, 3, (300,), generator=g)"
    result = tune("check-loss", "--task", task(write_task, labels=labels, extra="num_classes = 4\n"),
                  "--json").json()
    assert codes(result) == ["missing-classes"] and result["metrics"]["class_counts"][3] == 0


def test_help_states_the_library_default(tune):
    from tuner.checks.loss import LOSS_BATCHES

    run = tune("check-loss", "--help")
    assert run.code == 0
    assert f"[default: {LOSS_BATCHES}]" in " ".join(run.stdout.replace("│", " ").split())


def test_bad_batches_is_a_usage_error(tune):
    run = tune("check-loss", "--batches", "0")
    assert run.code == 2 and run.stderr.startswith("error:") and "--batches" in run.stderr
