"""An MLP with BatchNorm (three hidden layers of 256) on the generated tabular set.

A task file of ``benchmarks/lr_suggestion.py``; the data comes from ``generated.py``
(fixed seeds, no downloads)."""
from generated import mlp, tabular


def build_model(hp):
    return mlp(20, 5, depth=3, width=256, batchnorm=True)


def load_data():
    return tabular()
