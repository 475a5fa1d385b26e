"""Datasets as tensors in [0, 1]: `digits` (bundled, offline default), CIFAR-10 and MNIST.

`load_dataset(name, split, root, download)` returns a `TensorDataset` of images `(N, C, H, W)` in
[0, 1] (float32) and integer labels. `dataset_info(name)` is the registered `DatasetInfo`: the
shape, the classes, the per-channel normalisation the models apply inside, whether the standard
augmentation applies, the dataset's default threat model (ε for L∞ and L2) and its default
classifier. One module per dataset; adding one is a new module and one `DATASETS.register` line
below (README, "Extending").

Augmentation (`augment_batch`) works on whole batches with an explicit generator, so a training
run's data order and augmentation are reproducible and resumable from saved generator states.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import TensorDataset

from taser_engine.datasets.augment import augment_batch
from taser_engine.datasets.base import DATASETS, DatasetInfo, DatasetName, dataset_info
from taser_engine.datasets.cifar10 import CIFAR10, CIFAR10_DIR, CIFAR10_TEST_BATCHES, CIFAR10_TRAIN_BATCHES
from taser_engine.datasets.digits import DIGITS, DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION
from taser_engine.datasets.mnist import MNIST

DATASETS.register("digits", DIGITS)
DATASETS.register("cifar10", CIFAR10)
DATASETS.register("mnist", MNIST)


def load_dataset(name: str, split: str = "train", root: str | Path | None = None,
                 download: bool = False) -> TensorDataset:
    """The fixed train/test split of a dataset, images in [0, 1] as (N, C, H, W)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    info = dataset_info(name)
    if info.needs_root and root is None:
        raise ValueError(f"dataset {name!r} is read from a local root; give its directory")
    return info.load(split, None if root is None else Path(root), download)


__all__ = [
    "CIFAR10_DIR", "CIFAR10_TEST_BATCHES", "CIFAR10_TRAIN_BATCHES", "DATASETS", "DIGITS_SPLIT_SEED",
    "DIGITS_TEST_FRACTION", "DatasetInfo", "DatasetName", "augment_batch", "dataset_info", "load_dataset",
]
