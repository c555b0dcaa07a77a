"""The walk's epoch budget (``tune run --epoch-budget N``): how N epochs are split.

A walk trains in five kinds of steps: the transfer comparison (with
``--pretrained``), the coarse search, the fine search, the retraining of the
best configuration, and the later rounds (each a fine search in the adjusted
space and a retraining). :func:`plan_epochs` splits the budget among them
before the walk starts, and :meth:`EpochPlan.target` gives each step, when it
runs (the walker's ``allowance``), its share plus whatever the steps before it left unused (a search
stops with less than one trial's length of its share left; a pruned trial's
saved epochs go to more trials within the same search).

The first round's search is split by :func:`split_search`, whose constants
were chosen by measurement (``benchmarks/search_efficiency.py --candidates``,
on seeds apart from the comparison's): see :data:`COARSE_SHARE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuner.errors import TuneError
from tuner.search.driver import COARSE_EPOCHS, FINE_FACTOR

# Of a coarse + fine search budget, the share the coarse search gets (the fine
# search gets the rest, plus what the coarse one left unused). Measured: see the
# module docstring and the README's search benchmark (which also says where it falls short).
COARSE_SHARE = 0.4
# Of a walk's budget (after the transfer comparison), the share of the first round
# (coarse + fine search and the retraining) when later rounds may follow; the later
# rounds split the rest evenly when they start.
FIRST_ROUND_SHARE = 0.6


@dataclass(frozen=True)
class SearchSplit:
    """A coarse + fine search budget: ``coarse`` epochs for the coarse search in
    trials of ``coarse_epochs``, the rest (``fine``) for the fine search in trials
    of ``fine_epochs``."""

    budget: int
    coarse: int
    coarse_epochs: int
    fine_epochs: int

    @property
    def fine(self) -> int:
        return self.budget - self.coarse

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "coarse": self.coarse, "fine": self.fine,
                "coarse_share": round(self.coarse / self.budget, 3) if self.budget else None,
                "coarse_epochs_per_trial": self.coarse_epochs, "fine_epochs_per_trial": self.fine_epochs}


def split_search(budget: int, *, coarse_epochs: int | None = None,
                 fine_epochs: int | None = None) -> SearchSplit:
    """Split ``budget`` epochs between a coarse search and the fine search after it.

    The coarse search gets :data:`COARSE_SHARE` of it (at least one of its
    trials), the fine search the rest (at least one of its trials).

    Raises:
        TuneError: ``budget`` holds less than one coarse and one fine trial.
    """
    ce = coarse_epochs or COARSE_EPOCHS
    fe = fine_epochs or ce * FINE_FACTOR
    if budget < ce + fe:
        raise TuneError(f"--epoch-budget {budget}: a coarse and a fine search need at least "
                        f"{ce + fe} epochs (one trial of {ce} and one of {fe})",
                        f"give at least {ce + fe}, or shorter trials with --epochs")
    coarse = min(max(ce, round(budget * COARSE_SHARE)), budget - fe)
    return SearchSplit(budget, coarse, ce, fe)


@dataclass(frozen=True)
class EpochPlan:
    """A walk's epoch budget, split before it starts.

    ``transfer`` epochs for the transfer comparison, ``search`` for the first
    coarse and fine searches, ``retrain`` for the first retraining, and what is
    left (``later``) for the ``rounds`` later rounds, split evenly among those
    still to run when each starts (a round's fine search gets its share less
    its retraining's length, at least one trial).
    """

    budget: int
    transfer: int
    search: SearchSplit
    retrain: int
    rounds: int

    @property
    def later(self) -> int:
        return self.budget - self.transfer - self.search.budget - self.retrain

    def target(self, part: str) -> int:
        """Epochs the walk may have spent by the end of ``part`` (transfer, coarse,
        fine, retrain): a step's allowance is this less what the steps before it
        spent, so what one leaves unused goes to the next."""
        ends = {"transfer": self.transfer, "coarse": self.transfer + self.search.coarse,
                "fine": self.transfer + self.search.budget,
                "retrain": self.transfer + self.search.budget + self.retrain}
        return ends[part]

    def round_share(self, spent: int, rounds_left: int) -> int:
        """A later round's epochs: what is left, split evenly among the rounds to run."""
        return max(0, self.budget - spent) // max(1, rounds_left)

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "transfer": self.transfer, "coarse": self.search.coarse,
                "fine": self.search.fine, "retrain": self.retrain, "later_rounds": self.later,
                "rounds": self.rounds, "coarse_share": self.search.to_dict()["coarse_share"],
                "coarse_epochs_per_trial": self.search.coarse_epochs,
                "fine_epochs_per_trial": self.search.fine_epochs}


def plan_epochs(budget: int, *, rounds: int, retrain_epochs: int, coarse_epochs: int | None = None,
                transfer: int = 0) -> EpochPlan:
    """Split a walk's ``budget``: ``transfer`` first (its strategies' fixed epochs),
    then :data:`FIRST_ROUND_SHARE` of the rest to the first round when later
    rounds may follow (all of it when ``rounds`` is 0), which retrains for
    ``retrain_epochs`` (at most a quarter of the round) and searches with the
    rest (:func:`split_search`); the later rounds get what remains.

    Raises:
        TuneError: the budget holds less than the transfer comparison, one coarse
            and one fine trial and one retraining epoch.
    """
    ce = coarse_epochs or COARSE_EPOCHS
    fe = ce * FINE_FACTOR
    least = transfer + ce + fe + 1
    if budget < least:
        with_transfer = f", after the transfer comparison's {transfer}" if transfer else ""
        raise TuneError(f"--epoch-budget {budget}: a walk needs at least {least} epochs (one coarse "
                        f"trial of {ce}, one fine trial of {fe} and a retraining{with_transfer})",
                        f"give at least {least}, or shorter trials with --epochs")
    usable = budget - transfer
    first = usable if rounds == 0 else max(ce + fe + 1, round(usable * FIRST_ROUND_SHARE))
    retrain = max(1, min(retrain_epochs, first // 4, first - ce - fe))
    return EpochPlan(budget, transfer, split_search(first - retrain, coarse_epochs=ce), retrain, rounds)
