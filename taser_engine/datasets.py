"""Datasets as tensors in [0, 1]: `digits` (bundled, offline default), CIFAR-10 and MNIST.

`load_dataset(name, split, root, download)` returns a `TensorDataset` of images `(N, C, H, W)` in
[0, 1] (float32) and integer labels. `DatasetInfo` carries the shape, the classes, the per-channel
normalisation the models apply inside, whether the standard augmentation applies, and the
dataset's default threat model (ε for L∞ and L2).

CIFAR-10 and MNIST are read from a local root in their standard torchvision layout
(`ROOT/cifar-10-batches-py/data_batch_1..5, test_batch`; `ROOT/MNIST/raw/*-ubyte`); with
`download=True` torchvision fetches them first (online machines only). The CIFAR-10 pickle
batches are read with a restricted unpickler that only rebuilds dicts, lists and numpy arrays,
so a tampered file cannot run code.

Augmentation (`augment_batch`) works on whole batches with an explicit generator, so a training
run's data order and augmentation are reproducible and resumable from saved generator states.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from torch import Tensor
from pydantic import AfterValidator, Field
from torch.utils.data import TensorDataset

from taser_engine.rng import draw_device


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


DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCHES = ("test_batch",)

DATASETS: dict[str, DatasetInfo] = {
    # Digits pixels take 17 grey levels; 8/255 is below one level, so a coarser default budget.
    "digits": DatasetInfo("digits", 1, 8, 10, eps_linf=0.1, eps_l2=0.5, mean=(0.305,), std=(0.376,)),
    # Paper C.6: L∞ 8/255 and L2 128/255.
    "cifar10": DatasetInfo("cifar10", 3, 32, 10, eps_linf=8 / 255, eps_l2=128 / 255,
                           mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
                           augment=True, needs_root=True),
    # The usual MNIST budgets (Madry et al. L∞ 0.3; L2 2.0).
    "mnist": DatasetInfo("mnist", 1, 28, 10, eps_linf=0.3, eps_l2=2.0, mean=(0.1307,), std=(0.3081,),
                         needs_root=True),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {str(name)[:40]!r}; choose one of {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def _known_dataset(name: str) -> str:
    dataset_info(name)
    return name


# A config field naming one of DATASETS.
DatasetName = Annotated[str, AfterValidator(_known_dataset), Field(json_schema_extra={"choices": sorted(DATASETS)})]


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


def _cifar10(split: str, root: Path, download: bool) -> TensorDataset:
    if download:
        from torchvision.datasets import CIFAR10

        CIFAR10(str(root), train=split == "train", download=True)
    names = CIFAR10_TRAIN_BATCHES if split == "train" else CIFAR10_TEST_BATCHES
    parts = [_read_cifar_batch(root / CIFAR10_DIR / name) for name in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    x = torch.from_numpy(images).float().div_(255.0)
    return TensorDataset(x, torch.from_numpy(labels))


def _mnist(split: str, root: Path, download: bool) -> TensorDataset:
    from torchvision.datasets import MNIST

    try:
        data = MNIST(str(root), train=split == "train", download=download)
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"MNIST not found under {root}/MNIST/raw (torchvision's layout); "
            "pass download=True on a machine that is online") from exc
    x = data.data.unsqueeze(1).float().div_(255.0)
    return TensorDataset(x, data.targets.long())


def load_dataset(name: str, split: str = "train", root: str | Path | None = None,
                 download: bool = False) -> TensorDataset:
    """The fixed train/test split of a dataset, images in [0, 1] as (N, C, H, W)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    info = dataset_info(name)
    if not info.needs_root:
        return _digits(split)
    if root is None:
        raise ValueError(f"dataset {name!r} is read from a local root; give its directory")
    loader = _cifar10 if name == "cifar10" else _mnist
    return loader(split, Path(root), download)


def augment_batch(x: Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True,
                  score: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Standard CIFAR augmentation on a batch: random crop after zero-padding, horizontal flip.

    Random numbers come from `generator` (on x's device, or the CPU), so runs are reproducible.
    With `score` (cached scores of the same images) the same crop and flip are applied to it and
    `(x, score)` is returned: the score's padded border is 0, as for the image (scores/cache.py
    says how far that is from the score of the augmented image).
    """
    b, _, h, w = x.shape
    dev = draw_device(generator, x)
    tensors = [x] if score is None else [x, score]
    if padding > 0:
        top = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=dev).to(x.device)
        left = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=dev).to(x.device)
        rows = (top.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        cols = (left.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
        batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
        chan = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        tensors = [torch.nn.functional.pad(t, (padding,) * 4)[batch, chan, rows, cols] for t in tensors]
    if flip:
        flips = (torch.rand(b, generator=generator, device=dev).to(x.device) < 0.5).view(b, 1, 1, 1)
        tensors = [torch.where(flips, t.flip(3), t) for t in tensors]
    return tensors[0] if score is None else (tensors[0], tensors[1])
