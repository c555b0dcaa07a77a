"""How good is ``tune lr-range``'s suggestion?

For each task (MLPs and a CNN) and optimizer (SGD with momentum 0.9, Adam):

* the reference: the LR with the best validation accuracy after 3 epochs of
  training, on a half-decade grid from 1e-5 to 1 (mean over ``--grid-seeds``
  seeds). Accuracies within one validation sample of the best are ties (a
  small validation set cannot tell them apart); the tie goes to the lowest
  mean validation loss. The plain argmax is printed too;
* tune's suggestion (``lr_range`` with its defaults), one run per seed;
* torch-lr-finder's suggestion (steepest gradient, its defaults, the same
  1e-7..10 sweep over 100 iterations), one run per seed, interleaved with
  tune's so that machine noise hits both alike.

Prints, per case, the distance in decades from the grid's best (of the median
suggestion over seeds, and the worst single run), the spread across seeds and
the run time per suggestion; then the mean and worst distances and whether
the targets hold (every case within 0.5 decade; closer on average than
torch-lr-finder).

    pip install torch-lr-finder   # for this benchmark only
    python benchmarks/lr_suggestion.py [--seeds 3] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tuner.experiment import Experiment, prepare
from tuner.lr_range import lr_range
from tuner.recipe import Recipe

GRID = [10 ** (-5 + 0.5 * i) for i in range(11)]  # 1e-5 ... 1, half a decade apart
OPTIMIZERS = {"sgd": ["optimizer=sgd", "momentum=0.9"], "adam": ["optimizer=adam"]}
EPOCHS = 3
TARGET_DECADES = 0.5


def make_tasks(folder: Path) -> dict[str, dict[str, str]]:
    """Digits (MLP and CNN, built in) and two tabular sets written as .npz files."""
    from sklearn.datasets import load_breast_cancer, make_classification

    x, y = make_classification(n_samples=3000, n_features=20, n_informative=10, n_classes=5,
                               n_clusters_per_class=2, random_state=0)
    np.savez(folder / "tabular.npz", x=x.astype(np.float32), y=y)
    cancer = load_breast_cancer()
    np.savez(folder / "cancer.npz", x=cancer.data.astype(np.float32), y=cancer.target)
    return {"mlp digits": dict(model="mlp"), "cnn digits": dict(model="cnn"),
            "mlp tabular": dict(model="mlp", data=str(folder / "tabular.npz")),
            "mlp cancer": dict(model="mlp", data=str(folder / "cancer.npz"))}


def grid_scores(spec: dict[str, str], hp: list[str], seeds: int) -> tuple[list[float], list[float], int]:
    """Mean validation accuracy and loss after EPOCHS epochs at each grid LR
    (accuracy 0 and loss inf if it diverged), and the validation set's size."""
    accs, losses = [], []
    for lr in GRID:
        runs = []
        for seed in range(seeds):
            exp = prepare(Recipe.from_flags(**spec, hp=hp + [f"lr={lr}", f"epochs={EPOCHS}"], seed=seed), "cpu")
            h = exp.fit(exp.build())
            ok = not h.diverged and math.isfinite(h.epochs[-1].val_loss)
            runs.append((h.final_val_acc, h.epochs[-1].val_loss) if ok else (0.0, math.inf))
        accs.append(statistics.mean(a for a, _ in runs))
        losses.append(statistics.mean(v for _, v in runs))
    return accs, losses, len(exp.val)


def grid_best(accs: list[float], losses: list[float], n_val: int) -> tuple[int, int]:
    """(tie-broken best, plain argmax): ties are within one validation sample of the top."""
    top = max(accs)
    tied = [i for i, a in enumerate(accs) if a >= top - 1.0 / n_val]
    return min(tied, key=lambda i: losses[i]), accs.index(top)


def torch_lr_finder_suggestion(exp: Experiment) -> float:
    """torch-lr-finder as its README shows it, on the same data, model and optimizer."""
    from torch_lr_finder import LRFinder

    from tuner.engine import make_optimizer
    from tuner.plotting import pyplot

    model = exp.build().model
    optimizer = make_optimizer(model, exp.params, lr=1e-7)
    data = torch.utils.data.TensorDataset(exp.train.x, exp.train.y)
    loader = torch.utils.data.DataLoader(data, batch_size=exp.params.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(exp.seed))
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss(), device=exp.device)
    plt = pyplot()
    fig, ax = plt.subplots()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder.range_test(loader, end_lr=10, num_iter=100)
        _, lr = finder.plot(ax=ax, suggest_lr=True)
    plt.close(fig)
    finder.reset()
    return float(lr)


def decades(lr: float, best: float) -> float:
    return math.log10(lr / best)


def spread(lrs: list[float]) -> float:
    logs = [math.log10(v) for v in lrs]
    return max(logs) - min(logs)


