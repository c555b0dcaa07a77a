"""A four-layer CNN without normalisation on the noisy shapes (1x16x16, 8 classes).

A task file of ``benchmarks/lr_suggestion.py``; the data comes from ``generated.py``
(fixed seeds, no downloads)."""
from generated import cnn, shapes


def build_model(hp):
    return cnn(1, 8, batchnorm=False)


def load_data():
    return shapes()
