"""BUG: a deep ReLU net initialised with std 0.01: activations vanish with depth."""
from zoo_data import blobs, mlp, normal_init


def build_model(hp):
    return normal_init(mlp([256] * 6), std=0.01)  # Kaiming would be sqrt(2/256) ~ 0.09


def load_data():
    return blobs()
