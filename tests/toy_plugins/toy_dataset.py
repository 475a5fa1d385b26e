"""A toy dataset: 8×8 grey images of a bright row (class 0) or a bright column (class 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from taser_engine.datasets import DATASETS, DatasetInfo


@dataclass(frozen=True)
class Bars(DatasetInfo):
    def load(self, split, root, download) -> TensorDataset:
        n = 32 if split == "train" else 16
        y = torch.arange(n) % 2
        x = torch.zeros(n, 1, 8, 8)
        for i in range(n):
            if y[i] == 0:
                x[i, 0, i % 8, :] = 1.0
            else:
                x[i, 0, :, i % 8] = 1.0
        return TensorDataset(x, y)


DATASETS.register("toy_bars", Bars("toy_bars", 1, 8, 2, eps_linf=0.1, eps_l2=0.5))
