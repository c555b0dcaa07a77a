"""The label distribution: class counts, entropy, chance level, imbalance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# max count / min count (over the classes present) from which the imbalance
# changes what "a good loss at init" and "chance accuracy" mean.
IMBALANCE_RATIO = 5.0


@dataclass
class LabelStats:
    num_classes: int
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def present(self) -> int:
        return sum(1 for c in self.counts if c > 0)

    @property
    def entropy(self) -> float:
        """Entropy (nats) of the label distribution: the loss of the best
        constant prediction (the class priors)."""
        return -sum(c / self.total * math.log(c / self.total) for c in self.counts if c > 0)

    @property
    def majority_share(self) -> float:
        """Accuracy of always predicting the most frequent class: chance level."""
        return max(self.counts) / self.total

    @property
    def imbalance(self) -> float:
        """Most frequent over least frequent class, among the classes present."""
        present = [c for c in self.counts if c > 0]
        return max(present) / min(present)

    @property
    def imbalanced(self) -> bool:
        return self.present > 1 and self.imbalance >= IMBALANCE_RATIO

    def to_dict(self) -> dict:
        d = {"num_classes": self.num_classes, "classes_present": self.present,
             "label_entropy": self.entropy, "log_num_classes": math.log(self.num_classes),
             "majority_share": self.majority_share, "imbalance_ratio": self.imbalance}
        if self.num_classes <= 100:
            d["class_counts"] = self.counts
        return d


def label_stats(labels: torch.Tensor, num_classes: int) -> LabelStats:
    counts = torch.bincount(labels.cpu().long().flatten(), minlength=num_classes)
    return LabelStats(num_classes, [int(c) for c in counts])
