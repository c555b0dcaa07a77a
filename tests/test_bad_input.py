"""Bad input ends in one `error:` line on stderr, exit code 2, no traceback."""

from __future__ import annotations


import pytest

GOOD_DATA = '''
import torch
from torch import nn

def load_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = torch.randint(0, 3, (64,), generator=g)
    return (x[:48], y[:48]), (x[48:], y[48:])
'''
GOOD_MODEL = '''
def build_model(hp):
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
'''

CASES = {
    "missing file": (None, ["--task", "nowhere/task.py"], "no such file"),
    "syntax error": ("def build_model(hp:\n", [], "failed to import: SyntaxError"),
    "import error": ("import not_a_real_module_xyz\n", [], "not_a_real_module_xyz"),
    "missing function": (GOOD_DATA, [], "missing function build_model"),
    "build_model raises": (GOOD_DATA + "\ndef build_model(hp):\n    raise ValueError('no such layer')\n",
                           [], "build_model(hp) raised ValueError: no such layer"),
    "load_data raises": ("def build_model(hp): pass\ndef load_data():\n    return 1/0\n",
                         [], "load_data() raised ZeroDivisionError"),
    "shape mismatch": (GOOD_DATA + "\ndef build_model(hp):\n    return nn.Linear(5, 3)\n",
                       [], "does not accept the data"),
    "output width": (GOOD_DATA + "\ndef build_model(hp):\n    return nn.Linear(4, 7)\n",
                     [], "outputs 7 values per sample but the data has 3 classes"),
    "labels out of range": (GOOD_DATA + GOOD_MODEL + "\nnum_classes = 2\n", [], "outside [0, 2)"),
    "negative labels": (GOOD_DATA.replace("torch.randint(0, 3", "torch.randint(-1, 2") + GOOD_MODEL,
                        [], "outside [0,"),
    "not a module": (GOOD_DATA + "\ndef build_model(hp):\n    return 3\n", [], "not a torch.nn.Module"),
    "malformed hp": (GOOD_DATA + GOOD_MODEL, ["--hp", "lr"], "not of the form key=value"),
    "unknown hp": (GOOD_DATA + GOOD_MODEL, ["--hp", "widht=3"], "unknown hyperparameter"),
    "bad hp value": (GOOD_DATA + GOOD_MODEL, ["--hp", "lr=fast"], "lr must be a number"),
    "bad optimizer": (GOOD_DATA + GOOD_MODEL, ["--hp", "optimizer=lion"], "sgd, adam, adamw"),
    "task plus data": (GOOD_DATA + GOOD_MODEL, ["--data", "digits"], "cannot be combined"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_task_file_mistakes(name, tune, write_task):
    source, extra, expected = CASES[name]
    task = ["--task", write_task("import torch\nfrom torch import nn\n" + source)] if source else []
    run = tune("train", *task, *extra, "--hp", "epochs=1")
    assert run.code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert expected in lines[0]
    assert "Traceback" not in run.stderr and run.stdout == ""


@pytest.mark.parametrize("args,expected", [
    (["--model", "resnet"], "unknown model"),
    (["--data", "missing.npz"], "no such file"),
    (["--model", "cnn", "--data", "flat.csv"], "needs images"),
    (["--device", "tpu"], "unknown device"),
    (["--hp", "batch_size=0"], "batch_size must be >= 1"),
    (["--seed", "abc"], "--seed"),
    (["--no-such-flag"], "No such option"),
])
def test_flag_mistakes(args, expected, tune, tmp_path):
    (tmp_path / "flat.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,1,0\n2,2,1\n")
    run = tune("train", *args)
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], run.stderr


def test_unknown_hp_lists_the_known_ones(tune):
    run = tune("train", "--hp", "widht=3")
    assert "known ones: lr, optimizer" in run.stderr and "width" in run.stderr
