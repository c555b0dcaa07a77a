"""Inputs a newcomer gets wrong: each ends in one `error:` line with the fix and
exit code 2 before anything is written, or, where tune can do the right thing
(a last batch of one sample), it does it. Also: the mode of the files written,
the whole-number hints of ``--space``, and the importance plot's title."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = '''
import numpy as np
import torch
from torch import nn

def load_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g)
    y = torch.arange(60) % 3
    return (x[:48], y[:48]), (x[48:], y[48:])
'''
FROZEN = DATA + '''
def build_model(hp):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    for p in model.parameters():
        p.requires_grad_(False)
    return model
'''
NO_PARAMETERS = DATA.replace("randn(60, 4", "randn(60, 3") + '''
def build_model(hp):
    return nn.Identity()   # three inputs, three "logits": it fits, and has nothing to train
'''
RANGED = DATA + '''
def build_model(hp):
    hidden = hp.int("hidden", 4, 64, default=8{strict})
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3))
'''
FLOAT64 = DATA.replace("x = torch.randn(60, 4, generator=g)",
                       "x = np.random.default_rng(0).normal(size=(60, 4))   # float64, as scikit-learn gives it") + '''
def build_model(hp):
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)){double}
'''


def one_error(run, expected: str) -> str:
    """The run ended as bad input: exit 2, one `error:` line holding ``expected``, no traceback."""
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert expected in lines[0], lines[0]
    assert run.stdout == ""
    return lines[0]


@pytest.fixture
def data_files(tmp_path):
    """Broken built-in data: a CSV with only a header, an .npz with one sample, a CSV
    with missing labels, an image folder with a corrupt and one with a truncated image."""
    from PIL import Image

    (tmp_path / "header_only.csv").write_text("a,b,label\n")
    np.savez(tmp_path / "one.npz", x=np.ones((1, 4), np.float32), y=np.array([0]))
    rows = [f"{i},{i % 5},{'' if i == 7 else 'NA' if i == 11 else i % 2}" for i in range(30)]
    (tmp_path / "missing_labels.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    rng = np.random.default_rng(0)
    for folder in ("corrupt", "truncated"):
        for c in ("cat", "dog"):
            (tmp_path / folder / c).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                    tmp_path / folder / c / f"{i}.png")
    (tmp_path / "corrupt" / "dog" / "broken.png").write_bytes(b"these bytes are no PNG")
    png = (tmp_path / "truncated" / "cat" / "2.png").read_bytes()
    (tmp_path / "truncated" / "cat" / "2.png").write_bytes(png[:len(png) // 2])
    return tmp_path


@pytest.mark.parametrize("args,expected", [
    (["--data", "header_only.csv"], "header_only.csv: the file has a header but no rows"),
    (["--data", "one.npz"], "1 sample(s) are too few to train and validate on"),
    (["--data", "missing_labels.csv"], "label column 'label' is missing on 2 row(s), the first on line 9"),
    (["--data", "corrupt"], "corrupt/dog/broken.png (cannot identify image file)"),
    (["--data", "truncated"], "truncated/cat/2.png (image file is truncated)"),
    (["--seed", "-1"], "--seed"),
    (["--hp", "width=0"], "--hp width=0: the built-in models need width at least 1"),
    (["--hp", "depth=-1"], "--hp depth=-1: the built-in models need depth at least 1"),
    (["--hp", "dropout=nan"], "--hp dropout=nan: dropout must be a finite number"),
    (["--hp", "init_scale=3"], "--hp init_scale=3: outside the range the model declares, [0.0001, 1]"),
    (["--hp", "lr=inf"], "--hp lr=inf: lr must be a finite number"),
    (["--hp", "weight_decay=-inf"], "weight_decay must be a finite number"),
    (["--hp", "grad_clip=nan"], "grad_clip must be a finite number"),
])
def test_bad_built_in_input_is_one_error_line_and_writes_nothing(args, expected, data_files, tune):
    run = tune("train", *args, "--hp", "epochs=1", "--out", "results")
    one_error(run, expected)
    assert not (data_files / "results").exists()


@pytest.mark.parametrize("command", [["train"], ["lr-range"], ["search", "--trials", "1", "--epochs", "1"]])
@pytest.mark.parametrize("source,expected", [
    (FROZEN, "the model has every parameter frozen (requires_grad=False): nothing can learn"),
    (NO_PARAMETERS, "the model has no parameters: nothing can learn"),
])
def test_a_model_with_nothing_to_train_is_refused_before_anything_is_written(
        command, source, expected, write_task, tmp_path, tune):
    run = tune(*command, "--task", write_task(source), "--out", "results")
    line = one_error(run, expected)
    assert "requires_grad=True" in line  # the fix
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("source", [FROZEN, NO_PARAMETERS])
def test_overfit_small_reports_a_model_with_nothing_to_train_as_its_finding(source, write_task, tune):
    """Not "ValueError: optimizer got an empty parameter list": the finding check-init gives."""
    run = tune("overfit-small", "--task", write_task(source), "--json")
    assert run.code == 1, run.stderr
    result = run.json()
    assert result["verdict"] == "fail"
    assert [f["code"] for f in result["findings"]] == ["no-trainable-parameters"]
    assert result["metrics"]["attempts"] == [] and not result["metrics"]["passed"]


def test_a_declared_range_is_a_bound_unless_the_task_says_strict_false(write_task, tune):
    strict = write_task(RANGED.format(strict=""), "strict.py")
    loose = write_task(RANGED.format(strict=", strict=False"), "loose.py")
    one_error(tune("train", "--task", strict, "--hp", "hidden=100", "--hp", "epochs=1"),
              "--hp hidden=100: outside the range the model declares, [4, 64]")
    one_error(tune("train", "--task", strict, "--hp", "hidden=2", "--hp", "epochs=1"), "[4, 64]")
    run = tune("train", "--task", loose, "--hp", "hidden=100", "--hp", "epochs=1", "--json")
    assert run.code == 0, run.stderr
    assert run.json()["hyperparameters"]["hidden"] == 100
    # A search still stays inside the declared range, strict or not.
    one_error(tune("search", "--task", loose, "--space", "hidden=2:100", "--trials", "1"),
              "outside the range the model declares")


def test_the_built_in_models_take_any_buildable_width_and_depth(tune):
    """Their ranges are where a search looks: the README's vanishing-activations
    experiment (depth 6, width 4096) is outside them and must still run."""
    run = tune("check-init", "--hp", "depth=6", "--hp", "width=1100", "--json")
    assert run.code == (1 if run.json()["verdict"] == "fail" else 0), run.stderr
    assert len(run.json()["metrics"]["weight_layer_std"]) == 7


def test_an_out_under_a_regular_file_is_refused_at_the_start(tmp_path, tune):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    for command in (["train"], ["overfit-small"], ["check-init"], ["lr-range"]):
        one_error(tune(*command, "--out", "notes.txt/results"), "--out notes.txt/results: notes.txt is a file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes to a read-only folder anyway")
def test_a_read_only_out_is_refused_at_the_start(tmp_path, tune):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        one_error(tune("train", "--out", "locked"), "--out locked: the folder is not writable")
        one_error(tune("train", "--out", "locked/sub"), "--out locked/sub: locked is not writable")
    finally:
        locked.chmod(0o755)


def test_files_written_get_the_usual_mode(tune):
    old = os.umask(0o022)
    try:
        run = tune("train", "--hp", "epochs=1", "--json")
        check = tune("check-init", "--json")
    finally:
        os.umask(old)
    assert run.code == 0 and check.code == 0, run.stderr
    files = run.json()["files"] + check.json()["files"]
    assert {Path(f).suffix for f in files} >= {".pt", ".json", ".csv", ".png"}
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o644, f


# --- a last batch of one sample --------------------------------------------------

BATCHNORM = '''
import torch
from torch import nn
from torch.utils.data import TensorDataset

def load_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(85, 4, generator=g)
    y = torch.arange(85) % 2
    train, val = (x[:65], y[:65]), (x[65:], y[65:])   # 65 = one batch of 64 and one sample
    return {wrap}

def build_model(hp):
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
'''


@pytest.mark.parametrize("wrap", ["train, val", "TensorDataset(*train), TensorDataset(*val)"])
def test_batchnorm_trains_when_the_last_batch_would_hold_one_sample(wrap, write_task, tune):
    task = write_task(BATCHNORM.format(wrap=wrap))
    run = tune("train", "--task", task, "--hp", "epochs=2", "--json")
    assert run.code == 0, run.stderr
    assert run.json()["epochs_run"] == 2
    run = tune("overfit-small", "--task", task, "--samples", "65", "--max-steps", "20", "--json")
    result = run.json()
    assert run.code == (1 if result["verdict"] == "fail" else 0), run.stderr  # a verdict, not a crash
    m = result["metrics"]
    assert m["samples"] == 65 and m["batch_size"] == 64  # a last batch of one: merged, and trained
    assert m["steps"] > 0 and m["attempts"] and math.isfinite(m["final_loss"])


def test_a_lone_last_sample_joins_the_batch_before_it_for_tensors_and_datasets():
    from torch.utils.data import TensorDataset

    from tuner.data import DatasetData, TensorData, batch_count

    x, y = torch.arange(65.0).unsqueeze(1), torch.arange(65)
    for data in (TensorData(x, y), DatasetData(TensorDataset(x, y))):
        for shuffle in (True, False):
            batches = list(data.batches(64, shuffle=shuffle, generator=torch.Generator().manual_seed(0)))
            assert [len(b[1]) for b in batches] == [65]
            assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(65))  # every sample
        assert [len(b[1]) for b in data.batches(32, shuffle=True)] == [32, 33]
        assert [len(b[1]) for b in data.batches(30, shuffle=False)] == [30, 30, 5]  # nothing else changes
        assert [len(b[1]) for b in data.batches(1, shuffle=False)][-2:] == [1, 1]  # asked for: kept
    assert [batch_count(n, 64) for n in (1, 64, 65, 66, 129)] == [1, 1, 1, 2, 2]


# --- float64 ---------------------------------------------------------------------------

def test_float64_inputs_or_model_get_the_dtype_fix_not_the_shape_fix(write_task, tune):
    for double in ("", ".double()"):
        source = FLOAT64.format(double=double)
        if double:  # float32 inputs into a float64 model
            source = source.replace("normal(size=(60, 4))", "normal(size=(60, 4)).astype(np.float32)")
        line = one_error(tune("train", "--task", write_task(source)), "the model does not accept the data")
        assert "float64" in line and "float32" in line
        assert ".astype(np.float32)" in line and ".float()" in line
        assert "first layer" not in line
    both = FLOAT64.format(double=".double()")  # float64 throughout is the user's choice: it trains
    run = tune("train", "--task", write_task(both, "both.py"), "--hp", "epochs=1", "--json")
    assert run.code == 0, run.stderr


# --- --space hints for whole numbers --------------------------------------------------------

def test_edge_advice_for_a_whole_number_is_a_whole_number_range():
    from tuner.hp import ParamSpec
    from tuner.search import SearchSpace
    from tuner.search.narrow import edge_findings

    space = SearchSpace({"width": ParamSpec("width", "int", 64, 512, log=True),
                         "depth": ParamSpec("depth", "int", 1, 2),
                         "units": ParamSpec("units", "int", 10, 11)})
    low = {f.message.split()[2]: f.advice for f in edge_findings(space, {"width": 64, "units": 10, "depth": 1})}
    high = {f.message.split()[2]: f.advice for f in edge_findings(space, {"width": 512, "units": 11, "depth": 2})}
    assert low["width"].endswith("--space width=6:512:log")     # not 6.4
    assert high["depth"].endswith("--space depth=1:3")          # not round(2.5) = 2, no change
    assert low["units"].endswith("--space units=9:11")          # at least one step out
    assert high["units"].endswith("--space units=10:12")


@pytest.mark.parametrize("flag,expected", [
    ("width=3.2:256:log", "LOW and HIGH must be whole numbers; for example --space width=32:1024:log"),
    ("width=0:256:log", "a log range needs LOW > 0; for example --space width=32:256:log"),
    ("depth=1:3:4", "for example --space depth=1:4,"),
])
def test_space_hints_for_whole_numbers_are_whole_numbers(flag, expected, tune):
    one_error(tune("search", "--space", flag, "--trials", "1"), expected)


# --- the importance plot ---------------------------------------------------------------------

def test_the_importance_plot_has_one_title(tmp_path, monkeypatch):
    import optuna

    import tuner.search.plots as search_plots

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="toy", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + 0.1 * t.suggest_float("b", 0, 1), n_trials=8)
    titles = {}
    real_save = search_plots.save_figure

    def save(fig, path):  # look at what is drawn, then save it as usual
        titles[Path(path).name] = [t for ax in fig.axes for loc in ("left", "center", "right")
                                   if (t := ax.get_title(loc))]
        return real_save(fig, path)

    monkeypatch.setattr(search_plots, "save_figure", save)
    written = search_plots.plot_search(study, tmp_path / "search_toy")
    assert {p.name for p in written} == {"search_toy_history.png", "search_toy_importance.png"}
    assert titles["search_toy_importance.png"] == ["toy: parameter importances"]
    assert titles["search_toy_history.png"] == ["toy: optimisation history"]
