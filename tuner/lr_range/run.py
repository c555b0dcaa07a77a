"""``tune lr-range``: the decade probe, the repeated range test, the suggestion,
and the saved result that the coarse search centres on."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tuner.errors import TuneError
from tuner.experiment import Experiment
from tuner.lr_range.curve import Curve
from tuner.lr_range.decade_probe import (HORIZON_EPOCHS, MAX_PROBE_LR, MIN_PROBE_LR, PROBE_LRS, ProbeRow,
                                         horizon_steps, probe, probe_iters_for, probe_params)
from tuner.lr_range.suggest import suggest
from tuner.lr_range.sweep import END_LR, START_LR, range_test
from tuner.outdir import load_json, out_dir, save_json

RESULT_FILE = "lr_range.json"
PLOT_FILE = "lr_range.png"
DEFAULT_ITERS = 100
DEFAULT_REPEATS = 3
MIN_ITERS = 10

# on_progress(phase, done, total): phase is "probe" or "sweep".
OnProgress = Callable[[str, int, int], None]


@dataclass
class LRRangeResult:
    """Everything ``tune lr-range`` found; ``to_dict`` is the ``--json`` output
    and the content of ``<out>/lr_range.json``.

    ``range`` is the ``[low, high]`` span recommended for the coarse search;
    ``repeat_suggestions`` are the range tests' own estimates and
    ``spread_decades`` how far apart they were; ``source`` says where
    ``suggested_lr`` came from (``probe``, ``sweep`` or ``configured``).
    """

    suggested_lr: float
    range: tuple[float, float]
    spread_decades: float
    probe: list[ProbeRow]
    diverged: bool
    warnings: list[str]
    optimizer: str
    repeat_suggestions: list[float] = field(default_factory=list)
    probe_estimate: float | None = None
    sweep_estimates: list[float | None] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    seed: int = 0
    seconds: float = math.nan
    files: list[str] = field(default_factory=list)
    source: str = "probe"

    @property
    def measured(self) -> bool:
        """False when the loss never fell, so ``suggested_lr`` is only the configured LR."""
        return self.probe_estimate is not None or any(v is not None for v in self.sweep_estimates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggested_lr": self.suggested_lr,
            "range": list(self.range),
            "spread_decades": self.spread_decades,
            "probe": [r.to_dict() for r in self.probe],
            "diverged": self.diverged,
            "warnings": list(self.warnings),
            "optimizer": self.optimizer,
            "repeat_suggestions": self.repeat_suggestions,
            "probe_estimate": self.probe_estimate,
            "sweep_estimates": self.sweep_estimates,
            "settings": self.settings,
            "task": self.task,
            "seed": self.seed,
            "seconds": self.seconds,
            "curves": [c.to_dict() for c in self.curves],
            "files": self.files,
            "source": self.source,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "LRRangeResult":
        low, high = d["range"]
        return LRRangeResult(
            float(d["suggested_lr"]), (float(low), float(high)), float(d.get("spread_decades") or 0.0),
            [ProbeRow.from_dict(r) for r in d.get("probe", [])], bool(d.get("diverged")),
            list(d.get("warnings", [])), str(d.get("optimizer", "")),
            [float(v) for v in d.get("repeat_suggestions", [])], d.get("probe_estimate"),
            list(d.get("sweep_estimates", [])), [Curve.from_dict(c) for c in d.get("curves", [])],
            dict(d.get("settings", {})), str(d.get("task", "")), int(d.get("seed", 0)),
            math.nan if d.get("seconds") is None else float(d["seconds"]), list(d.get("files", [])),
            str(d.get("source", "probe")))


def check_settings(probe_lrs: tuple[float, ...], iters: int, repeats: int,
                   start_lr: float, end_lr: float, probe_iters: int | None = None) -> None:
    """Reject settings no run could use, naming the flag (before anything runs)."""
    bad = [lr for lr in probe_lrs if not (math.isfinite(lr) and lr > 0)]
    if bad:
        raise TuneError(f"--probe {bad[0]:g}: every probe LR must be a positive number",
                        "for example --probe 1e-1,1e-2,1e-3")
    if iters < MIN_ITERS:
        raise TuneError(f"--iters {iters}: the sweep needs at least {MIN_ITERS} iterations",
                        f"use the default --iters {DEFAULT_ITERS}")
    if probe_iters is not None and probe_iters < 1:
        raise TuneError(f"--probe-iters {probe_iters}: must be at least 1",
                        f"leave it out: the probe then trains {HORIZON_EPOCHS} epochs' steps per LR")
    if repeats < 1:
        raise TuneError(f"--repeats {repeats}: must be at least 1", f"use the default --repeats {DEFAULT_REPEATS}")
    if not (0 < start_lr < end_lr and math.isfinite(end_lr)):
        raise TuneError(f"--start-lr {start_lr:g} --end-lr {end_lr:g}: need 0 < start < end",
                        f"for example --start-lr {START_LR:g} --end-lr {END_LR:g}")


def parse_lrs(texts: list[str]) -> tuple[float, ...]:
    """``--probe`` values: each may be a comma-separated list (``1e-1,1e-2``)."""
    lrs: list[float] = []
    for text in texts:
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                lrs.append(float(part))
            except ValueError:
                raise TuneError(f"--probe {part.strip()}: not a number",
                                "give learning rates like --probe 1e-1,1e-2,1e-3") from None
    if not lrs:
        raise TuneError("--probe: no learning rate given", "for example --probe 1e-1,1e-2,1e-3")
    return tuple(sorted(set(lrs), reverse=True))


def lr_range(exp: Experiment, *, probe_lrs: tuple[float, ...] = PROBE_LRS, iters: int = DEFAULT_ITERS,
             repeats: int = DEFAULT_REPEATS, start_lr: float = START_LR, end_lr: float = END_LR,
             probe_iters: int | None = None, horizon_epochs: float = HORIZON_EPOCHS,
             out: str | Path | None = None, on_progress: OnProgress | None = None) -> LRRangeResult:
    """Probe, sweep ``repeats`` times, suggest; save to ``out`` when given.

    Everything starts from ``exp.build()`` (seeded: the weights the user
    will train from) and is restored in memory between runs. The probe trains
    each LR for the steps of ``horizon_epochs`` epochs (the coarse search's
    trials; at most MAX_PROBE_ITERS) unless ``probe_iters`` says otherwise.
    The sweeps use the task's optimizer settings; repeat ``r`` shuffles with
    its own seed.
    """
    check_settings(probe_lrs, iters, repeats, start_lr, end_lr, probe_iters)
    exp.require_trainable()
    horizon = horizon_steps(len(exp.train), exp.params.batch_size, horizon_epochs)
    if probe_iters is None:
        probe_iters = probe_iters_for(len(exp.train), exp.params.batch_size, horizon_epochs)
    started = time.perf_counter()
    model = exp.build().model
    common = dict(loss_fn=exp.task.loss_fn, device=exp.device)

    def report(phase: str, offset: int = 0, total: int | None = None) -> Callable[[int, int], None] | None:
        if on_progress is None:
            return None
        return lambda done, n: on_progress(phase, offset + done, total or n)

    pparams = probe_params(exp.params, "weight_decay" in exp.fixed)
    rows = probe(model, exp.train, pparams, lrs=probe_lrs, iters=probe_iters, seed=exp.seed,
                 on_step=report("probe"), **common)
    sweeps = [range_test(model, exp.train, exp.params, start_lr=start_lr, end_lr=end_lr, iters=iters,
                         seed=exp.seed * 1000 + r, on_step=report("sweep", r * iters, repeats * iters),
                         **common)
              for r in range(repeats)]
    if on_progress is not None:
        on_progress("sweep", repeats * iters, repeats * iters)  # a diverged sweep ends early

    s = suggest(rows, sweeps, exp.params.lr)
    warnings = probe_warnings(rows, s.lr) + s.warnings
    if probe_iters < horizon:
        warnings.append(f"the probe trained {probe_iters} steps per LR, fewer than the {horizon} of "
                        f"{horizon_epochs:g} epochs: the suggestion is for shorter runs than the "
                        f"coarse search's, and may be high (--probe-iters sets the steps)")
    undiverged = sum(not sw.diverged for sw in sweeps)
    if undiverged:
        warnings.append(f"the loss never diverged up to lr {end_lr:g} in {undiverged} of {repeats} "
                        f"sweep(s): the upper edge is not located; raise --end-lr")
    result = LRRangeResult(
        s.lr, (s.low, s.high), s.spread_decades, rows, undiverged == 0, warnings, exp.params.optimizer,
        s.per_repeat, s.probe_lr, s.sweep_lrs,
        [Curve(sw.lrs, sw.smoothed, sw.diverged) for sw in sweeps],
        {"start_lr": start_lr, "end_lr": end_lr, "iters": iters, "repeats": repeats,
         "probe_iters": probe_iters, "horizon_epochs": horizon_epochs, "horizon_steps": horizon,
         "batch_size": exp.params.batch_size,
         "weight_decay": exp.params.weight_decay, "probe_weight_decay": pparams.weight_decay,
         "momentum": exp.params.momentum if exp.params.optimizer == "sgd" else None},
        exp.recipe.task.label(), exp.seed, time.perf_counter() - started, source=s.source)
    if out is not None:
        save_lr_range(result, out)
    return result


def probe_warnings(rows: list[ProbeRow], suggested: float) -> list[str]:
    """What the probe says about the suggestion and about itself."""
    warnings = []
    if not any(r.outcome == "drops" for r in rows):
        warnings.append("no probe LR made the loss drop: every one exploded or stayed flat")
        return warnings
    exploded_below = [r.lr for r in rows if r.outcome == "exploded" and r.lr <= suggested * 10 ** 0.25]
    if exploded_below:
        warnings.append(f"the probe exploded at lr {min(exploded_below):g}, at or below the suggestion "
                        f"{suggested:.3g}: start the search lower")
    drops = [r for r in rows if r.outcome == "drops"]
    best = max(drops, key=lambda r: r.drop or 0.0)
    # The probe extends past an end that trains best, as far as MIN/MAX_PROBE_LR: only there
    # can the best LR still lie beyond what it measured.
    if best.lr == max(r.lr for r in rows) and best.lr * 10 > MAX_PROBE_LR:
        warnings.append(f"the largest probe LR ({best.lr:g}) trained best: a larger LR may be better")
    elif best.lr == min(r.lr for r in rows) and best.lr / 10 < MIN_PROBE_LR:
        warnings.append(f"the smallest probe LR ({best.lr:g}) trained best: a smaller LR may be better")
    return warnings


def save_lr_range(result: LRRangeResult, out: str | Path) -> list[str]:
    """Write ``lr_range.json`` and ``lr_range.png`` to ``out`` (atomically)."""
    from tuner.lr_range.plot import plot_lr_range

    folder = out_dir(out)
    png = plot_lr_range(result, folder / PLOT_FILE)
    result.files = [str(folder / RESULT_FILE), str(png)]
    save_json(folder / RESULT_FILE, result.to_dict())
    return result.files


def load_lr_range(out: str | Path) -> LRRangeResult | None:
    """The result saved in ``out`` by ``tune lr-range``, or ``None`` if there is none."""
    path = Path(out) / RESULT_FILE
    if not path.exists():
        return None
    try:
        return LRRangeResult.from_dict(load_json(path))
    except (KeyError, TypeError, ValueError):
        raise TuneError(f"{path}: not a result of tune lr-range", "run tune lr-range again") from None
