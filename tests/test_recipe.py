"""Recipes: every study and walk knows what made it.

The stories of the recipe issue: a study joined with another task is refused
before any trial runs; a worker joins a study by storage and name alone; a
fixed task file re-runs the check that caught its bug.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tuner.errors import TuneError
from tuner.recipe import Recipe

BLOBS = '''
import torch
from torch import nn

def build_model(hp):
    width = hp.int("width", 4, 64, log=True, default=16, role="capacity")
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 3))

def load_data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    x = torch.randn(300, 4, generator=g) + 2.0 * nn.functional.one_hot(y, 4)[:, :4].float()
    return (x[:240], y[:240]), (x[240:], y[240:])
'''
QUICK = ["--trials", "2", "--epochs", "1", "--json"]


def journal_bytes(folder: Path) -> bytes:
    return (folder / ".tune" / "studies.journal").read_bytes()


def test_recipes_compare_task_model_data_and_fixed_values_but_not_seed(tmp_path):
    a = Recipe.from_flags(hp=["width=64", "lr=0.01"], seed=1)
    assert a.difference(Recipe.from_flags(hp=["lr=1e-2", "width=64"], seed=2)) is None
    assert a.difference(Recipe.from_flags(hp=["width=64"])) == "--hp lr differs"
    assert a.difference(Recipe.from_flags(model="cnn", hp=["width=64", "lr=0.01"])) == "the model differs"
    task = tmp_path / "t.py"
    task.write_text(BLOBS)
    t = Recipe.from_flags(task=str(task))
    assert t.task.task == str(task.resolve()) and len(t.task.sha256) == 64
    assert a.difference(t) == "the task differs"
    assert Recipe.from_dict(t.to_dict()) == t
    with pytest.raises(TuneError):
        Recipe.from_flags(seed=-1)


def test_a_study_joined_with_another_task_is_refused_and_restart_starts_it_over(tune, tmp_path):
    assert tune("search", "--coarse", "--hp", "width=32", *QUICK).code == 0
    before = journal_bytes(tmp_path)
    task = tmp_path / "wine.py"
    task.write_text(BLOBS)
    other = tune("search", "--coarse", "--task", str(task), "--trials", "4", "--epochs", "1")
    assert other.code == 2
    line = other.stderr.strip()
    assert line.count("\n") == 0 and line.startswith('error: study "coarse" was made by mlp on digits')
    assert f"this run is task {task.resolve()}" in line and "(the task differs)" in line
    assert "--study NEWNAME" in line and "--restart" in line
    assert journal_bytes(tmp_path) == before  # nothing written to the study

    same_task_other_hp = tune("search", "--coarse", "--hp", "width=64", *QUICK)
    assert same_task_other_hp.code == 2 and "--hp width differs" in same_task_other_hp.stderr

    again = tune("search", "--coarse", "--task", str(task), "--restart", *QUICK)
    assert again.code == 0, again.stderr
    result = again.json()
    assert result["trials"] == 2 and result["new_trials"] == 2  # the old trials are gone


def test_a_study_still_being_described_by_its_creator_is_waited_for(tune, tmp_path):
    """Two machines starting at the same moment: Optuna creates a study first and
    its attributes after, one by one. A worker finding the study half described
    waits for its creator, then judges the join by the stored recipe (here:
    refused, another --hp width) rather than failing on, or ignoring, the gap."""
    import threading
    import time

    import optuna

    from tuner.search.storage import open_storage

    assert tune("search", "--coarse", "--study", "donor", "--hp", "width=32", *QUICK).code == 0
    store = open_storage(tmp_path / ".tune")
    attrs = optuna.load_study(study_name="donor", storage=store).user_attrs
    creator = optuna.create_study(study_name="coarse", storage=store, direction="maximize")

    def describe() -> None:  # as the creating machine does, created_at last
        time.sleep(0.5)
        for key, value in attrs.items():
            if key != "created_at":
                creator.set_user_attr(key, value)
        creator.set_user_attr("created_at", attrs["created_at"])

    writer = threading.Thread(target=describe)
    writer.start()
    joined = tune("search", "--coarse", "--hp", "width=64", *QUICK)
    writer.join()
    assert joined.code == 2 and 'study "coarse" was made by' in joined.stderr
    assert "--hp width differs" in joined.stderr


def test_a_changed_task_source_is_a_warning_for_a_search(tune, tmp_path):
    task = tmp_path / "task.py"
    task.write_text(BLOBS)
    assert tune("search", "--coarse", "--task", str(task), *QUICK).code == 0
    task.write_text(BLOBS + "\n# a comment: the source changed\n")
    run = tune("search", "--coarse", "--task", str(task), "--trials", "3", "--epochs", "1", "--json")
    assert run.code == 0, run.stderr
    codes = [w["code"] for w in run.json()["warnings"]]
    assert "task-changed" in codes and run.json()["trials"] == 3


def test_a_worker_joins_a_study_by_storage_and_name_alone(tune, tmp_path):
    task = tmp_path / "task.py"
    task.write_text(BLOBS)
    storage = str(tmp_path / "shared.journal")
    first = tune("search", "--coarse", "--task", str(task), "--hp", "width=8", "--seed", "3",
                 "--storage", storage, "--study", "shared", *QUICK)
    assert first.code == 0, first.stderr
    elsewhere = tmp_path / "other-machine"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    joined = tune("search", "--storage", storage, "--study", "shared", "--trials", "3", "--json")
    assert joined.code == 0, joined.stderr
    result = joined.json()
    assert result["trials"] == 3 and result["new_trials"] == 1
    assert all(row["params"].get("width", 8) == 8 for row in result["top"])
    assert result["best"]["params"]["width"] == 8  # the study's fixed value, not the default

    task.rename(tmp_path / "moved.py")  # the task file is not where the study says
    lost = tune("search", "--storage", storage, "--study", "shared", "--trials", "4")
    assert lost.code == 2 and "not on this machine" in lost.stderr and "--task" in lost.stderr


def test_a_fixed_task_file_reruns_the_check_that_caught_its_bug(tune, tmp_path):
    task = tmp_path / "task.py"
    buggy = BLOBS.replace("    return (x[:240], y[:240])", "    x[::10, 2] = float('nan')\n"
                          "    return (x[:240], y[:240])")
    task.write_text(buggy)
    first = tune("run", "--task", str(task), "--until", "overfit-small", "--json")
    assert first.code == 1 and "check-init" in first.json()["stopped"]

    replay = tune("run", "--task", str(task), "--until", "overfit-small", "--json")
    assert replay.code == 1 and "--restart" in replay.json()["stopped"]  # the stale failure says how out

    task.write_text(BLOBS)  # the bug fixed
    fixed = tune("run", "--task", str(task), "--until", "overfit-small", "--json")
    assert fixed.code == 0, fixed.stderr
    walk = fixed.json()
    assert walk["resumed"] == [] and "changed since the saved walk" in walk["note"]
    assert [s["step"] for s in walk["steps"]] == ["check-init", "check-loss", "overfit-small"]
    assert walk["steps"][0]["verdict"] != "fail"


def test_run_takes_the_search_flags_and_checks_them_before_writing(tune, tmp_path):
    bad = tune("run", "--epochs", "9")
    assert bad.code == 2 and "--epochs 9" in bad.stderr
    assert not (tmp_path / ".tune").exists()
    bad_space = tune("run", "--space", "widht=1:2")
    assert bad_space.code == 2 and "--space widht" in bad_space.stderr
    assert tune("run", "--pruner", "nope").code == 2
    help_text = tune("run", "--help").stdout
    for flag in ("--trials", "--epochs", "--space", "--pruner", "--jobs"):
        assert flag in help_text
