"""How good is ``tune lr-range``'s suggestion?

For each case (a task, an optimizer, a batch size):

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
torch-lr-finder), for the development cases and the held-out cases apart.

The cases: the first eight (MLPs on digits, a tabular set and breast cancer, a
CNN on digits; SGD with momentum 0.9 and Adam at batch 64) are those tune's
method was designed on. The harder ones run CNNs on generated noisy images
(with and without BatchNorm), a deep MLP, dropout, SGD with and without
momentum, and batches of 16 to 512 (the task files are in
``benchmarks/lr_tasks/``). Four of them are HELD OUT: chosen before anything
was measured, they were never looked at while the method changed, and check
that a change generalises rather than fits the others.

The grid is the expensive part and depends only on the case, so its scores
are cached (``--grid-cache``, keyed by the case, the grid, the epochs, the
seeds and the torch version); delete the file when the engine or the data
change.

    pip install torch-lr-finder   # for this benchmark only
    python benchmarks/lr_suggestion.py [--seeds 3] [--set dev|heldout|all]
                                       [--cases SUBSTRING,...] [--no-lr-finder] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tuner.experiment import Experiment, prepare
from tuner.lr_range import lr_range
from tuner.recipe import Recipe

GRID = [10 ** (-5 + 0.5 * i) for i in range(11)]  # 1e-5 ... 1, half a decade apart
SGD = ["optimizer=sgd", "momentum=0.9"]
SGD0 = ["optimizer=sgd", "momentum=0"]
ADAM = ["optimizer=adam"]
EPOCHS = 3
TARGET_DECADES = 0.5
TASKS = Path(__file__).parent / "lr_tasks"
DEFAULT_CACHE = Path(__file__).parent / ".cache" / "lr_grid.json"


@dataclass(frozen=True)
class Case:
    """One benchmark case: a task (built-in model and data, or a task file), the
    ``--hp`` settings (optimizer, batch size, model options), and whether it is held out."""

    name: str
    task: str  # key of make_tasks
    hp: tuple[str, ...]
    heldout: bool = False


CASES = [
    # The original eight: the cases tune's method was designed on.
    Case("mlp digits sgd", "mlp digits", tuple(SGD)),
    Case("mlp digits adam", "mlp digits", tuple(ADAM)),
    Case("cnn digits sgd", "cnn digits", tuple(SGD)),
    Case("cnn digits adam", "cnn digits", tuple(ADAM)),
    Case("mlp tabular sgd", "mlp tabular", tuple(SGD)),
    Case("mlp tabular adam", "mlp tabular", tuple(ADAM)),
    Case("mlp cancer sgd", "mlp cancer", tuple(SGD)),
    Case("mlp cancer adam", "mlp cancer", tuple(ADAM)),
    # Harder cases, development set.
    Case("cnn shapes sgd", "cnn shapes", tuple(SGD)),
    Case("cnn-bn shapes sgd0 b256", "cnn-bn shapes", (*SGD0, "batch_size=256")),
    Case("deep-mlp spirals adam b16", "deep-mlp spirals", (*ADAM, "batch_size=16")),
    Case("mlp-drop digits sgd0", "mlp digits", (*SGD0, "dropout=0.5")),
    Case("mlp-bn tabular sgd b512", "mlp-bn tabular", (*SGD, "batch_size=512")),
    # Harder cases, held out: fixed before anything was measured, never tuned on.
    Case("cnn shapes adam b16", "cnn shapes", (*ADAM, "batch_size=16"), heldout=True),
    Case("cnn-bn gratings sgd b128", "cnn-bn gratings", (*SGD, "batch_size=128"), heldout=True),
    Case("deep-mlp spirals sgd0 b256", "deep-mlp spirals", (*SGD0, "batch_size=256"), heldout=True),
    Case("mlp-drop tabular adam b16", "mlp tabular", (*ADAM, "batch_size=16", "dropout=0.5"),
         heldout=True),
]


def make_tasks(folder: Path) -> dict[str, dict[str, str]]:
    """Digits (MLP and CNN, built in), two tabular sets written as .npz files, and
    the task files of ``benchmarks/lr_tasks`` (generated images, spirals, tabular)."""
    from sklearn.datasets import load_breast_cancer, make_classification

    x, y = make_classification(n_samples=3000, n_features=20, n_informative=10, n_classes=5,
                               n_clusters_per_class=2, random_state=0)
    np.savez(folder / "tabular.npz", x=x.astype(np.float32), y=y)
    cancer = load_breast_cancer()
    np.savez(folder / "cancer.npz", x=cancer.data.astype(np.float32), y=cancer.target)
    return {"mlp digits": dict(model="mlp"), "cnn digits": dict(model="cnn"),
            "mlp tabular": dict(model="mlp", data=str(folder / "tabular.npz")),
            "mlp cancer": dict(model="mlp", data=str(folder / "cancer.npz")),
            "cnn shapes": dict(task=str(TASKS / "shapes_cnn.py")),
            "cnn-bn shapes": dict(task=str(TASKS / "shapes_cnn_bn.py")),
            "cnn-bn gratings": dict(task=str(TASKS / "gratings_cnn_bn.py")),
            "deep-mlp spirals": dict(task=str(TASKS / "spirals_deep_mlp.py")),
            "mlp-bn tabular": dict(task=str(TASKS / "tabular_mlp_bn.py"))}


class GridCache:
    """Grid scores by case, grid, epochs, seeds and torch version, in a JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict = json.loads(path.read_text()) if path and path.exists() else {}

    @staticmethod
    def key(case: Case, seeds: int) -> str:
        return json.dumps([case.task, list(case.hp), GRID, EPOCHS, seeds, torch.__version__])

    def get(self, case: Case, seeds: int) -> tuple[list[float], list[float], int] | None:
        hit = self.data.get(self.key(case, seeds))
        return None if hit is None else (hit["accs"], hit["losses"], hit["n_val"])

    def put(self, case: Case, seeds: int, accs: list[float], losses: list[float], n_val: int) -> None:
        if self.path is None:
            return
        self.data[self.key(case, seeds)] = {"accs": accs, "losses": losses, "n_val": n_val}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1))


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
        losses.append(statistics.mean(v for _, v in runs))  # inf after any divergence
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
    parser.add_argument("--set", choices=("dev", "heldout", "all"), default="all",
                        help="the development cases, the held-out ones, or both")
    parser.add_argument("--cases", default="",
                        help="only cases whose name contains one of these comma-separated strings")
    parser.add_argument("--no-lr-finder", action="store_true", help="skip torch-lr-finder")
    parser.add_argument("--grid-cache", type=Path, default=DEFAULT_CACHE,
                        help="JSON file of grid scores to reuse (see the docstring)")
    parser.add_argument("--no-cache", action="store_true", help="recompute the grid, save nothing")
    parser.add_argument("--quick", action="store_true", help="digits MLP only, 2 seeds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = 2 if args.quick else args.seeds
    grid_seeds = 2 if args.quick else args.grid_seeds
    cache = GridCache(None if args.no_cache else args.grid_cache)
    wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
    cases = [c for c in CASES
             if (args.set == "all" or c.heldout == (args.set == "heldout"))
             and (not wanted or any(w in c.name for w in wanted))
             and (not args.quick or c.task == "mlp digits" and not c.heldout)]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tasks = make_tasks(Path(tmp))
        for case in cases:
            spec, hp = tasks[case.task], list(case.hp)
            scores = cache.get(case, grid_seeds)
            if scores is None:
                scores = grid_scores(spec, hp, grid_seeds)
                cache.put(case, grid_seeds, *scores)
            accs, losses, n_val = scores
            best_i, argmax_i = grid_best(accs, losses, n_val)
            best = GRID[best_i]
            near = [GRID[i] for i, a in enumerate(accs) if a >= accs[argmax_i] - 0.01]
            ours, theirs, t_ours, t_theirs = [], [], [], []
            for seed in range(seeds):  # interleaved: noise hits both tools alike
                exp = prepare(Recipe.from_flags(**spec, hp=hp, seed=seed), "cpu")
                start = time.perf_counter()
                ours.append(lr_range(exp).suggested_lr)
                t_ours.append(time.perf_counter() - start)
                if not args.no_lr_finder:
                    start = time.perf_counter()
                    theirs.append(torch_lr_finder_suggestion(exp))
                    t_theirs.append(time.perf_counter() - start)
            rows.append(dict(case=case.name + (" *" if case.heldout else ""), heldout=case.heldout,
                             best=best, best_acc=accs[best_i], argmax=GRID[argmax_i],
                             near=(min(near), max(near)), ours=ours, theirs=theirs,
                             t_ours=statistics.mean(t_ours),
                             t_theirs=statistics.mean(t_theirs) if t_theirs else math.nan))
            print_row(rows[-1], header=len(rows) == 1)
    print("\n* held out: never looked at while tune's method was changed")
    dev, held = [r for r in rows if not r["heldout"]], [r for r in rows if r["heldout"]]
    for label, part in (("development cases", dev), ("held-out cases", held),
                        ("all cases", rows if dev and held else [])):
        if part:
            print(f"\n{label} ({len(part)}):")
            summarise(part)


def print_row(r: dict, header: bool) -> None:
    if header:
        print(f"{'case':<29} {'grid best':>9} {'acc':>5} {'argmax':>7} {'within 1pt':>15} | "
              f"{'tune':>8} {'Δdec':>6} {'worst':>6} {'spread':>6} {'s':>5} | "
              f"{'lr-finder':>9} {'Δdec':>6} {'worst':>6} {'spread':>6} {'s':>5}")
    cells = []
    for key, t in (("ours", r["t_ours"]), ("theirs", r["t_theirs"])):
        lrs = r[key]
        if not lrs:
            cells.append(f"{'-':>8} {'':>6} {'':>6} {'':>6} {'':>5}")
            continue
        worst = max((decades(v, r["best"]) for v in lrs), key=abs)
        cells.append(f"{geo_median(lrs):>8.2g} {decades(geo_median(lrs), r['best']):>+6.2f} "
                     f"{worst:>+6.2f} {spread(lrs):>6.2f} {t:>5.1f}")
    print(f"{r['case']:<29} {r['best']:>9.2g} {r['best_acc']:>5.3f} {r['argmax']:>7.2g} "
          f"{r['near'][0]:>7.2g}–{r['near'][1]:<7.2g} | {cells[0]} | {'':>1}{cells[1]}", flush=True)


def summarise(rows: list[dict]) -> None:
    tools = [("tune lr-range", "ours", "t_ours")]
    if all(r["theirs"] for r in rows):
        tools.append(("torch-lr-finder", "theirs", "t_theirs"))
    for label, key, t in tools:
        dist = [abs(decades(geo_median(r[key]), r["best"])) for r in rows]
        worst = [max(abs(decades(v, r["best"])) for v in r[key]) for r in rows]
        print(f"{label:<16} mean |Δ| {statistics.mean(dist):.2f} decades, worst {max(dist):.2f} "
              f"(worst single run {max(worst):.2f}); within {TARGET_DECADES} decade: "
              f"{sum(d <= TARGET_DECADES for d in dist)}/{len(rows)}; "
              f"mean spread {statistics.mean(spread(r[key]) for r in rows):.2f} decades; "
              f"{statistics.mean(r[t] for r in rows):.1f} s per suggestion")
    ours = statistics.mean(abs(decades(geo_median(r["ours"]), r["best"])) for r in rows)
    every = all(abs(decades(geo_median(r["ours"]), r["best"])) <= TARGET_DECADES for r in rows)
    vs_argmax = [abs(decades(geo_median(r["ours"]), r["argmax"])) for r in rows]
    print(f"against the plain argmax instead: tune mean |Δ| {statistics.mean(vs_argmax):.2f}, "
          f"worst {max(vs_argmax):.2f}")
    line = f"targets: every case within {TARGET_DECADES} decade: {'yes' if every else 'NO'}"
    if len(tools) > 1:
        theirs = statistics.mean(abs(decades(geo_median(r["theirs"]), r["best"])) for r in rows)
        line += (f"; closer on average than torch-lr-finder: {'yes' if ours < theirs else 'NO'} "
                 f"({ours:.2f} vs {theirs:.2f} decades)")
    print(line)


if __name__ == "__main__":
    main()
