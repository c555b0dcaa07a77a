"""The studies journal survives a write torn by a crash.

A real ``tune search`` writes the journal; a crash is simulated by cutting the
end of its last record (a killed process) or by a tail of zero bytes (a power
cut on some file systems). Every later command must read every complete
record, say once what it dropped, and a following search must continue the
study on a clean line.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import pytest

from conftest import run_tune

SMALL = ["--space", "width=32:64:log", "--space", "depth=1:2", "--space", "dropout=0:0.2",
         "--epochs", "1"]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """A journal written by a real three-trial search."""
    out = tmp_path_factory.mktemp("journal") / "out"
    run = run_tune("search", "--coarse", "--trials", "3", *SMALL, "--out", str(out), "--json")
    assert run.code == 0, run.stderr
    return out / "studies.journal"


def trials_of(journal: Path) -> dict[int, tuple[str, float | None]]:
    import optuna

    from tuner.errors import TuneWarning
    from tuner.search import open_storage

    with warnings.catch_warnings():  # the commands' warnings are what the tests check
        warnings.simplefilter("ignore", TuneWarning)
        study = optuna.load_study(study_name="coarse", storage=open_storage(journal.parent))
        return {t.number: (t.state.name, t.value) for t in study.get_trials()}


def tear(journal: Path, *, cut: int = 0, zeros: int = 0, age: float = 60.0) -> bytes:
    """Cut ``cut`` bytes off the end and add ``zeros`` zero bytes, as a crash
    would leave it ``age`` seconds ago; returns the bytes now in the file."""
    data = journal.read_bytes()
    data = data[:len(data) - cut] + b"\0" * zeros
    journal.write_bytes(data)
    then = time.time() - age
    os.utime(journal, (then, then))
    return data


def copy_journal(written: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(written, out / "studies.journal")
    return out / "studies.journal"


def warning_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("cut,zeros,dropped", [
    (20, 0, "bytes of a trial result record, trial_id 2"),  # a killed process: the last record cut short
    (0, 512, "512 zero bytes"),                              # a power cut: the last block never written
    (250, 0, "bytes of a trial"),                            # cut across two records
])
def test_a_torn_journal_keeps_every_complete_trial_and_the_study_goes_on(
        written, tmp_path, cut, zeros, dropped):
    journal = copy_journal(written, tmp_path)
    out = journal.parent
    before = trials_of(journal)
    complete_lines = journal.read_bytes()[:len(journal.read_bytes()) - cut].split(b"\n")[:-1]
    tear(journal, cut=cut, zeros=zeros)

    for command in (["best", "--json"], ["diagnose", "--json"]):
        run = run_tune(*command, "--out", str(out))
        assert run.code == 0, run.stderr
        json.loads(run.stdout)  # stdout still holds exactly the JSON object
        warned = warning_lines(run.stderr)
        assert len(warned) == 1, run.stderr  # once per command, however often it reads the file
        assert str(journal) in warned[0] and dropped in warned[0] and "every complete record" in warned[0]

    after_tear = trials_of(journal)
    # Every trial whose records were complete is there as it was; the torn one at
    # most lost its last record (it ran, its result was not written).
    for number, (state, value) in before.items():
        if after_tear[number] != (state, value):
            assert after_tear[number][0] == "RUNNING" and number == max(before), after_tear

    run = run_tune("search", "--coarse", "--trials", "5", *SMALL, "--out", str(out), "--json")
    assert run.code == 0, run.stderr
    assert len(warning_lines(run.stderr)) <= 1
    lines = journal.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends on a newline
    assert lines[:len(complete_lines)] == complete_lines  # nothing complete was touched
    for line in lines[:-1]:
        json.loads(line)  # the next record started on a clean line
    resumed = trials_of(journal)
    # The study went on to its 5 trials. A trial left RUNNING by the torn record is a
    # trial whose worker was lost: reclaimed as failed (not counted) and redone once.
    torn = [n for n, (state, _) in after_tear.items() if state == "RUNNING"]
    assert len(resumed) == 5 + len(torn) and resumed[max(resumed)][0] == "COMPLETE"
    for number, outcome in after_tear.items():
        assert resumed[number] == (("FAIL", None) if number in torn else outcome)  # ...with what was read

    run = run_tune("best", "--out", str(out), "--json")
    assert run.code == 0 and warning_lines(run.stderr) == [], run.stderr  # repaired: silent now


def test_a_write_in_flight_is_skipped_silently_and_never_changed_by_a_reader(written, tmp_path):
    """A last line without its newline that was written a moment ago may be another
    process's write in progress: readers skip it without a word and leave it alone."""
    journal = copy_journal(written, tmp_path)
    data = tear(journal, cut=20, age=0.0)
    run = run_tune("best", "--out", str(journal.parent), "--json")
    assert run.code == 0 and warning_lines(run.stderr) == [], run.stderr
    assert journal.read_bytes() == data


def test_a_record_glued_onto_a_torn_one_is_read(written, tmp_path):
    """Before this fix the next search appended onto the torn line: such a line is
    read as the complete record it ends with."""
    journal = copy_journal(written, tmp_path)
    good = journal.read_bytes()
    last = good.rstrip(b"\n").rsplit(b"\n", 1)[1] + b"\n"
    journal.write_bytes(good[:-20] + last)  # torn, then the same record appended onto it
    run = run_tune("best", "--out", str(journal.parent), "--json")
    assert run.code == 0, run.stderr
    warned = warning_lines(run.stderr)
    assert len(warned) == 1 and "incomplete record on line" in warned[0], run.stderr
    assert trials_of(journal)[2][0] == "COMPLETE"


def test_an_unreadable_line_in_the_middle_is_one_error_line(written, tmp_path):
    journal = copy_journal(written, tmp_path)
    lines = journal.read_bytes().split(b"\n")
    lines[3] = b"this is not json"
    journal.write_bytes(b"\n".join(lines))
    run = run_tune("best", "--out", str(journal.parent))
    assert run.code == 2, run.stderr
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and f"{journal}: line 4" in err[0], run.stderr


def test_the_library_warns_through_the_warnings_module_and_prints_nothing(written, tmp_path, capsys):
    from tuner.errors import TuneWarning
    from tuner.search import open_storage

    journal = copy_journal(written, tmp_path)
    tear(journal, cut=20)
    with pytest.warns(TuneWarning, match="incomplete last record"):
        open_storage(journal.parent).get_all_studies()
    assert capsys.readouterr() == ("", "")
