"""Steps 4-5 of the procedure: coarse and fine hyperparameter searches.

Public API (what ``tune search``, ``tune best``, ``tune diagnose`` and
``tune run`` use):

* :func:`search` runs or resumes a study and returns a :class:`SearchResult`
  (``to_dict()`` is the ``--json`` contract).
* :class:`SearchSpace` (:func:`default_space`, :func:`fine_space`,
  :func:`apply_space_args`): the space as data, to widen or shift before a search.
* :func:`open_storage`, :func:`mask_url`, :func:`latest_study`: where studies live.
* :func:`best_hyperparameters`, :func:`format_best`: ``tune best``.

Every finished trial carries ``user_attrs["history"]`` (per-epoch curves),
``user_attrs["hp"]`` (all hyperparameters as ``--hp`` accepts them) and, when
it failed, ``user_attrs["reason"]``.
"""

from tuner.search.driver import fine_space, latest_coarse, search
from tuner.search.best import BestResult, best_hyperparameters, format_best
from tuner.search.narrow import is_narrower, narrow_space
from tuner.search.overrides import apply_space_args
from tuner.search.result import SearchProgress, SearchResult
from tuner.search.space import SearchSpace, default_space
from tuner.search.storage import latest_study, mask_url, open_storage

__all__ = [
    "BestResult", "SearchProgress", "SearchResult", "SearchSpace", "apply_space_args",
    "best_hyperparameters", "default_space", "fine_space", "format_best", "is_narrower",
    "latest_coarse", "latest_study", "mask_url", "narrow_space", "open_storage",
    "search",
]
