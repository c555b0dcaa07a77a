"""HEALTHY: a small CNN with BatchNorm on scikit-learn's 8x8 digits, normalised per channel."""
from torch import nn

from tuner.sources import load_digits


def build_model(hp):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def load_data():
    train, val = load_digits()  # 1x8x8 images, values 0-16, a stratified split
    xt, yt, xv, yv = train.x[:600], train.y[:600], val.x[:200], val.y[:200]
    mean, std = xt.mean(), xt.std()
    return ((xt - mean) / std, yt), ((xv - mean) / std, yv)
