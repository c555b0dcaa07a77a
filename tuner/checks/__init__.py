"""The sanity checks that come before any tuning (steps 1-2 and initialisation).

Each takes a prepared :class:`~tuner.experiment.Experiment` and returns a
:class:`~tuner.findings.CheckResult` (verdict, findings, metrics, files):

* :func:`check_init`: weight initialisation and inputs, one forward/backward pass;
* :func:`check_loss`: the untrained model's loss against log C and the label entropy;
* :func:`overfit_small`: can the model memorise a small stratified subset?
"""

from tuner.checks.init import check_init
from tuner.checks.loss import check_loss
from tuner.checks.overfit import overfit_small

__all__ = ["check_init", "check_loss", "overfit_small"]
