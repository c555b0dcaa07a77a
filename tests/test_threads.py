"""--threads N|auto: the choice is made, printed with --json, and honours OMP_NUM_THREADS."""

from __future__ import annotations

import pytest

from tuner.errors import TuneError
from tuner.experiment import prepare
from tuner.recipe import Recipe
from tuner.threads import MARGIN, choose_threads, parse_threads


@pytest.fixture
def restore_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_parse_threads():
    assert parse_threads("auto") is None and parse_threads("3") == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(TuneError):
            parse_threads(bad)


def test_auto_measures_the_model_and_sets_what_it_chose(monkeypatch, restore_threads):
    # (How long the timing takes is measured by benchmarks/threads.py, not here.)
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("tuner.threads.available_cores", lambda: 2)
    exp = prepare(Recipe(), "cpu")
    choice = choose_threads(exp)
    assert choice.how == "measured" and set(choice.seconds_per_step) == {1, 2}
    s = choice.seconds_per_step  # threads are only chosen when they measured clearly faster
    assert choice.threads == (2 if s[2] < MARGIN * s[1] else 1)
    assert torch.get_num_threads() == choice.threads


def test_a_heavy_step_is_timed_on_part_of_the_batch(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("tuner.threads.available_cores", lambda: 2)
    monkeypatch.setattr("tuner.threads.STEP_SECONDS", 1e-9)  # any step counts as heavy
    choice = choose_threads(prepare(Recipe(), "cpu"))
    assert choice.how == "measured on 2 of 64 samples" and set(choice.seconds_per_step) == {1, 2}


def test_the_environment_and_the_flag_win(monkeypatch, restore_threads):
    exp = prepare(Recipe(), "cpu")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert (choose_threads(exp).threads, choose_threads(exp).how) == (1, "OMP_NUM_THREADS")
    assert (choose_threads(exp, 2).threads, choose_threads(exp, 2).how) == (2, "--threads")


def test_commands_that_train_print_their_threads(tune, restore_threads):
    run = tune("train", "--hp", "epochs=1", "--threads", "2", "--json")
    assert run.code == 0 and run.json()["threads"] == 2
    assert tune("train", "--hp", "epochs=1", "--json").json()["threads"] == 1  # OMP_NUM_THREADS=1
    bad = tune("train", "--threads", "0")
    assert bad.code == 2 and "--threads 0" in bad.stderr
    assert "--threads" not in tune("best", "--help").stdout  # reading a study trains nothing
