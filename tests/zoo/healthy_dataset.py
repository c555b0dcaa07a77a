"""HEALTHY: a map-style Dataset with a random augmentation (Gaussian jitter) per sample."""
import torch
from torch.utils.data import Dataset

from zoo_data import blobs, mlp


class Jittered(Dataset):
    def __init__(self, x, y, noise):
        self.x, self.y, self.noise = x, y, noise

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i] + self.noise * torch.randn_like(self.x[i]), int(self.y[i])


def build_model(hp):
    return mlp([64, 64])


def load_data():
    (xt, yt), (xv, yv) = blobs()
    return Jittered(xt, yt, 0.3), Jittered(xv, yv, 0.0)
