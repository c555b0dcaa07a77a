"""How fast is tune's per-sample batch augmentation?

Three comparisons, each measured side by side in one run: the two sides of a
pair run back to back, alternating which goes first, and the printed ratio is
the median over repeats of the paired ratios (so a slow spell of the machine
lands on both halves of a pair). Torch threads are pinned (``--threads``, 1 by
default) so the two sides get the same CPU. On the CPU the clock is the
process's CPU time (``--clock``): on a machine shared with other jobs, wall
time also counts the moments the process waits for a core, and that noise
swamped the differences measured here (the same training step read 3.4 ms
and 7.2 ms of wall time a minute apart, 3.4 ms and 3.4 ms of CPU time).

(a) Op cost per batch: ``tuner.augment`` (plain batched torch) against kornia's
    augmentation module (also one draw per sample), each of the five operations
    and all five together, on 1x8x8, 1x28x28 and 3x32x32 batches of 64 and 256.
    Ratio = kornia time / tune time (> 1: tune is faster). Skipped without kornia.
(b) Training throughput of a small CNN with all five augmentations on against
    off, same model, same batch size, in a hand-written loop over in-memory
    tensors. Ratio = samples/s on / samples/s off (target >= 0.85).
(c) The same training with tune's batched augmentation against a per-sample
    pipeline in a DataLoader: torchvision's v2 transforms in a Dataset's
    ``__getitem__`` when torchvision imports, and the same operations written
    per sample in plain torch (what such a pipeline does for each image, with
    less Python around it). Ratio = tune samples/s / per-sample samples/s
    (target >= 3). A "data only" row under each times the same two pipelines
    delivering the batches without a model: the training ratio tends to 1 as
    the model's step outgrows the augmentation, and that row shows by how much
    the pipeline itself differs. PyPI's torchvision only imports beside its own
    torch: run this script in a venv with a matching pair for the torchvision rows.

    python benchmarks/augmentation_speed.py [--repeats 9] [--threads 1] [--device cpu] [--clock auto]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from models.cnn import build_cnn
from tuner.augment import Augmentation
from tuner.augment.batch import BatchAugment, augment
from tuner.hp import HP

# All five on, at the top of the coarse search space's ranges (the costliest setting).
ALL = Augmentation(flip=0.5, crop=0.35, translate=0.25, jitter=0.4, cutout=0.5)
SINGLE = {
    "flip": Augmentation(flip=0.5),
    "crop": Augmentation(crop=0.35),
    "translate": Augmentation(translate=0.25),
    "jitter": Augmentation(jitter=0.4),
    "cutout": Augmentation(cutout=0.5),
    "all five": ALL,
}
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
BATCHES = [64, 256]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


CLOCK: Callable[[], float] = time.perf_counter


def paired(sides: dict[str, Callable[[], None]], repeats: int, device: torch.device
           ) -> tuple[dict[str, float], float]:
    """Median seconds of each of two sides, and the median of the paired ratios
    second / first (each repeat runs both, alternating which goes first)."""
    (a, fa), (b, fb) = sides.items()
    fa(), fb()  # warm-up: allocator, lazy imports, kernels
    times: dict[str, list[float]] = {a: [], b: []}
    for r in range(repeats):
        for name, fn in ((a, fa), (b, fb)) if r % 2 == 0 else ((b, fb), (a, fa)):
            sync(device)
            start = CLOCK()
            fn()
            sync(device)
            times[name].append(CLOCK() - start)
    ratio = statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))
    return {k: statistics.median(v) for k, v in times.items()}, ratio


# --- (a) op cost: tune against kornia -----------------------------------------

def kornia_pipeline(aug: Augmentation, shape: tuple[int, int, int]):
    """The same operations, per-sample, from kornia.augmentation."""
    import kornia.augmentation as K
    c, h, w = shape
    ops = []
    if aug.jitter:
        s = aug.jitter
        ops.append(K.ColorJitter(brightness=s, contrast=s, saturation=s if c == 3 else 0.0, p=1.0))
    if aug.crop < 1:
        ops.append(K.RandomResizedCrop((h, w), scale=(aug.crop, 1.0), align_corners=False))
    if aug.flip:
        ops.append(K.RandomHorizontalFlip(p=aug.flip))
    if aug.translate:
        ops.append(K.RandomCrop((h, w), padding=round(aug.translate * w), p=1.0))  # pad and crop
    if aug.cutout:
        area = round(aug.cutout * min(h, w)) ** 2 / (h * w)
        ops.append(K.RandomErasing(scale=(area, area), ratio=(1.0, 1.0), value=0.0, p=1.0))
    return K.AugmentationSequential(*ops)


def op_cost(repeats: int, device: torch.device, calls: int) -> list[float]:
    try:
        import kornia
    except ImportError:
        print("(a) skipped: kornia is not installed (pip install kornia)")
        return []
    print(f"(a) op cost per batch, tune (plain batched torch) vs kornia {kornia.__version__}; "
          "ratio = kornia time / tune time")
    print(f"    {'shape':<8} {'batch':>5}  {'ops':<9} {'tune us':>9} {'kornia us':>10} {'ratio':>7}")
    ratios = []
    g = torch.Generator().manual_seed(0)
    for shape in SHAPES:
        for n in BATCHES:
            x = torch.rand(n, *shape, generator=g).to(device)
            for name, aug in SINGLE.items():
                kor = kornia_pipeline(aug, shape).to(device)
                gen = torch.Generator().manual_seed(1)

                def ours() -> None:
                    for _ in range(calls):
                        augment(x, aug, gen)

                def theirs() -> None:
                    for _ in range(calls):
                        kor(x)

                t, ratio = paired({"tune": ours, "kornia": theirs}, repeats, device)
                ratios.append(ratio)
                print(f"    {'x'.join(map(str, shape)):<8} {n:>5}  {name:<9} {t['tune'] / calls * 1e6:>9.0f} "
                      f"{t['kornia'] / calls * 1e6:>10.0f} {ratio:>7.2f}")
    print(f"    median ratio {statistics.median(ratios):.2f}, smallest {min(ratios):.2f}")
    return ratios


# --- (b) and (c): training throughput ------------------------------------------

def train_in_memory(model, x, y, epochs, batch_size, transform, seed=0) -> None:
    """The hand-written loop: shuffle by permutation, index, (augment), step."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g).to(x.device)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb = x[idx]
            if transform is not None:
                xb = transform(xb)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def batches_in_memory(x, y, epochs, batch_size, transform, seed=0) -> None:
    """The hand-written loop's data side only: shuffle, index, augment."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g).to(x.device)
        for i in range(0, len(y), batch_size):
            idx = perm[i:i + batch_size]
            transform(x[idx]), y[idx]


def train_loader(model, loader, epochs, device) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def torchvision_transform(aug: Augmentation, shape: tuple[int, int, int]):
    """torchvision's v2 per-sample pipeline for ``aug``, or None without torchvision."""
    try:
        from torchvision.transforms import v2
    except Exception:  # absent, or a build that does not match this torch
        return None
    c, h, w = shape
    s = aug.jitter
    side = round(aug.cutout * min(h, w))
    return v2.Compose([
        v2.ColorJitter(brightness=s, contrast=s, saturation=s if c == 3 else None),
        v2.RandomResizedCrop((h, w), scale=(aug.crop, 1.0), antialias=False),
        v2.RandomHorizontalFlip(aug.flip),
        v2.RandomCrop((h, w), padding=round(aug.translate * w)),
        v2.RandomErasing(p=1.0, scale=(side * side / (h * w),) * 2, ratio=(1.0, 1.0), value=0),
    ])


