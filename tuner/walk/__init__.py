"""Step 7: ``tune run`` walks the whole procedure (see :mod:`tuner.walk.core`)."""

from tuner.walk.core import WalkResult, walk

__all__ = ["WalkResult", "walk"]
