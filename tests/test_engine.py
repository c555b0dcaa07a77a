"""The engine's contract: schedules, eval mode, datasets, NaN handling."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from tuner.data import DatasetData, TensorData
from tuner.engine import evaluate, fit, lr_factor
from tuner.params import TrainParams


def blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) * 0.3 + nn.functional.one_hot(y, 4).float() * 2
    return x, y


def test_schedules():
    p = TrainParams(epochs=4)
    total, per = 40, 10
    assert lr_factor(p, 39, total, per) == 1.0
    cos = p.replace(schedule="cosine")
    assert lr_factor(cos, 0, total, per) == pytest.approx(1.0)
    assert lr_factor(cos, 20, total, per) == pytest.approx(0.5)
    assert lr_factor(cos, 40, total, per) == pytest.approx(0.0, abs=1e-12)
    step = p.replace(schedule="step")
    assert [lr_factor(step, s, total, per) for s in (0, 19, 20, 30)] == pytest.approx([1, 1, 0.1, 0.01])
    warm = p.replace(warmup_epochs=1)
    ramp = [lr_factor(warm, s, total, per) for s in range(12)]
    assert ramp[0] < 0.1 and ramp == sorted(ramp) and ramp[10] == 1.0


def test_evaluation_runs_in_eval_mode():
    x, y = blobs()
    data = TensorData(x, y)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
    first = evaluate(model, data, nn.functional.cross_entropy, torch.device("cpu"))
    second = evaluate(model, data, nn.functional.cross_entropy, torch.device("cpu"))
    assert first == second  # dropout would make them differ
    assert model.training  # and the model is put back as it was


def test_dataset_and_tensors_train_alike():
    x, y = blobs()
    params = TrainParams(epochs=5, lr=0.05, batch_size=32)
    results = []
    for train in (TensorData(x, y), DatasetData(TensorDataset(x, y))):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        h = fit(model, train, TensorData(x, y), params, loss_fn=nn.functional.cross_entropy,
                device=torch.device("cpu"), seed=1)
        results.append(h)
    assert all(h.best_val_acc > 0.95 for h in results)
    # Same data, same model: both paths converge (their shuffles differ, so not bit for bit).
    assert all(h.epochs[-1].train_loss < 0.05 for h in results)


def test_nan_inputs_end_the_run_as_diverged():
    x, y = blobs()
    x[5, 0] = float("nan")
    model = nn.Sequential(nn.Linear(4, 3))
    h = fit(model, TensorData(x, y), TensorData(x, y), TrainParams(epochs=3), loss_fn=nn.functional.cross_entropy,
            device=torch.device("cpu"))
    assert h.diverged and len(h.epochs) == 1 and math.isnan(h.epochs[0].train_loss)


def test_on_epoch_can_stop_the_run():
    x, y = blobs()
    model = nn.Sequential(nn.Linear(4, 3))
    h = fit(model, TensorData(x, y), TensorData(x, y), TrainParams(epochs=10), loss_fn=nn.functional.cross_entropy,
            device=torch.device("cpu"), on_epoch=lambda rec: rec.epoch == 2)
    assert h.stopped and len(h.epochs) == 2


def test_accuracy_counted_at_epoch_end_or_per_step_agrees(monkeypatch):
    import tuner.engine as engine

    x, y = blobs()
    runs = []
    for keep in (engine.KEEP_OUTPUTS, 0):  # 0: outputs too large to keep, count every step
        monkeypatch.setattr(engine, "KEEP_OUTPUTS", keep)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        h = fit(model, TensorData(x, y), TensorData(x, y), TrainParams(epochs=3, lr=0.01, batch_size=50),
                loss_fn=nn.functional.cross_entropy, device=torch.device("cpu"), seed=2)
        runs.append([(e.train_loss, e.train_acc) for e in h.epochs])
    assert runs[0] == runs[1]
    assert 0 < runs[0][0][1] < 1  # a real fraction: the last, smaller batch is weighted right