def plain_per_sample_transform(aug: Augmentation, shape: tuple[int, int, int]):
    """The same five operations on one sample (C, H, W) with plain torch calls and
    Python-drawn parameters: what a per-sample pipeline does for each image."""
    c, h, w = shape
    lo, hi = math.log(3 / 4), math.log(4 / 3)
    pad = round(aug.translate * w)
    side = round(aug.cutout * min(h, w))

    def transform(img: torch.Tensor) -> torch.Tensor:
        s = aug.jitter
        f = torch.empty(3).uniform_(1 - s, 1 + s)
        img = img * f[0]
        img = f[1] * img + (1 - f[1]) * img.mean()
        if c == 3:
            grey = (img * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
            img = f[2] * img + (1 - f[2]) * grey
        for _ in range(10):
            area = h * w * float(torch.empty(1).uniform_(aug.crop, 1.0))
            ratio = math.exp(float(torch.empty(1).uniform_(lo, hi)))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (1,)))
                left = int(torch.randint(0, w - cw + 1, (1,)))
                img = F.interpolate(img[None, :, top:top + ch, left:left + cw], size=(h, w),
                                    mode="bilinear", align_corners=False)[0]
                break
        if float(torch.rand(1)) < aug.flip:
            img = img.flip(-1)
        if pad:
            padded = F.pad(img, (pad, pad, pad, pad))
            top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
            img = padded[:, top:top + h, left:left + w]
        if side:
            top = int(torch.randint(0, h - side + 1, (1,)))
            left = int(torch.randint(0, w - side + 1, (1,)))
            img = img.clone()
            img[:, top:top + side, left:left + side] = 0
        return img

    return transform


