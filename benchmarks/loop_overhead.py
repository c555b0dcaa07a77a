"""How close is tune's engine to a minimal hand-written PyTorch loop?

Trains the same model (same initial weights) on the same in-memory data for
the same epochs with ``tuner.engine.fit`` and with the plainest loop one would
write by hand (shuffle by permutation, index, forward, backward, step, one
validation pass per epoch), alternating the two in back-to-back pairs so that machine
noise hits both alike. Prints samples/second and the median paired ratio
engine speed / hand speed (target: >= 0.95), then the wall time of ``tune --help``.

    python benchmarks/loop_overhead.py [--repeats 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from models.cnn import build_cnn
from models.mlp import build_mlp
from tuner.data import TensorData
from tuner.engine import fit
from tuner.experiment import prepare
from tuner.hp import HP
from tuner.params import TrainParams
from tuner.recipe import Recipe


def hand_loop(model, x, y, xv, yv, epochs, batch_size, lr, seed):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    for _ in range(epochs):
        model.train()
        running = torch.zeros((), device=x.device)
        perm = torch.randperm(n, generator=g).to(x.device)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            out = model(x[idx])
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.detach()
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(xv), yv)
        float(running), float(val_loss)  # what a hand loop would log


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(name, model, train, val, params, device, repeats):
    """Median samples/s of each side, and the median of the paired ratios: each
    repeat runs both back to back (alternating who goes first), so a slow spell
    of the machine lands on both halves of a pair instead of on one side."""
    samples = params.epochs * len(train)
    engine_times, hand_times = [], []
    for r in range(repeats):
        pair = {}
        for which in (("engine", "hand") if r % 2 == 0 else ("hand", "engine")):
            m = copy.deepcopy(model).to(device)
            if which == "engine":
                pair[which] = timed(lambda: fit(m, train, val, params, loss_fn=F.cross_entropy,
                                                device=device, seed=0), device)
            else:
                pair[which] = timed(lambda: hand_loop(m, train.x, train.y, val.x, val.y, params.epochs,
                                                      params.batch_size, params.lr, 0), device)
        engine_times.append(pair["engine"])
        hand_times.append(pair["hand"])
    ratio = statistics.median(h / e for e, h in zip(engine_times, hand_times))
    e, h = samples / statistics.median(engine_times), samples / statistics.median(hand_times)
    print(f"{name:<22} engine {e:>10,.0f} samples/s   hand {h:>10,.0f} samples/s   ratio {ratio:.3f}")
    return ratio


def help_time(repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli.main", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)

    # Warm up torch (optimizer import, allocator) so neither side pays it.
    warm = nn.Linear(4, 2)
    torch.optim.Adam(warm.parameters()).step()

    exp = prepare(Recipe(), args.device)
    torch.manual_seed(0)
    mlp = build_mlp(HP(), (1, 8, 8), 10)
    params = TrainParams(epochs=5, batch_size=64)
    ratios = [measure("mlp on digits", mlp, exp.train, exp.val, params, device, 3 * args.repeats)]

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (2048,), generator=g)
    train, val = TensorData(x[:1536], y[:1536]).to(device), TensorData(x[1536:], y[1536:]).to(device)
    torch.manual_seed(0)
    cnn = build_cnn(HP(fixed={"width": 32, "depth": 2}), (3, 32, 32), 10)
    ratios.append(measure("cnn on 3x32x32", cnn, train, val, params.replace(epochs=2), device, args.repeats))

    print(f"{'worst ratio':<22} {min(ratios):.3f}   (target >= 0.95)")
    print(f"tune --help wall time  {help_time():.2f} s")


if __name__ == "__main__":
    main()
