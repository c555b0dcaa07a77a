"""``tune lr-range``: a decade probe plus a repeated, noise-robust LR range test.

* :func:`decade_probe` (``decade_probe.py``): a few LRs a decade apart, each trained
  briefly from the same weights and classified ``exploded``/``flat``/``drops``.
* :func:`range_test` (``sweep.py``): one exponential LR sweep on any model,
  which restores model, optimizer and RNG state in memory afterwards.
* :func:`suggest` (``suggest.py``): probe and sweeps combined in log space.
* :func:`lr_range` (``run.py``): all of it for an Experiment, saved to ``--out``.
"""

from tuner.lr_range.decade_probe import PROBE_LRS, ProbeRow, decade_probe
from tuner.lr_range.run import LRRangeResult, load_lr_range, lr_range, parse_lrs, save_lr_range
from tuner.lr_range.suggest import Suggestion, suggest
from tuner.lr_range.sweep import Sweep, preserved, range_test

__all__ = ["PROBE_LRS", "LRRangeResult", "ProbeRow", "Suggestion", "Sweep", "decade_probe",
           "load_lr_range", "lr_range", "parse_lrs", "preserved", "range_test", "save_lr_range",
           "suggest"]
