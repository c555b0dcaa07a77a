"""Does ``tune transfer`` pick the right strategy? Source/target pairs made from bundled data.

The target: scikit-learn's bundled 8x8 digits, classes 5-9 (relabelled 0-4,
named "5".."9"), with 5, 20 or 100 training samples per class; every other
image of those classes validates. The built-in CNN (``--model cnn``, width
32, depth 2) is pretrained on

* ``similar``: the digits of classes 0-4 (every image), 20 epochs: a
  ``model.pt`` checkpoint, its head trained on other classes;
* ``dissimilar``: 900 images of Gaussian noise with random labels (5
  classes), 30 epochs: a plain state_dict ``.pt`` (the network memorised
  noise, so its features describe nothing in the digits).

For each pair and size ``compare_strategies`` trains scratch, probe,
probe-then-fine-tune and fine-tune for ``--epochs`` epochs each (same seed)
and decides. Printed per case: the four best validation accuracies, the
similarity, the verdict, and whether the verdict is the measured best or
within 1 point of it; then the targets:

* similar source, few samples per class (5 and 20): the verdict's strategy
  beats scratch by >= 10 points;
* dissimilar source: the verdict is ``scratch``;
* every case: the verdict is the measured best, or within 1 point of it.

    python benchmarks/transfer.py [--epochs 5] [--seeds 0 1 2] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tuner.experiment import prepare
from tuner.recipe import Recipe
from tuner.train import train_and_save
from tuner.transfer.compare import compare_strategies
from tuner.transfer.verdict import SCRATCH, STRATEGIES, TIE

SIZES = (5, 20, 100)
FEW = (5, 20)  # the sizes the ">= 10 points over scratch" target is about
TARGET_GAIN = 0.10

TASK = '''
import numpy as np
from models.cnn import build_cnn

_D = np.load({path!r})
class_names = {names!r}


def build_model(hp):
    return build_cnn(hp, (1, 8, 8), {classes})


def load_data():
    return (_D["x"], _D["y"]), (_D["x_val"], _D["y_val"])
'''


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)


def write_task(folder: Path, name: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
               yv: np.ndarray, names: list[str]) -> str:
    np.savez(folder / f"{name}.npz", x=x, y=y, x_val=xv, y_val=yv)
    path = folder / f"{name}.py"
    path.write_text(TASK.format(path=str(folder / f"{name}.npz"), names=names, classes=len(names)))
    return str(path)


def pretrain_similar(folder: Path, x: np.ndarray, y: np.ndarray) -> str:
    """The CNN trained on digits 0-4; returns its model.pt."""
    rng = np.random.default_rng(0)
    keep = np.flatnonzero(y < 5)
    rng.shuffle(keep)
    cut = int(0.8 * len(keep))
    task = write_task(folder, "source_similar", x[keep[:cut]], y[keep[:cut]], x[keep[cut:]],
                      y[keep[cut:]], [str(c) for c in range(5)])
    exp = prepare(Recipe.from_flags(task=task, hp=["epochs=20", "normalize=true"]), "cpu")
    result = train_and_save(exp, folder / "similar")
    print(f"similar source: digits 0-4, best val_acc {result.history.best_val_acc:.3f}")
    return str(folder / "similar" / "model.pt")


def pretrain_dissimilar(folder: Path) -> str:
    """The CNN trained on noise with random labels (final weights as a plain state_dict)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 1000)
    task = write_task(folder, "source_noise", x[:900], y[:900], x[900:], y[900:],
                      [f"noise{c}" for c in range(5)])
    exp = prepare(Recipe.from_flags(task=task, hp=["epochs=30", "normalize=true"]), "cpu")
    built = exp.build()
    history = exp.fit(built)
    path = folder / "noise.pt"
    torch.save(built.model.state_dict(), path)
    print(f"dissimilar source: noise, random labels, final train_acc {history.epochs[-1].train_acc:.3f}")
    return str(path)


def target_task(folder: Path, x: np.ndarray, y: np.ndarray, per_class: int, seed: int) -> str:
    """Digits 5-9 as classes 0-4: ``per_class`` training images each, the rest validate."""
    rng = np.random.default_rng(100 + seed)
    train, val = [], []
    for c in range(5, 10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        train += list(idx[:per_class])
        val += list(idx[per_class:])
    name = f"target_{per_class}_{seed}"
    return write_task(folder, name, x[train], y[train] - 5, x[val], y[val] - 5,
                      [str(c) for c in range(5, 10)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--batch-size", type=int, default=None,
                    help="--hp batch_size for the comparisons (default: tune's, 64)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = digits()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = {"similar": pretrain_similar(folder, x, y), "dissimilar": pretrain_dissimilar(folder)}
        hp = ["normalize=true"] + ([f"batch_size={args.batch_size}"] if args.batch_size else [])
        print(f"\n{args.epochs} epochs per strategy, seeds {args.seeds}\n")
        print(f"{'source':<11}{'n/class':>8}{'seed':>5}" + "".join(f"{s:>22}" for s in STRATEGIES)
              + f"{'similarity':>11}  {'verdict':<22}{'gain':>7}  ok   s")
        for source, weights in sources.items():
            for n in SIZES:
                for seed in args.seeds:
                    task = target_task(folder, x, y, n, seed)
                    started = time.perf_counter()
                    exp = prepare(Recipe.from_flags(task=task, hp=hp, seed=seed, pretrained=weights), "cpu")
                    r = compare_strategies(exp, epochs=args.epochs)
                    acc = r.best_val_acc()
                    best = max(acc.values())
                    ok = acc[r.verdict] >= best - TIE - 1e-12
                    gain = acc[r.verdict] - acc[SCRATCH]
                    rows.append((source, n, seed, acc, r.verdict, ok, gain))
                    print(f"{source:<11}{n:>8}{seed:>5}" + "".join(f"{acc[s]:>22.3f}" for s in STRATEGIES)
                          + f"{r.similarity.score:>11.2f}  {r.verdict:<22}{100 * gain:>+7.1f}  "
                          f"{'yes' if ok else 'NO ':<4}{time.perf_counter() - started:>4.0f}", flush=True)
    few = [r for r in rows if r[0] == "similar" and r[1] in FEW]
    gain_ok = all(r[6] >= TARGET_GAIN for r in few)
    scratch_ok = all(r[4] == SCRATCH for r in rows if r[0] == "dissimilar")
    best_ok = all(r[5] for r in rows)
    print(f"\nsimilar source, {' and '.join(map(str, FEW))} per class: verdict beats scratch by "
          f">= {100 * TARGET_GAIN:.0f} points: {'yes' if gain_ok else 'NO'} "
          f"(smallest gain {100 * min(r[6] for r in few):+.1f})")
    print(f"dissimilar source: verdict scratch in every case: {'yes' if scratch_ok else 'NO'}")
    print(f"verdict is the measured best or within 1 point, every case: {'yes' if best_ok else 'NO'}")


if __name__ == "__main__":
    main()
