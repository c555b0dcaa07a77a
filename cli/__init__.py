"""The ``tune`` command line: parse flags, call :mod:`tuner`, render the result.

Importing this package must not import torch, optuna or matplotlib: each
command imports the library inside its body, so ``tune --help`` stays fast.
"""
