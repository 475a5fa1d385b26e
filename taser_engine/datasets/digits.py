"""`digits`: scikit-learn's bundled 8×8 digits (offline, the CPU default), a fixed 80/20 split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from taser_engine.datasets.base import DatasetInfo

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DigitsDataset(DatasetInfo):
    def load(self, split, root, download) -> TensorDataset:
        from sklearn.datasets import load_digits

        data = load_digits()
        images = data.images.astype(np.float32) / 16.0
        labels = data.target.astype(np.int64)
        order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
        n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
        index = order[n_test:] if split == "train" else order[:n_test]
        x = torch.from_numpy(images[index]).unsqueeze(1)
        return TensorDataset(x, torch.from_numpy(labels[index]))


# Digits pixels take 17 grey levels; 8/255 is below one level, so a coarser default budget.
DIGITS = DigitsDataset("digits", 1, 8, 10, eps_linf=0.1, eps_l2=0.5, mean=(0.305,), std=(0.376,))
