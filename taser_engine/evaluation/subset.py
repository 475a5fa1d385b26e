"""The fixed evaluation subset: N_eval test points drawn once per dataset with a recorded seed.

The paper evaluates every method on the same N_eval = 1000 test points (C.6). The subset is a
pure function of (dataset, N_eval, seed), so every run that asks for it gets the same points; its
`fingerprint` travels with each evaluation result so that tables pair only runs that share it.
The draw is a prefix of one seeded permutation, so a smaller subset is contained in a larger one.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from taser_engine.datasets import load_dataset

N_EVAL = 1000  # paper C.6
EVAL_SUBSET_SEED = 0


@dataclass(frozen=True)
class EvalSubset:
    dataset: str
    seed: int
    indices: tuple[int, ...]  # positions in the dataset's fixed test split
    x: Tensor
    y: Tensor

    @property
    def n(self) -> int:
        return len(self.indices)

    @property
    def fingerprint(self) -> str:
        """Identifies the exact points: equal fingerprints mean per-sample results can be paired."""
        text = f"{self.dataset}:test:" + ",".join(map(str, self.indices))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {"dataset": self.dataset, "split": "test", "seed": self.seed, "n": self.n,
                "fingerprint": self.fingerprint, "indices": list(self.indices)}


def subset_indices(test_size: int, n_eval: int, seed: int) -> tuple[int, ...]:
    order = np.random.default_rng(seed).permutation(test_size)
    return tuple(int(i) for i in order[:min(n_eval, test_size)])


@functools.lru_cache(maxsize=4)
def _test_split(dataset: str, root: str | None) -> tuple[Tensor, Tensor]:
    return load_dataset(dataset, "test", root=root).tensors


def evaluation_subset(dataset: str, n_eval: int = N_EVAL, seed: int = EVAL_SUBSET_SEED,
                      root: str | None = None) -> EvalSubset:
    """N_eval points of the test split (the whole split if it is smaller), identical on every call."""
    if n_eval < 1:
        raise ValueError(f"n_eval must be at least 1, got {n_eval}")
    x_all, y_all = _test_split(dataset, root)
    indices = subset_indices(len(y_all), n_eval, seed)
    picked = torch.tensor(indices, dtype=torch.long)
    return EvalSubset(dataset, seed, indices, x_all[picked].clone(), y_all[picked].clone())
