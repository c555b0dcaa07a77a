"""Shared test helpers: run the real ``tune`` entry point in-process.

Running in-process (rather than a subprocess per call) keeps torch imported
once for the whole session; ``main()`` is the same function the console
script calls, so exit codes and stderr are what a user sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from cli.main import main

# The tests train tiny models on a 2-core CI machine: there, intra-op threads cost
# more in synchronisation than they give (measured: test_train.py 15.1 s -> 12.4 s).
# OMP_NUM_THREADS also makes every command's --threads auto keep one thread without
# timing steps first (tests/test_threads.py measures that choice itself).
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

TESTS = Path(__file__).parent


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        """The single JSON object a --json run must print (fails otherwise)."""
        return json.loads(self.stdout)


def run_tune(*args: str) -> Run:
    """Call ``tune ARGS...`` as the console script would, capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["tune", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def tune(tmp_path, monkeypatch):
    """``tune(*args)`` run in a fresh working folder (so ``.tune/`` is private)."""
    monkeypatch.chdir(tmp_path)
    return run_tune


@pytest.fixture
def write_task(tmp_path):
    """Write a task file from source text and return its path as a string."""
    def write(source: str, name: str = "task.py") -> str:
        path = tmp_path / name
        path.write_text(source)
        return str(path)
    return write
