"""Transfer learning: --pretrained, the head, freeze/backbone_lr/probe_epochs, tune transfer.

Every weights file is made on the spot from tiny models; nothing downloads.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from torch import nn

from tuner.errors import TuneError
from tuner.experiment import prepare
from tuner.recipe import Recipe
from tuner.transfer.verdict import (FINE_TUNE, PROBE, PROBE_THEN_FINE_TUNE, SCRATCH, STRATEGIES, TIE,
                                    decide, similarity)

# A tiny task: 6 features, 3 blobs; Linear-BN-ReLU-Linear-ReLU, then the head (module "5").
TASK = '''
import torch
from torch import nn

class_names = {names!r}
{extra}

def build_model(hp):
    width = hp.int("width", 4, 64, log=True, default=16, role="capacity")
    return nn.Sequential(nn.Linear(6, width), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, width), nn.ReLU(), nn.Linear(width, {outputs}))

def load_data():
    centres = torch.randn(3, 6, generator=torch.Generator().manual_seed({centres}))
    y = torch.arange({n}) % 3
    x = torch.randn({n}, 6, generator=torch.Generator().manual_seed(7)) * 0.8 + 1.5 * centres[y]
    cut = int(0.8 * {n})
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
'''


def write(tmp_path: Path, name: str, *, names=("a", "b", "c"), outputs: int = 3, centres: int = 0,
          n: int = 300, extra: str = "") -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(TASK.format(names=list(names), outputs=outputs, centres=centres, n=n, extra=extra))
    return str(path)


@pytest.fixture
def source(tune, tmp_path) -> str:
    """A model.pt trained by tune train on the source task (classes a, b, c)."""
    task = write(tmp_path, "source")
    run = tune("train", "--task", task, "--hp", "epochs=3", "--out", "src", "--json")
    assert run.code == 0, run.stderr
    return str(tmp_path / "src" / "model.pt")


def state_of(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


# --- loading ---------------------------------------------------------------------

def test_a_checkpoint_loads_what_fits_and_reinitialises_a_head_trained_on_other_classes(
        tune, tmp_path, source):
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1)
    run = tune("train", "--task", target, "--pretrained", source, "--hp", "epochs=1", "--json")
    assert run.code == 0, run.stderr
    loaded = run.json()["pretrained"]
    assert loaded["head"] == "5" and loaded["head_replaced"] is False and loaded["matched"] == 1.0
    assert set(loaded["loaded"]) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                     "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"}
    assert loaded["reinitialised"] == ["5.weight", "5.bias"]
    assert {s["name"]: s["why"] for s in loaded["skipped"]} == {
        "5.weight": "the head, trained on other classes", "5.bias": "the head, trained on other classes"}

    # The same classes: the head loads too (a warm start), and check-loss does not call
    # its low starting loss a label leak.
    same = tune("train", "--task", write(tmp_path, "same"), "--pretrained", source, "--hp", "epochs=1",
                "--out", "same", "--json")
    assert same.json()["pretrained"]["reinitialised"] == []
    check = tune("check-loss", "--task", write(tmp_path, "same"), "--pretrained", source, "--json")
    assert check.code == 0 and "pretrained-head" in [f["code"] for f in check.json()["findings"]]
    # Without --json the command says what it loaded, on stderr.
    human = tune("check-loss", "--task", target, "--pretrained", source)
    assert "pretrained: " in human.stderr and "loaded 9 tensors" in human.stderr
    assert "head 5 re-initialised" in human.stderr


def test_a_state_dict_and_a_safetensors_file_load_like_a_checkpoint(tune, tmp_path, source):
    from safetensors.torch import save_file

    weights = state_of(source)
    torch.save(weights, tmp_path / "plain.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in weights.items()}}, tmp_path / "wrapped.pt")
    save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp_path / "w.safetensors"))
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1)
    for name in ("plain.pth", "wrapped.pt", "w.safetensors"):
        exp = prepare(Recipe.from_flags(task=target, pretrained=str(tmp_path / name)), "cpu")
        built = exp.build()
        # No class names in a plain file: the head's shape fits, so it loads too.
        assert built.pretrained.reinitialised == [], name
        for key, value in weights.items():
            assert torch.equal(built.model.state_dict()[key], value), (name, key)


def test_a_model_built_with_the_sources_classes_gets_a_new_head(tune, tmp_path, source):
    # build_model returns 7 outputs (the source's classifier), the data has 3 classes.
    wide = write(tmp_path, "wide", names=("x", "y", "z"), outputs=7, centres=1)
    plain = tune("train", "--task", wide, "--hp", "epochs=1")
    assert plain.code == 2 and "outputs 7 values per sample but the data has 3 classes" in plain.stderr
    run = tune("train", "--task", wide, "--pretrained", source, "--hp", "epochs=1", "--json")
    assert run.code == 0, run.stderr
    assert run.json()["pretrained"]["head_replaced"] is True
    # The checkpoint rebuilds: the head swap happens again when it is loaded.
    from tuner.checkpoint import load

    model = load(tmp_path / ".tune" / "model.pt").model
    assert model[5].out_features == 3


def test_weights_of_another_architecture_are_one_error_before_anything_is_written(
        tune, tmp_path, source):
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1)
    run = tune("train", "--task", target, "--pretrained", source, "--hp", "width=32", "--out", "o")
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: --pretrained ")
    assert "0.weight ((16, 6) in the file, (32, 6) in the model)" in run.stderr
    assert "--hp width=16" in run.stderr  # the checkpoint says what it was
    assert not (tmp_path / "o").exists()
    for bad, says in (("missing.pt", "no such file"), ("hub", "needs --model timm:NAME")):
        run = tune("train", "--task", target, "--pretrained", bad)
        assert run.code == 2 and says in run.stderr
    (tmp_path / "notes.txt").write_text("hello")
    run = tune("train", "--task", target, "--pretrained", str(tmp_path / "notes.txt"))
    assert run.code == 2 and "not a torch or .safetensors weights file" in run.stderr
    torch.save(nn.Linear(2, 2), tmp_path / "whole.pt")
    run = tune("train", "--task", target, "--pretrained", str(tmp_path / "whole.pt"))
    assert run.code == 2 and "a whole pickled model" in run.stderr


def test_the_recipe_keeps_the_weights_by_their_bytes(tmp_path, source):
    a = Recipe.from_flags(pretrained=source)
    assert a.pretrained.source == source and len(a.pretrained.sha256) == 64
    assert a.pretrained.sha256[:12] in a.describe()
    assert Recipe.from_dict(a.to_dict()) == a
    assert a.flags()[-2:] == ["--pretrained", source]
    copy = tmp_path / "copy.pt"
    copy.write_bytes(Path(source).read_bytes())
    assert a.difference(Recipe.from_flags(pretrained=str(copy))) is None  # the same bytes elsewhere
    other = tmp_path / "other.pt"
    torch.save(state_of(source), other)
    assert a.difference(Recipe.from_flags(pretrained=str(other))) == "the pretrained weights differ"
    assert a.difference(Recipe.from_flags()) == "the pretrained weights differ"
    assert Recipe.from_dict({k: v for k, v in Recipe.from_flags().to_dict().items()
                             if k != "pretrained"}).pretrained is None  # older recipes


# --- freeze, backbone_lr, probe_epochs --------------------------------------------------

def trained_once(tmp_path: Path, source: str, *hp: str, epochs: int = 1):
    """A prepared experiment, its built model before and after training, and the curves."""
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1)
    exp = prepare(Recipe.from_flags(task=target, pretrained=source, hp=[*hp, f"epochs={epochs}"]), "cpu")
    built = exp.build()
    before = {k: v.clone() for k, v in built.model.state_dict().items()}
    snapshots = []
    history = exp.fit(built, on_epoch=lambda rec: snapshots.append(
        {k: v.clone() for k, v in built.model.state_dict().items()}))
    return built, before, snapshots, history


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_freeze_backbone_trains_only_the_head_and_keeps_batchnorm_statistics(tmp_path, source):
    built, before, (after,), _ = trained_once(tmp_path, source, "freeze=backbone")
    assert changed(before, after) == {"5.weight", "5.bias"}  # BN running stats included: untouched
    assert [g.name for g in built.groups] == ["head", "frozen"]


def test_freeze_k_trains_the_head_and_the_last_k_blocks(tmp_path, source):
    built, before, (after,), _ = trained_once(tmp_path, source, "freeze=1")
    assert changed(before, after) == {"3.weight", "3.bias", "5.weight", "5.bias"}
    built, before, (after,), _ = trained_once(tmp_path, source, "freeze=2", "backbone_lr=0.1")
    assert changed(before, after) == {"1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked", "3.weight", "3.bias", "5.weight", "5.bias"}
    assert {g.name: g.lr_mult for g in built.groups} == {"head": 1.0, "backbone": 0.1, "frozen": 0.1}


def test_probe_epochs_train_the_head_alone_first(tmp_path, source):
    built, before, (first, second), _ = trained_once(tmp_path, source, "probe_epochs=1",
                                                      "backbone_lr=0.1", epochs=2)
    assert changed(before, first) == {"5.weight", "5.bias"}
    assert {"0.weight", "1.running_mean", "3.weight"} <= changed(first, second)


def test_transfer_names_are_checked_like_every_training_name(tune, tmp_path):
    assert Recipe.from_flags(hp=["freeze=02"]).hp["freeze"] == "2"
    for bad, says in (("freeze=some", "freeze must be none, backbone, or a whole number"),
                      ("freeze=0", "freeze must be none, backbone"),
                      ("backbone_lr=0", "backbone_lr must be > 0"),
                      ("probe_epochs=-1", "probe_epochs must be >= 0"),
                      ("probe_epochs=1.5", "probe_epochs must be a whole number")):
        run = tune("train", "--hp", bad)
        assert run.code == 2 and says in run.stderr, (bad, run.stderr)


def test_with_pretrained_weights_the_coarse_space_searches_freeze_and_backbone_lr():
    from tuner.hp import ParamSpec
    from tuner.search.space import default_space

    declared = {"width": ParamSpec("width", "int", 4, 64, log=True, role="capacity"),
                "dropout": ParamSpec("dropout", "float", 0.0, 0.5, role="regularization")}
    plain = default_space(declared)
    assert "freeze" not in plain and "width" in plain
    space = default_space(declared, transfer=True)
    assert space["freeze"].options == ("none", "backbone", "1", "2")
    assert (space["backbone_lr"].low, space["backbone_lr"].high, space["backbone_lr"].log) == (0.01, 1.0, True)
    assert space.when["backbone_lr"] == ("freeze", ("none", "1", "2"))
    assert "width" not in space and "dropout" in space  # the weights fix the architecture
    probe = default_space(declared, transfer=True, fixed={"freeze": "backbone"},
                          train_fixed={"freeze": "backbone"})
    assert "freeze" not in probe and "backbone_lr" not in probe


# --- tune transfer ------------------------------------------------------------------

def test_tune_transfer_measures_four_strategies_and_gives_a_verdict(tune, tmp_path, source):
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1, n=150)
    run = tune("transfer", "--task", target, "--pretrained", source, "--epochs", "3", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert set(result) == {"strategies", "samples_per_class", "similarity", "verdict", "advice", "files",
                           "threads"}  # threads: what --threads chose, as every training command says
    assert [s["name"] for s in result["strategies"]] == list(STRATEGIES)
    by_name = {s["name"]: s for s in result["strategies"]}
    assert by_name[PROBE]["hp"] == {"freeze": "backbone", "backbone_lr": 1.0, "probe_epochs": 0}
    assert by_name[PROBE_THEN_FINE_TUNE]["hp"] == {"freeze": "none", "backbone_lr": 0.1, "probe_epochs": 1}
    assert by_name[FINE_TUNE]["hp"] == {"freeze": "none", "backbone_lr": 0.1, "probe_epochs": 0}
    for s in result["strategies"]:
        assert len(s["epochs"]) == 3 and s["best_val_acc"] == max(e["val_acc"] for e in s["epochs"])
    assert result["samples_per_class"] == 40
    acc = {s["name"]: s["best_val_acc"] for s in result["strategies"]}
    assert result["verdict"] == decide(acc, result["similarity"]["chance"])
    assert acc[result["verdict"]] >= max(acc.values()) - TIE
    assert result["similarity"]["probe"] == acc[PROBE] and result["similarity"]["scratch"] == acc[SCRATCH]
    # From scratch: drop the weights; a transfer strategy: the --hp values that make it.
    assert ("drop --pretrained" in result["advice"]) == (result["verdict"] == SCRATCH)
    assert ("--hp" in result["advice"]) == (result["verdict"] != SCRATCH)
    png = next(Path(f) for f in result["files"] if f.endswith(".png"))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(Path(result["files"][0]).read_text())["verdict"] == result["verdict"]

    # The same seed repeats every strategy's curves on CPU.
    again = tune("transfer", "--task", target, "--pretrained", source, "--epochs", "3", "--out", "again",
                 "--json").json()
    assert [[e["val_loss"] for e in s["epochs"]] for s in again["strategies"]] == \
        [[e["val_loss"] for e in s["epochs"]] for s in result["strategies"]]

    human = tune("transfer", "--task", target, "--pretrained", source, "--epochs", "1", "--out", "h")
    assert human.code == 0 and "verdict" in human.stdout and "vs scratch" in human.stdout


def test_tune_transfer_refuses_what_it_cannot_compare(tune, tmp_path, source):
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1)
    run = tune("transfer", "--task", target, "--out", "o")
    assert run.code == 2 and "needs pretrained weights" in run.stderr
    run = tune("transfer", "--task", target, "--pretrained", source, "--hp", "freeze=1", "--out", "o")
    assert run.code == 2 and "sets freeze, backbone_lr and probe_epochs itself" in run.stderr
    assert not (tmp_path / "o").exists()


def test_tune_run_compares_after_the_checks_and_searches_within_the_verdict(tune, tmp_path, source):
    target = write(tmp_path, "target", names=("x", "y", "z"), centres=1, n=150)
    run = tune("run", "--task", target, "--pretrained", source, "--trials", "2", "--epochs", "1",
               "--until", "search-coarse", "--json")
    assert run.code == 0, run.stderr
    steps = [s["step"] for s in run.json()["steps"]]
    assert steps == ["check-init", "check-loss", "overfit-small", "transfer", "lr-range", "search-coarse"]
    transfer = run.json()["steps"][3]
    verdict = transfer["strategy"]
    from tuner.search import open_storage

    study = open_storage(tmp_path / ".tune").get_all_studies()[0]
    recipe = Recipe.from_dict(study.user_attrs["recipe"])
    if verdict == SCRATCH:
        assert recipe.pretrained is None
    else:
        assert recipe.pretrained is not None and recipe.hp["freeze"] == transfer["hp"]["freeze"]
        assert "freeze" not in study.user_attrs["space"]
    # Resuming reads the verdict back and goes on within it.
    again = tune("run", "--task", target, "--pretrained", source, "--trials", "2", "--epochs", "1",
                 "--until", "search-coarse", "--json")
    assert again.code == 0 and "transfer" in again.json()["resumed"]


# --- the verdict rule (torch-free) ----------------------------------------------------

def test_similarity_is_how_far_the_probe_gets_from_chance_towards_the_best():
    assert similarity(0.6, 0.9, 0.2).score == pytest.approx(0.4 / 0.7)
    assert similarity(0.95, 0.9, 0.2).score == 1.0
    assert similarity(0.1, 0.9, 0.2).score == 0.0
    assert similarity(0.2, 0.2, 0.2).score == 0.0
    assert similarity(float("nan"), 0.9, 0.2).score == 0.0


@pytest.mark.parametrize("acc, verdict", [
    # little data, similar source: the probe is as good as anything
    ({SCRATCH: 0.70, PROBE: 0.82, PROBE_THEN_FINE_TUNE: 0.81, FINE_TUNE: 0.815}, PROBE),
    # more data: fine-tuning pulls ahead of the probe
    ({SCRATCH: 0.95, PROBE: 0.90, PROBE_THEN_FINE_TUNE: 0.96, FINE_TUNE: 0.97}, FINE_TUNE),
    ({SCRATCH: 0.95, PROBE: 0.90, PROBE_THEN_FINE_TUNE: 0.975, FINE_TUNE: 0.97}, PROBE_THEN_FINE_TUNE),
    # a dissimilar source: the probe near chance, fine-tuning no better than scratch
    ({SCRATCH: 0.90, PROBE: 0.25, PROBE_THEN_FINE_TUNE: 0.85, FINE_TUNE: 0.895}, SCRATCH),
    # a similar source, but scratch clearly best (enough data)
    ({SCRATCH: 0.97, PROBE: 0.90, PROBE_THEN_FINE_TUNE: 0.94, FINE_TUNE: 0.95}, SCRATCH),
    # random-like features probe well with enough data, but nothing beats scratch
    ({SCRATCH: 0.959, PROBE: 0.953, PROBE_THEN_FINE_TUNE: 0.947, FINE_TUNE: 0.945}, SCRATCH),
])
def test_the_verdict_follows_the_course_table(acc, verdict):
    assert decide(acc, 0.2) == verdict


def test_the_verdict_is_always_the_measured_best_or_within_one_point():
    rng = random.Random(0)
    for _ in range(2000):
        acc = {s: rng.choice([rng.random(), round(rng.uniform(0.2, 1), 2), float("nan")])
               for s in STRATEGIES}
        chance = rng.uniform(0.05, 0.5)
        got = decide(acc, chance)
        finite = {s: (a if math.isfinite(a) else chance) for s, a in acc.items()}
        assert finite[got] >= max(finite.values()) - TIE - 1e-12, (acc, chance, got)


# --- timm (an optional extra) ------------------------------------------------------

def timm_or_skip():
    try:
        import timm  # noqa: F401
    except Exception as e:  # not installed, or a torchvision built for another torch
        pytest.skip(f"timm is not usable here: {type(e).__name__}")
    return timm


def test_a_timm_model_trains_from_a_weights_file_made_from_a_timm_model(tune, tmp_path):
    import numpy as np

    timm = timm_or_skip()
    source = timm.create_model("test_resnet", num_classes=10, in_chans=1)  # another head width
    torch.save(source.state_dict(), tmp_path / "resnet.pth")
    g = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = (g.standard_normal((60, 1, 16, 16)) + y[:, None, None, None]).astype(np.float32)
    np.savez(tmp_path / "img.npz", x=x, y=y)
    run = tune("train", "--model", "timm:test_resnet", "--data", str(tmp_path / "img.npz"),
               "--pretrained", str(tmp_path / "resnet.pth"), "--hp", "epochs=1", "--hp", "freeze=1",
               "--json")
    assert run.code == 0, run.stderr
    loaded = run.json()["pretrained"]
    assert loaded["head"] == "fc" and loaded["reinitialised"] == ["fc.weight", "fc.bias"]
    assert loaded["matched"] == 1.0
    unknown = tune("train", "--model", "timm:no_such_net", "--data", str(tmp_path / "img.npz"))
    assert unknown.code == 2 and "timm has no model" in unknown.stderr


def test_the_checkpoint_format_is_the_one_the_weights_reader_knows():
    from tuner.checkpoint import FORMAT
    from tuner.transfer.weights import CHECKPOINT_FORMAT

    assert FORMAT == CHECKPOINT_FORMAT
