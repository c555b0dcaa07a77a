"""HEALTHY: heavy dropout (p=0.6) after every hidden layer."""
from torch import nn

from zoo_data import CLASSES, DIM, blobs


def build_model(hp):
    return nn.Sequential(nn.Linear(DIM, 128), nn.ReLU(), nn.Dropout(0.6),
                         nn.Linear(128, 128), nn.ReLU(), nn.Dropout(0.6),
                         nn.Linear(128, CLASSES))


def load_data():
    return blobs()
