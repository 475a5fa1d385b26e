"""`mnist`: read from `ROOT/MNIST/raw/*-ubyte` (torchvision's layout)."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import TensorDataset

from taser_engine.datasets.base import DatasetInfo


@dataclass(frozen=True)
class MNISTDataset(DatasetInfo):
    def load(self, split, root, download) -> TensorDataset:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        try:
            data = TorchvisionMNIST(str(root), train=split == "train", download=download)
        except RuntimeError as exc:
            raise FileNotFoundError(
                f"MNIST not found under {root}/MNIST/raw (torchvision's layout); "
                "pass download=True on a machine that is online") from exc
        x = data.data.unsqueeze(1).float().div_(255.0)
        return TensorDataset(x, data.targets.long())


# The usual MNIST budgets (Madry et al. L∞ 0.3; L2 2.0).
MNIST = MNISTDataset("mnist", 1, 28, 10, eps_linf=0.3, eps_l2=2.0, mean=(0.1307,), std=(0.3081,), needs_root=True)
