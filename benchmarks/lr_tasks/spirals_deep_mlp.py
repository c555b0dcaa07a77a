"""A deep MLP (six hidden layers of 128, no normalisation) on five 2-D spiral arms.

A task file of ``benchmarks/lr_suggestion.py``; the data comes from ``generated.py``
(fixed seeds, no downloads)."""
from generated import mlp, spirals


def build_model(hp):
    return mlp(2, 5, depth=6, width=128)


def load_data():
    return spirals()
