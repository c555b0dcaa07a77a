"""Task files: the public contract (build_model, load_data, loss_fn, num_classes, hp)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tuner.hp import HP, ParamSpec
from tuner.errors import TuneError

TENSOR_TASK = textwrap.dedent('''
    import torch
    from torch import nn

    def build_model(hp):
        width = hp.int("width", 8, 128, log=True)
        act = hp.choice("act", ["relu", "tanh"])
        return nn.Sequential(nn.Linear(4, width), nn.ReLU() if act == "relu" else nn.Tanh(),
                             nn.Linear(width, 3))

    def load_data():
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 3, (300,), generator=g)
        x = torch.randn(300, 4, generator=g) * 0.3 + nn.functional.one_hot(y, 4).float() * 2
        return (x[:240], y[:240]), (x[240:], y[240:])
''')


def test_a_task_file_trains(tune, write_task):
    run = tune("train", "--task", write_task(TENSOR_TASK), "--json", "--hp", "epochs=5", "--hp", "lr=0.01")
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["best_val_acc"] > 0.9
    # Unset model hyperparameters take the middle of their range: geometric for log.
    assert result["hyperparameters"]["width"] == 32 and result["hyperparameters"]["act"] == "relu"
    assert result["hyperparameters"]["normalize"] is False  # task data is left as given


def test_dataset_task_with_neighbour_module_loss_and_num_classes(tune, tmp_path):
    (tmp_path / "blobs.py").write_text(textwrap.dedent('''
        import torch
        from torch.utils.data import Dataset

        class Blobs(Dataset):
            def __init__(self, n, seed):
                g = torch.Generator().manual_seed(seed)
                self.y = torch.randint(0, 3, (n,), generator=g)
                self.x = torch.randn(n, 4, generator=g) * 0.3
                self.x[torch.arange(n), self.y] += 2
            def __len__(self):
                return len(self.y)
            def __getitem__(self, i):
                return self.x[i], int(self.y[i])
    '''))
    (tmp_path / "task.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn
        from blobs import Blobs

        num_classes = 4   # one class never occurs: the model still has 4 outputs
        calls = []

        def build_model(hp):
            return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4))

        def load_data():
            return Blobs(200, 0), Blobs(100, 1)

        def loss_fn(outputs, targets):
            return nn.functional.cross_entropy(outputs, targets, label_smoothing=0.1)
    '''))
    run = tune("train", "--task", "task.py", "--json", "--hp", "epochs=4", "--hp", "lr=0.02")
    assert run.code == 0, run.stderr
    assert run.json()["best_val_acc"] > 0.9


def test_task_as_module_name(tune, tmp_path):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "task.py").write_text(TENSOR_TASK)
    run = tune("train", "--task", "mypkg.task", "--json", "--hp", "epochs=1")
    assert run.code == 0, run.stderr


def test_hp_override_default_and_middle():
    hp = HP(fixed={"depth": "3", "act": "GELU"})
    assert hp.int("depth", 1, 8) == 3
    assert hp.choice("act", ["relu", "gelu"]) == "gelu"
    assert hp.float("lr_scale", 1e-4, 1e-2, log=True) == pytest.approx(1e-3)
    assert hp.float("p", 0.0, 0.5) == 0.25
    assert hp.int("w", 16, 64, default=20) == 20
    assert hp.choice("flag", [True, False], default=False) is False
    assert set(hp.declared) == {"depth", "act", "lr_scale", "p", "w", "flag"}
    assert hp.declared["lr_scale"] == ParamSpec("lr_scale", "float", 1e-4, 1e-2, True)
    with pytest.raises(TuneError, match="must be one of relu, gelu"):
        HP(fixed={"act": "swish"}).choice("act", ["relu", "gelu"])
    with pytest.raises(TuneError, match="low must be > 0"):
        HP().float("x", 0.0, 1.0, log=True)


def test_inside_a_search_hp_calls_become_suggestions():
    seen = []

    def suggest(spec):
        seen.append(spec.name)
        return spec.high

    hp = HP(fixed={"depth": 2}, suggest=suggest)
    assert hp.int("depth", 1, 8) == 2  # fixed wins
    assert hp.int("width", 8, 64, log=True) == 64
    assert hp.choice("init", ["a", "b"], default="a", search=False) == "a"  # not searched
    assert seen == ["width"]


def test_help_never_imports_torch():
    script = textwrap.dedent('''
        import sys
        from cli.main import app, main
        import typer.main
        names = [c.name for c in typer.main.get_command(app).commands.values()]
        for argv in [["--help"]] + [[n, "--help"] for n in names]:
            sys.argv = ["tune", *argv]
            try:
                main()
            except SystemExit as e:
                assert e.code == 0, (argv, e.code)
        heavy = [m for m in ("torch", "optuna", "matplotlib", "sklearn") if m in sys.modules]
        print(len(names), heavy)
    ''')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, heavy = done.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(count) >= 1 and heavy == "[]"


def test_every_option_of_every_command_says_what_it_is_and_its_default():
    import typer.main

    from cli.main import app

    missing = []
    for name, command in typer.main.get_command(app).commands.items():
        for p in command.params:
            if p.param_type_name != "option":
                continue
            text = p.help or ""
            shown = p.show_default and p.default is not None and not p.is_flag
            said = "default" in text.lower() or "(required)" in text.lower()
            if not text or not (p.is_flag or shown or said):
                missing.append(f"tune {name} --{p.name}")
    assert missing == []
