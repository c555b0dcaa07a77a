"""HEALTHY: strongly imbalanced classes (80% / 12% / 5% / 3%)."""
from zoo_data import blobs, mlp


def build_model(hp):
    return mlp([64, 64])


def load_data():
    return blobs(n_train=600, weights=[0.80, 0.12, 0.05, 0.03])
