"""The bug zoo: every classic bug in ``tests/zoo/`` is flagged by the check
named for it, and no healthy task gets a fail from any of the three checks.

The table below is the one in the README (section ``checks``): bug, command,
finding code. The checks run through the library functions that the
commands (and ``tune run``) call, without plots, to keep the zoo fast; the
command-line behaviour (exit codes, JSON, files) is tested per command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.checks import check_init, check_loss, overfit_small
from tuner.experiment import prepare
from tuner.recipe import Recipe

ZOO = Path(__file__).parent / "zoo"
CHECKS = {"check-init": check_init, "check-loss": check_loss, "overfit-small": overfit_small}

# bug file -> {command: finding code}; every entry must be flagged (warn or fail).
BROKEN: dict[str, dict[str, str]] = {
    "unnormalised_inputs": {"check-init": "inputs-not-normalised", "check-loss": "loss-too-high"},
    "softmax_before_loss": {"check-loss": "softmax-before-loss", "overfit-small": "softmax-before-loss"},
    "init_too_small": {"check-init": "activations-vanish"},
    "init_too_large": {"check-init": "activations-explode", "check-loss": "loss-too-high"},
    "dead_relu": {"check-init": "dead-relu", "overfit-small": "accuracy-at-chance"},
    "detached_branch": {"check-init": "no-gradient"},
    "frozen_layers": {"check-init": "frozen-parameters"},
    "nan_inputs": {"check-init": "inputs-nan", "check-loss": "loss-nan", "overfit-small": "loss-nan"},
    "single_class": {"check-loss": "single-class"},
    "constant_inputs": {"check-init": "inputs-constant", "overfit-small": "accuracy-at-chance"},
}
# bug file -> words the exit-2 error must contain (prepare() refuses the task).
REFUSED: dict[str, tuple[str, ...]] = {
    "labels_out_of_range": ("labels run from 1 to 4", "outside [0, 4)"),
    "wrong_output_width": ("outputs 3 values", "4 classes"),
}
HEALTHY = ("healthy_mlp", "healthy_imbalanced", "healthy_dropout", "healthy_cnn", "healthy_dataset",
           "healthy_deep_kaiming")


def run_check(command: str, name: str) -> dict:
    exp = prepare(Recipe.from_flags(task=str(ZOO / f"{name}.py")), "cpu")
    return CHECKS[command](exp).to_dict()


def test_the_zoo_is_as_large_as_promised():
    assert len(BROKEN) + len(REFUSED) >= 10 and len(HEALTHY) >= 5
    on_disk = {p.stem for p in ZOO.glob("*.py")} - {"zoo_data"}
    assert on_disk == set(BROKEN) | set(REFUSED) | set(HEALTHY)


@pytest.mark.parametrize("name,command", [(n, c) for n, cmds in BROKEN.items() for c in cmds])
def test_each_bug_is_flagged(name, command):
    result = run_check(command, name)
    code = BROKEN[name][command]
    flagged = [f for f in result["findings"] if f["code"] == code]
    assert flagged, f"{name}: {command} did not report {code}: {result['findings']}"
    assert flagged[0]["severity"] in ("warn", "fail") and flagged[0]["advice"]
    assert result["verdict"] in ("warn", "fail")


@pytest.mark.parametrize("name", sorted(REFUSED))
@pytest.mark.parametrize("command", CHECKS)
def test_bugs_prepare_refuses_are_a_clean_error(tune, name, command):
    run = tune(command, "--task", str(ZOO / f"{name}.py"), "--json")
    assert run.code == 2 and run.stdout == ""
    line = run.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line
    for words in REFUSED[name]:
        assert words in line


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_tasks_never_fail(name):
    for command in CHECKS:
        result = run_check(command, name)
        assert result["verdict"] != "fail", (command, result["findings"])
        # Quiet, not just "not failing": nothing above info on a healthy model.
        assert all(f["severity"] == "info" for f in result["findings"]), (command, result["findings"])
