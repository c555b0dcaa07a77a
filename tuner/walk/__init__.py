"""Step 7: ``tune run`` walks the whole procedure (see :mod:`tuner.walk.walker`)."""

from tuner.walk.steps import WalkSettings
from tuner.walk.result import WalkResult
from tuner.walk.walker import walk

__all__ = ["WalkSettings", "WalkResult", "walk"]
