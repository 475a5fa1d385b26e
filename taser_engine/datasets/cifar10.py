"""`cifar10`: read from `ROOT/cifar-10-batches-py/data_batch_1..5, test_batch` (torchvision's layout).

The pickle batches are read with a restricted unpickler that only rebuilds dicts, lists and numpy
arrays, so a tampered file cannot run code. With `download=True` torchvision fetches them first
(online machines only).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from taser_engine.datasets.base import DatasetInfo

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCHES = ("test_batch",)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds only what a CIFAR batch holds: dicts, lists, bytes and numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; CIFAR-10 is read from ROOT/{CIFAR10_DIR}/ (torchvision's layout); "
            "pass download=True on a machine that is online")
    batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    data = batch.get("data", batch.get(b"data"))
    labels = batch.get("labels", batch.get(b"labels"))
    if data is None or labels is None:
        raise ValueError(f"{path} is not a CIFAR-10 batch (no 'data'/'labels')")
    images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    return images, np.asarray(labels, dtype=np.int64)


@dataclass(frozen=True)
class CIFAR10Dataset(DatasetInfo):
    def load(self, split, root, download) -> TensorDataset:
        if download:
            from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

            TorchvisionCIFAR10(str(root), train=split == "train", download=True)
        names = CIFAR10_TRAIN_BATCHES if split == "train" else CIFAR10_TEST_BATCHES
        parts = [_read_cifar_batch(root / CIFAR10_DIR / name) for name in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        x = torch.from_numpy(images).float().div_(255.0)
        return TensorDataset(x, torch.from_numpy(labels))


# Paper C.6: L∞ 8/255 and L2 128/255.
CIFAR10 = CIFAR10Dataset("cifar10", 3, 32, 10, eps_linf=8 / 255, eps_l2=128 / 255,
                         mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
                         augment=True, needs_root=True, default_arch="resnet18",
                         default_preset="paper-cifar10")