def geo_median(lrs: list[float]) -> float:
    return 10 ** statistics.median(math.log10(v) for v in lrs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="runs of each tool, one per seed")
    parser.add_argument("--grid-seeds", type=int, default=5, help="seeds averaged at each grid LR")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (these small models gain nothing from more)")
    parser.add_argument("--quick", action="store_true", help="digits MLP only, 2 seeds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = 2 if args.quick else args.seeds
    grid_seeds = 2 if args.quick else args.grid_seeds

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tasks = make_tasks(Path(tmp))
        if args.quick:
            tasks = {"mlp digits": tasks["mlp digits"]}
        for name, spec in tasks.items():
            for opt, hp in OPTIMIZERS.items():
                accs, losses, n_val = grid_scores(spec, hp, grid_seeds)
                best_i, argmax_i = grid_best(accs, losses, n_val)
                best = GRID[best_i]
                near = [GRID[i] for i, a in enumerate(accs) if a >= accs[argmax_i] - 0.01]
                ours, theirs, t_ours, t_theirs = [], [], [], []
                for seed in range(seeds):  # interleaved: noise hits both tools alike
                    exp = prepare(Recipe.from_flags(**spec, hp=hp, seed=seed), "cpu")
                    start = time.perf_counter()
                    ours.append(lr_range(exp).suggested_lr)
                    t_ours.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    theirs.append(torch_lr_finder_suggestion(exp))
                    t_theirs.append(time.perf_counter() - start)
                rows.append(dict(case=f"{name} {opt}", best=best, best_acc=accs[best_i],
                                 argmax=GRID[argmax_i],
                                 near=(min(near), max(near)), ours=ours, theirs=theirs,
                                 t_ours=statistics.mean(t_ours), t_theirs=statistics.mean(t_theirs)))
                print_row(rows[-1], header=len(rows) == 1)
    summarise(rows)


def print_row(r: dict, header: bool) -> None:
    if header:
        print(f"{'case':<17} {'grid best':>9} {'acc':>5} {'argmax':>7} {'within 1pt':>15} | "
              f"{'tune':>8} {'Δdec':>6} {'worst':>6} {'spread':>6} {'s':>5} | "
              f"{'lr-finder':>9} {'Δdec':>6} {'worst':>6} {'spread':>6} {'s':>5}")
    cells = []
    for key, t in (("ours", r["t_ours"]), ("theirs", r["t_theirs"])):
        lrs = r[key]
        worst = max((decades(v, r["best"]) for v in lrs), key=abs)
        cells.append(f"{geo_median(lrs):>8.2g} {decades(geo_median(lrs), r['best']):>+6.2f} "
                     f"{worst:>+6.2f} {spread(lrs):>6.2f} {t:>5.1f}")
    print(f"{r['case']:<17} {r['best']:>9.2g} {r['best_acc']:>5.3f} {r['argmax']:>7.2g} "
          f"{r['near'][0]:>7.2g}–{r['near'][1]:<7.2g} | {cells[0]} | {'':>1}{cells[1]}", flush=True)


def summarise(rows: list[dict]) -> None:
    print()
    for label, key, t in (("tune lr-range", "ours", "t_ours"), ("torch-lr-finder", "theirs", "t_theirs")):
        dist = [abs(decades(geo_median(r[key]), r["best"])) for r in rows]
        worst = [max(abs(decades(v, r["best"])) for v in r[key]) for r in rows]
        print(f"{label:<16} mean |Δ| {statistics.mean(dist):.2f} decades, worst {max(dist):.2f} "
              f"(worst single run {max(worst):.2f}); within {TARGET_DECADES} decade: "
              f"{sum(d <= TARGET_DECADES for d in dist)}/{len(rows)}; "
              f"mean spread {statistics.mean(spread(r[key]) for r in rows):.2f} decades; "
              f"{statistics.mean(r[t] for r in rows):.1f} s per suggestion")
    ours = statistics.mean(abs(decades(geo_median(r["ours"]), r["best"])) for r in rows)
    theirs = statistics.mean(abs(decades(geo_median(r["theirs"]), r["best"])) for r in rows)
    every = all(abs(decades(geo_median(r["ours"]), r["best"])) <= TARGET_DECADES for r in rows)
    vs_argmax = [abs(decades(geo_median(r["ours"]), r["argmax"])) for r in rows]
    print(f"against the plain argmax instead: tune mean |Δ| {statistics.mean(vs_argmax):.2f}, "
          f"worst {max(vs_argmax):.2f}; torch-lr-finder mean |Δ| "
          f"{statistics.mean(abs(decades(geo_median(r['theirs']), r['argmax'])) for r in rows):.2f}")
    print(f"targets: every case within {TARGET_DECADES} decade: {'yes' if every else 'NO'}; "
          f"closer on average than torch-lr-finder: {'yes' if ours < theirs else 'NO'} "
          f"({ours:.2f} vs {theirs:.2f} decades)")


if __name__ == "__main__":
    main()
