"""Helpers for tests that run ``tune`` as separate processes (as separate machines
would) and kill, freeze or starve their workers mid-trial."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# The demo with a small architecture: trials of well under a second.
TINY = ["--hp", "width=32", "--hp", "depth=1"]


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str


def spawn_tune(*args: str, cwd: Path) -> subprocess.Popen:
    """``tune ARGS`` in a process of its own (one thread per worker, as in the tests)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 90) -> Finished:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"tune did not finish in {timeout} s:\n{err[-3000:]}") from None
    return Finished(proc.returncode, out, err)


def children(pid: int) -> set[int]:
    """The PIDs whose parent is ``pid`` (Linux /proc)."""
    kids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                kids.add(int(status.parent.name))
                break
    return kids


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60, every: float = 0.02) -> Any:
    """Poll ``probe()`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def trials_of(storage: Any, study: str) -> list[Any]:
    import optuna

    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []


def training_trial(storage: Any, study: str, pids: set[int]) -> Any:
    """A RUNNING trial of one of ``pids`` that has reported an epoch (so its worker
    is training, not holding a lock), or None."""
    for t in trials_of(storage, study):
        if t.state.name == "RUNNING" and (t.user_attrs.get("worker") or {}).get("pid") in pids and t.intermediate_values:
            return t
    return None


def freeze_mid_trial(storage: Any, study: str, pids: set[int], timeout: float = 60) -> Any:
    """SIGSTOP a worker of ``pids`` while its trial is still RUNNING and return that
    trial. Trials of the tiny model last well under a second, so a trial seen
    training may finish before a signal lands: freezing first, then reading the
    trial's state again (a frozen worker cannot finish it) makes the kill land
    mid-trial every time; a trial that finished in between is let go and another
    one is picked."""
    import signal

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = wait_for("a worker training", lambda: training_trial(storage, study, pids),
                        timeout=max(deadline - time.monotonic(), 0.1))
        pid = seen.user_attrs["worker"]["pid"]
        os.kill(pid, signal.SIGSTOP)
        now = next((t for t in trials_of(storage, study) if t.number == seen.number), None)
        if now is not None and now.state.name == "RUNNING":
            return now
        os.kill(pid, signal.SIGCONT)
    raise AssertionError("timed out freezing a worker mid-trial")
