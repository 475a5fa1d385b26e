"""What a dataset is: its shape, classes, normalisation, default threat model, and how it loads.

A dataset is a frozen `DatasetInfo` whose `load(split, root, download)` returns a `TensorDataset`
of images `(N, C, H, W)` in [0, 1] (float32) and integer labels; `datasets/__init__.py` registers
one instance per name in `DATASETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import TensorDataset

from taser_engine.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    in_channels: int
    image_size: int
    num_classes: int
    eps_linf: float  # default L∞ budget in [0, 1] pixel units
    eps_l2: float  # default L2 budget
    mean: tuple[float, ...] = (0.5,)  # per-channel normalisation applied inside the model
    std: tuple[float, ...] = (0.5,)
    augment: bool = False  # standard augmentation (random crop with padding, horizontal flip)
    needs_root: bool = False  # read from a local root (not bundled)
    default_arch: str = "small_cnn"  # the classifier a training config builds when it names none
    default_preset: str = "digits-cpu"  # the `training.PRESETS` entry `taser train` starts from for it

    def load(self, split: str, root: Path | None, download: bool) -> TensorDataset:
        """The fixed `split` ('train' or 'test'); `root` is given when `needs_root`."""
        raise NotImplementedError


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.get(name)


# A config field naming one of DATASETS.
DatasetName = DATASETS.Name
