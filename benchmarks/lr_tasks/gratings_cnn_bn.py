"""A four-layer CNN with BatchNorm on the noisy colour gratings (3x16x16, 8 classes).

A task file of ``benchmarks/lr_suggestion.py``; the data comes from ``generated.py``
(fixed seeds, no downloads)."""
from generated import cnn, gratings


def build_model(hp):
    return cnn(3, 8, batchnorm=True)


def load_data():
    return gratings()
