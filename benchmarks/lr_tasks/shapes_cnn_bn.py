"""The same CNN with BatchNorm after every convolution, on the noisy shapes.

A task file of ``benchmarks/lr_suggestion.py``; the data comes from ``generated.py``
(fixed seeds, no downloads)."""
from generated import cnn, shapes


def build_model(hp):
    return cnn(1, 8, batchnorm=True)


def load_data():
    return shapes()
