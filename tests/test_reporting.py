"""What the terminal, the JSON and the report say: failures grouped by reason,
warnings always with their message, commands that reproduce their result, and
`tune diagnose` reading the run just trained."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import run_tune

TANH_TASK = '''
import torch
from torch import nn

def build_model(hp):
    act = hp.choice("act", ["relu", "tanh"])
    layer = nn.ReLU() if act == "relu" else nn.TanH()
    return nn.Sequential(nn.Linear(4, 16), layer, nn.Linear(16, 3))

def load_data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    x = torch.randn(300, 4, generator=g) + 2.0 * nn.functional.one_hot(y, 4)[:, :4].float()
    return (x[:240], y[:240]), (x[240:], y[240:])
'''


def test_failed_trials_are_grouped_by_reason_with_the_users_line(tune, write_task):
    task = write_task(TANH_TASK)
    run = tune("search", "--task", task, "--trials", "6", "--epochs", "1", "--space", "act=tanh",
               "--json")
    result = run.json()
    assert result["failed"] == 6
    [group] = result["failures"]
    assert group["count"] == 6 and sorted(group["trials"]) == list(range(6))
    reason = "build_model(hp) raised AttributeError: module 'torch.nn' has no attribute 'TanH' (task.py:7)"
    assert group["reason"] == reason
    human = tune("search", "--task", task, "--trials", "6", "--epochs", "1", "--space", "act=tanh")
    assert f"6 trials failed: {reason}" in " ".join(human.stdout.split())


def test_best_args_carry_the_task_and_seed_and_reproduce_the_trial(tune, write_task):
    task = write_task(TANH_TASK.replace('["relu", "tanh"]', '["relu"]'))
    search = tune("search", "--task", task, "--trials", "3", "--epochs", "2", "--seed", "5", "--json")
    assert search.code == 0, search.stderr
    args = tune("best", "--format", "args").stdout.strip()
    assert args.startswith(f"--task {Path(task).resolve()} --seed 5 --hp ")
    for number in re.findall(r"=(\d[\d.e+-]*)", args):  # every printed float is short
        digits = number.split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= 4, number
    retrained = tune("train", *shlex.split(args), "--json", "--out", "again").json()
    assert retrained["best_val_acc"] == search.json()["best"]["value"]
    assert tune("best", "--json").json()["args"] == args


def test_diagnose_reads_the_newest_run_and_says_which(tune):
    assert tune("search", "--trials", "2", "--epochs", "1", "--hp", "width=32").code == 0
    assert tune("train", "--hp", "epochs=3", "--hp", "width=32").code == 0
    run = tune("diagnose", "--json")
    assert run.code == (1 if run.json()["verdict"] == "fail" else 0), run.stderr
    assert run.json()["source"].startswith("tune train's") and "newer than study" in run.json()["source"]
    assert tune("diagnose", "--study", "coarse", "--json").json()["source"].startswith("study coarse")


def test_a_step_line_fits_80_columns_and_its_warnings_follow_in_full():
    from rich.console import Console

    from cli.commands.run import render_step
    from tuner.walk.state import StepRecord

    console = Console(record=True, width=80, color_system=None)
    rec = StepRecord("search-coarse", "warn", 12.3,
                     {"trials": 20, "best_value": 0.97, "pruned": 11, "failed": 9,
                      "codes": ["a-very-long-code-name"] * 6}, [], {},
                     [{"code": "trials-failed", "severity": "warn",
                       "message": "9 trials failed: ValueError: bad (task.py:3)", "advice": ""},
                      {"code": "best-at-edge", "severity": "warn", "message": "the best lr sits at "
                       "the upper edge", "advice": "widen the range, e.g. --space lr=1e-4:1:log"}])
    render_step(console, rec)
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("warn search-coarse") and lines[0].endswith("…")
    text = " ".join(" ".join(lines).split())
    assert "trials-failed: 9 trials failed: ValueError: bad (task.py:3)" in text
    assert "→ widen the range, e.g. --space lr=1e-4:1:log" in text


def test_progress_and_results_share_an_80_column_terminal_without_colliding(tmp_path):
    """`tune run` in a real pseudo-terminal 80 columns wide: every step's result
    line arrives whole, on its own line, and no screen line is wider than 80."""
    import pty

    env = {**os.environ, "COLUMNS": "80", "LINES": "40", "TERM": "xterm"}
    tune = str(Path(sys.executable).parent / "tune")
    pid, fd = pty.fork()
    if pid == 0:  # the child: tune, with stdout and stderr on the terminal
        os.chdir(tmp_path)
        os.execve(tune, [tune, "run", "--until", "check-loss"], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    screen = b"".join(chunks).decode(errors="replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen).replace("\r", "\n")
    lines = [line for line in plain.split("\n") if line.strip()]
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for step in ("check-init", "check-loss"):
        assert any(re.match(rf"^ ?(pass|warn|fail) {step}\s+\d+\.\d+s", line) for line in lines), step


def test_help_of_every_command_renders(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cli.main", "lr-range", "--help"], capture_output=True,
                         text=True, cwd=Path(__file__).parent.parent, env={**os.environ, "COLUMNS": "100"})
    assert out.returncode == 0 and "default: 100" in out.stdout and "Iterations" in out.stdout
    import typer.main

    from cli.main import app

    for name in typer.main.get_command(app).commands:
        shown = run_tune(name, "--help")
        assert shown.code == 0 and "Usage:" in shown.stdout and "--json" in shown.stdout, name
