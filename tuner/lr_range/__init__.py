"""``tune lr-range``: a decade probe at the coarse search's horizon plus a
repeated, noise-robust LR range test.

* :func:`probe` (``decade_probe.py``): LRs a decade apart, each trained from the same
  weights for a coarse trial's steps and classified ``exploded``/``flat``/``drops``,
  extended past an end that trains best and refined to half decades around the
  best (:func:`decade_probe` runs a given list).
* :func:`range_test` (``sweep.py``): one exponential LR sweep on any model,
  which restores model, optimizer and RNG state in memory afterwards.
* :func:`suggest` (``suggest.py``): the probe's estimate, the range tests' beside it.
* :func:`lr_range` (``run.py``): all of it for an Experiment, saved to ``--out``.
"""

from tuner.lr_range.decade_probe import PROBE_LRS, ProbeRow, decade_probe, probe
from tuner.lr_range.run import LRRangeResult, load_lr_range, lr_range, parse_lrs, save_lr_range
from tuner.lr_range.suggest import Suggestion, suggest
from tuner.lr_range.sweep import Sweep, preserved, range_test

__all__ = ["PROBE_LRS", "LRRangeResult", "ProbeRow", "Suggestion", "Sweep", "decade_probe",
           "load_lr_range", "lr_range", "parse_lrs", "preserved", "probe", "range_test", "save_lr_range",
           "suggest"]
