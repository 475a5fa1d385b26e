"""Datasets as tensors in [0, 1]: `digits` (scikit-learn's bundled 8×8 digits, offline default).

`load_dataset(name, split)` returns a `TensorDataset` of images `(N, C, H, W)` in [0, 1] and
integer labels; `DatasetInfo` carries shape, classes and the dataset's default threat model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    in_channels: int
    image_size: int
    num_classes: int
    eps_linf: float  # default L∞ budget in [0, 1] pixel units
    eps_l2: float  # default L2 budget


DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2

DATASETS: dict[str, DatasetInfo] = {
    # Digits pixels take 17 grey levels; 8/255 is below one level, so a coarser default budget.
    "digits": DatasetInfo("digits", 1, 8, 10, eps_linf=0.1, eps_l2=0.5),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {sorted(DATASETS)}")
    return DATASETS[name]


def _digits(split: str) -> TensorDataset:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images.astype(np.float32) / 16.0
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
    index = order[n_test:] if split == "train" else order[:n_test]
    x = torch.from_numpy(images[index]).unsqueeze(1)
    return TensorDataset(x, torch.from_numpy(labels[index]))


def load_dataset(name: str, split: str = "train", root: str | None = None) -> TensorDataset:
    """The fixed train/test split of a dataset, images in [0, 1] as (N, C, H, W)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    dataset_info(name)
    return _digits(split)