class PerSample(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(self.x[i]), self.y[i]


def tasks(device: torch.device):
    """(name, model, x, y, batch size, epochs): a small CNN on two image shapes."""
    from tuner.sources import load_digits
    train, _ = load_digits()
    x = (train.x - train.x.mean()) / train.x.std()
    torch.manual_seed(0)
    digits = build_cnn(HP(), (1, 8, 8), 10)
    yield "cnn on digits 1x8x8", digits, x.to(device), train.y.to(device), 64, 3
    g = torch.Generator().manual_seed(0)
    xc = torch.randn(1024, 3, 32, 32, generator=g)  # normalised-looking colour images
    yc = torch.randint(0, 10, (1024,), generator=g)
    torch.manual_seed(0)
    cnn = build_cnn(HP(fixed={"width": 16, "depth": 2}), (3, 32, 32), 10)
    yield "cnn16 on 3x32x32", cnn, xc.to(device), yc.to(device), 128, 1


def throughput(repeats: int, device: torch.device) -> tuple[list[float], list[float]]:
    print("(b) training throughput, all five augmentations on vs off "
          f"({ALL.describe()}); ratio = on / off samples/s (target >= 0.85)")
    on_off = []
    for name, model, x, y, bs, epochs in tasks(device):
        samples = epochs * len(y)
        aug = BatchAugment(ALL, 0)
        t, ratio = paired({
            "off": lambda: train_in_memory(copy.deepcopy(model), x, y, epochs, bs, None),
            "on": lambda: train_in_memory(copy.deepcopy(model), x, y, epochs, bs, aug),
        }, repeats, device)
        ratio = 1 / ratio  # paired() gives time on / time off; throughput is its inverse
        on_off.append(ratio)
        print(f"    {name:<20} off {samples / t['off']:>9,.0f} samples/s   "
              f"on {samples / t['on']:>9,.0f} samples/s   ratio {ratio:.3f}")

    pipelines = {"plain per-sample torch": plain_per_sample_transform}
    if torchvision_transform(ALL, (1, 8, 8)) is not None:
        import torchvision
        pipelines = {f"torchvision {torchvision.__version__} v2": torchvision_transform, **pipelines}
    else:
        print("(c) torchvision does not import here (PyPI's torchvision needs its matching torch): "
              "comparing against the same operations written per sample in plain torch instead")
    print("(c) tune's batched augmentation vs a per-sample pipeline in a DataLoader's Dataset; "
          "ratio = tune / per-sample samples/s (target >= 3 against torchvision)")
    speedups = []
    for name, model, x, y, bs, epochs in tasks(device):
        shape = tuple(x.shape[1:])
        for which, make in pipelines.items():
            loader = DataLoader(PerSample(x.cpu(), y.cpu(), make(ALL, shape)), batch_size=bs,
                                shuffle=True, generator=torch.Generator().manual_seed(0),
                                num_workers=0)
            samples = epochs * len(y)
            aug = BatchAugment(ALL, 0)
            t, ratio = paired({
                "tune": lambda: train_in_memory(copy.deepcopy(model), x, y, epochs, bs, aug),
                "per-sample": lambda: train_loader(copy.deepcopy(model), loader, epochs, device),
            }, repeats, device)
            speedups.append(ratio)
            print(f"    {name:<20} {which:<24} {samples / t['per-sample']:>9,.0f} samples/s   "
                  f"tune {samples / t['tune']:>9,.0f} samples/s   ratio {ratio:.2f}")
            # The data pipeline alone (no model): what bounds the ratio above when the
            # model's own step costs more than the augmentation.
            t, ratio = paired({
                "tune": lambda: batches_in_memory(x, y, epochs, bs, aug),
                "per-sample": lambda: [None for _ in range(epochs) for _ in loader],
            }, repeats, device)
            print(f"    {'  data only':<20} {which:<24} {samples / t['per-sample']:>9,.0f} samples/s   "
                  f"tune {samples / t['tune']:>9,.0f} samples/s   ratio {ratio:.2f}")
    return on_off, speedups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--calls", type=int, default=20, help="augmentation calls per timed op-cost run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["a", "b"], help="run (a) only, or (b) and (c) only")
    ap.add_argument("--clock", choices=["auto", "cpu", "wall"], default="auto",
                    help="cpu: the process's CPU time, which leaves out the time other "
                         "processes hold the cores (a shared machine); auto: cpu on the CPU "
                         "device, wall on a GPU")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    global CLOCK
    clock = args.clock if args.clock != "auto" else ("cpu" if device.type == "cpu" else "wall")
    CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {device}, "
          f"{args.repeats} paired repeats, {clock} clock")
    if args.only != "b":
        op_cost(args.repeats, device, args.calls)
    if args.only != "a":
        on_off, speedups = throughput(args.repeats, device)
        print(f"worst on/off ratio {min(on_off):.3f} (target >= 0.85); "
              f"smallest speed-up over a per-sample pipeline {min(speedups):.2f}x (target >= 3)")


if __name__ == "__main__":
    main()
