"""Does augmentation, searched by tune, pay on small image tasks, and what does it cost?

Two image tasks with few training samples per class, made without downloads:

* ``small-digits``: scikit-learn's 8x8 digits as 1x8x8 images, 30 training
  images per class (300), validated on the usual 359-image validation split;
* ``colour-shapes``: 3x16x16 images generated with a fixed seed, four shapes
  (disc, square, triangle, cross) of random colour, size and place on a noisy
  background, 40 training images per class, 400 for validation.

For each task and seed (the built-in CNN, its training settings fixed, only
the augmentation searched):

1. ``tune search --coarse`` over the augmentation names (behind their on/off
   gate), trials of 5 epochs with tune's default pruning, then ``--fine``
   narrowed from it with trials of ``--epochs`` (as ``tune run`` does);
2. the best trial's augmentation and no augmentation, each trained for the
   same ``--epochs`` with the same seed: best validation accuracy, and the
   difference (target: >= +3 points on small-digits);
3. test-time augmentation of the augmented model with ``auto``: each view's
   accuracy, the gain with its 95% paired-bootstrap interval, auto's choice.

Also: the share of trials pruned with and without augmentation, over every
search (stronger augmentation learns more slowly at first: does early pruning
kill it?), and training throughput of tune's engine with all five
augmentations on against off, same model and batch, side by side in one run
(target >= 0.85). The per-operation comparison with kornia and a per-sample
torchvision pipeline is ``benchmarks/augmentation_speed.py``.

    python benchmarks/augmentation.py [--seeds 0 1 2] [--epochs 40] [--trials 24]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tuner.augment import NAMES, Augmentation  # noqa: E402
from tuner.experiment import prepare  # noqa: E402
from tuner.recipe import Recipe  # noqa: E402

# The CNN's training, fixed: only augmentation is searched.
FIXED = ["optimizer=adam", "lr=0.003", "weight_decay=0.0001", "batch_size=32", "width=32",
         "depth=2", "dropout=0", "schedule=cosine"]


def small_digits(folder: Path, per_class: int = 30) -> str:
    from tuner.data import stratified_indices
    from tuner.sources import load_digits

    train, val = load_digits()
    idx = stratified_indices(train.y, per_class * 10, seed=0)
    path = folder / "small_digits.npz"
    np.savez(path, x=train.x[idx].numpy(), y=train.y[idx].numpy(), x_val=val.x.numpy(),
             y_val=val.y.numpy())
    return str(path)


def colour_shapes(folder: Path, per_class: int = 40, val: int = 400, side: int = 16) -> str:
    """Four shapes of random colour, size and place on a noisy background."""
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)

    def draw(kind: int) -> np.ndarray:
        r = rng.uniform(2.5, 5.0)
        cy, cx = rng.uniform(r, side - r, size=2)
        dy, dx = yy - cy, xx - cx
        if kind == 0:
            mask = dy ** 2 + dx ** 2 <= r ** 2
        elif kind == 1:
            mask = (abs(dy) <= r * 0.85) & (abs(dx) <= r * 0.85)
        elif kind == 2:
            mask = (dy <= r * 0.8) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)
        else:
            mask = ((abs(dy) <= r) & (abs(dx) <= r * 0.3)) | ((abs(dx) <= r) & (abs(dy) <= r * 0.3))
        colour = rng.uniform(0.3, 1.0, size=3)
        background = rng.uniform(0.0, 0.4, size=3)
        image = background[:, None, None] + rng.normal(0, 0.08, size=(3, side, side))
        image[:, mask] = colour[:, None] + rng.normal(0, 0.05, size=(3, int(mask.sum())))
        return image.astype(np.float32)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 4
        return np.stack([draw(k) for k in y]), y.astype(np.int64)

    x, y = make(per_class * 4)
    xv, yv = make(val)
    path = folder / "colour_shapes.npz"
    np.savez(path, x=x, y=y, x_val=xv, y_val=yv)
    return str(path)


def searched_augmentation(data: str, seed: int, trials: int, fine_epochs: int,
                          out: Path) -> tuple[dict, list]:
    """The augmentation of the best trial of a coarse search (5-epoch trials) and the
    fine search narrowed from it (``fine_epochs`` per trial), as ``tune run`` does;
    and every trial's (augmented?, pruned?)."""
    import optuna
    from optuna.trial import TrialState

    from tuner.search import open_storage, search

    exp = prepare(Recipe.from_flags(model="cnn", data=data, hp=FIXED, seed=seed), "cpu")
    search(exp, study_name="coarse", out=out, mode="coarse", trials=trials, epochs=5, plots=False)
    result = search(exp, study_name="fine", out=out, mode="fine", from_study="coarse",
                    trials=max(3, trials // 2), epochs=fine_epochs, plots=False)
    outcomes = []
    for name in ("coarse", "fine"):
        study = optuna.load_study(study_name=name, storage=open_storage(out))
        outcomes += [(bool(t.params.get("augment")), t.state == TrialState.PRUNED)
                     for t in study.get_trials(deepcopy=False)
                     if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    best = result.best["params"]
    return {n: best[n] for n in ("augment", *NAMES) if n in best}, outcomes


def retrain(data: str, seed: int, epochs: int, aug: dict) -> tuple[float, object, object]:
    hp = FIXED + [f"epochs={epochs}"] + [f"{k}={v}" for k, v in aug.items()]
    exp = prepare(Recipe.from_flags(model="cnn", data=data, hp=hp, seed=seed), "cpu")
    built = exp.build()
    history = exp.fit(built)
    return history.best_val_acc, built.model, exp


def throughput(data: str, repeats: int) -> float:
    """Median of paired ratios: samples/s with all five augmentations on / off."""
    strong = {"flip": 0.5, "crop": 0.5, "translate": 0.125, "jitter": 0.3, "cutout": 0.3}
    ratios = []
    runs = {}
    for on in (False, True):
        hp = FIXED + ["epochs=3"] + ([f"{k}={v}" for k, v in strong.items()] if on else [])
        runs[on] = prepare(Recipe.from_flags(model="cnn", data=data, hp=hp), "cpu")
    for r in range(repeats):
        times = {}
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            exp = runs[on]
            built = exp.build()
            start = time.process_time()
            exp.fit(built)
            times[on] = time.process_time() - start
        ratios.append(times[False] / times[True])
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from tuner.data import TensorData
    from tuner.tta import evaluate_tta

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tasks = {"small-digits": small_digits(folder), "colour-shapes": colour_shapes(folder)}
        outcomes_all: list[tuple[bool, bool]] = []
        print(f"{'task':14} {'seed':>4}  {'augmentation found':42} {'none':>7} {'found':>7} "
              f"{'diff':>7}   TTA (auto)")
        for name, data in tasks.items():
            diffs = []
            for seed in args.seeds:
                aug, outcomes = searched_augmentation(data, seed, args.trials, args.epochs,
                                                      folder / f"{name}{seed}")
                outcomes_all += outcomes
                plain, _, _ = retrain(data, seed, args.epochs, {"augment": False})
                found, model, exp = retrain(data, seed, args.epochs, aug)
                diffs.append(found - plain)
                val = exp.val if isinstance(exp.val, TensorData) else None
                tta = evaluate_tta(model, val, "auto")
                low, high = tta.gain_ci
                views = ", ".join(f"{v.name} {v.accuracy:.3f}" for v in tta.views[1:])
                described = Augmentation.from_values(aug).describe()
                print(f"{name:14} {seed:>4}  {described[:42]:42} {plain:7.4f} {found:7.4f} "
                      f"{(found - plain) * 100:+6.1f}p   kept {tta.kept or 'none'}, gain "
                      f"{tta.gain * 100:+.2f}p [{low * 100:+.2f}, {high * 100:+.2f}]; {views}")
            print(f"{name:14} mean difference {statistics.mean(diffs) * 100:+.2f} points"
                  + ("   (target >= +3)" if name == "small-digits" else ""))
        for augmented in (False, True):
            group = [pruned for aug, pruned in outcomes_all if aug == augmented]
            share = sum(group) / len(group) if group else float("nan")
            print(f"pruned share, augment={str(augmented).lower():5}: {share:.2f} of {len(group)} trials")
        ratio = throughput(tasks["colour-shapes"], args.repeats)
        print(f"training throughput, all five augmentations on / off: {ratio:.3f} "
              f"(target >= 0.85; median of {args.repeats} paired runs, CPU time, "
              f"{args.threads} thread)")


if __name__ == "__main__":
    main()
