"""CIFAR-10 and MNIST read from tiny files in their real on-disk formats, and the augmentation."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
import torch

from taser_engine.datasets import (CIFAR10_DIR, augment_batch, dataset_info, load_dataset)
from taser_engine.training import TrainConfig, train


pytestmark = pytest.mark.usefixtures("one_thread")


def write_cifar10(root, per_batch: int = 4) -> dict[str, np.ndarray]:
    """The python-pickle batches of cifar-10-python.tar.gz: dicts of bytes keys, data (N, 3072) uint8."""
    folder = root / CIFAR10_DIR
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = data
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                             b"horse", b"ship", b"truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_cifar10_reads_the_pickle_batches(tmp_path):
    written = write_cifar10(tmp_path)
    train_set, test_set = load_dataset("cifar10", "train", tmp_path), load_dataset("cifar10", "test", tmp_path)
    x, y = train_set.tensors
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    # row-major 3072 = 3 channel planes of 32×32, scaled to [0, 1]
    first = written["data_batch_1"][0].reshape(3, 32, 32) / 255.0
    assert torch.allclose(x[0], torch.from_numpy(first).float())
    assert test_set.tensors[0].shape == (4, 3, 32, 32)
    info = dataset_info("cifar10")
    assert info.eps_linf == pytest.approx(8 / 255) and info.augment


def test_cifar10_refuses_a_pickle_that_runs_code(tmp_path):
    write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / CIFAR10_DIR / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_dataset("cifar10", "test", tmp_path)


def test_missing_root_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", "train", tmp_path)
    with pytest.raises(FileNotFoundError, match="MNIST"):
        load_dataset("mnist", "train", tmp_path)


def write_mnist(root, n: int = 6) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


def test_mnist_reads_the_idx_files(tmp_path):
    write_mnist(tmp_path)
    x, y = load_dataset("mnist", "test", tmp_path).tensors
    assert x.shape == (6, 1, 28, 28) and 0 <= x.min() and x.max() <= 1 and y.max() < 10


def test_augmentation_crops_a_window_of_the_padded_image_and_flips():
    x = torch.rand(32, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(0), padding=2, flip=True)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2,) * 4)
    for i in range(32):
        windows = [padded[i, :, r:r + 8, c:c + 8] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    again = augment_batch(x, torch.Generator().manual_seed(0), padding=2, flip=True)
    assert torch.equal(out, again)
    flipped_only = augment_batch(x, torch.Generator().manual_seed(1), padding=0, flip=True)
    n_flipped = sum(torch.equal(flipped_only[i], x[i].flip(2)) for i in range(32))
    assert 0 < n_flipped < 32


def test_training_runs_on_the_tiny_cifar10(tmp_path):
    write_cifar10(tmp_path / "data")
    config = TrainConfig(dataset="cifar10", data_root=str(tmp_path / "data"), arch="small_cnn", width=4,
                         epochs=1, batch_size=10, method="pgd", num_steps=1, taser=True, device="cpu")
    result = train(config, None, tmp_path / "run")
    assert result["steps"] == 2 and 0.0 <= result["clean_acc"] <= 1.0


def test_every_dataset_names_a_preset_that_exists():
    from taser_engine.datasets import DATASETS
    from taser_engine.training import PRESETS

    assert all(info.default_preset in PRESETS for _, info in DATASETS.items())
    assert dataset_info("cifar10").default_preset == "paper-cifar10"
