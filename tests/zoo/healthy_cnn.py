"""HEALTHY: a small CNN with BatchNorm on scikit-learn's 8x8 digits, normalised per channel."""
import torch
from torch import nn


def build_model(hp):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def load_data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)[:800]
    y = torch.tensor(digits.target, dtype=torch.long)[:800]
    x = (x - x[:600].mean()) / x[:600].std()
    return (x[:600], y[:600]), (x[600:], y[600:])
