"""Score cache: the scores of a training set computed once, stored as float16 safetensors.

A diffusion score model costs far more than the classifier it regularises (the CIFAR-10 DDPM UNet
has 35.7M parameters), so TASER training looks scores up by sample index instead of calling the
model every step. The cache holds `s(x_i)` for every training image `x_i` in float16 (half the
bytes of float32; the rounding error is ≤ 2⁻¹¹ relative per entry, reported by `fp16_error`),
plus metadata saying which model, timestep and data produced it and a fingerprint of the images.

Serving under the training augmentations (`augment_pair` applies the same transform to x and s):

- Horizontal flip: the score of a flip-invariant density satisfies s(Fx) = F s(x), so the flipped
  cached score is the score of the flipped image. For a learned model this is *exact* only when
  the model is flip-equivariant: build the cache from a source with `flip_symmetrise=True`
  (s ↦ ½(s(x) + F s(Fx)), equivariant to float precision); otherwise it is an approximation whose
  error `augmentation_error` measures.
- Random crop with zero padding p (shift by up to p pixels): the cached score is shifted with the
  image and the uncovered border gets score 0. This is *approximate*: a convolutional score model
  is only roughly translation-equivariant, and the zero border is off the data distribution, so
  the true score there (and near it) is not the shifted one. `augmentation_error` reports the
  relative error and cosine against direct evaluation on the cropped image.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save
from torch import Tensor

from taser_engine.atomic_files import atomic_write_bytes
from taser_engine.callbacks import Callbacks
from taser_engine.datasets.augment import (  # noqa: F401 - translate re-exported beside Augmentation
    Augmentation, apply_augmentation, draw_augmentation, translate,
)
from taser_engine.rng import draw_device

CACHE_FORMAT = "taser-score-cache/1"


def fingerprint(images: Tensor) -> str:
    """Short content hash of a float tensor, to check that a cache belongs to a dataset."""
    data = images.detach().to(torch.float32).contiguous().cpu().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


# -- augmentations applied jointly to images and scores ---------------------------------------
# One drawn `Augmentation` (datasets/augment.py) is applied to images and scores alike, the same
# piece that training's `augment_batch` uses, so the cache serves exactly what training draws.

def augment_pair(x: Tensor, s: Tensor, generator: torch.Generator | None = None, hflip: bool = True,
                 crop_padding: int = 0) -> tuple[Tensor, Tensor, Augmentation]:
    """The same random flip/crop applied to images and their cached scores (score border = 0)."""
    aug = draw_augmentation(x.shape[0], generator, crop_padding, hflip, draw_device(generator, x))
    return apply_augmentation(x, aug), apply_augmentation(s, aug), aug


# -- the cache -------------------------------------------------------------------------------

@dataclass
class ScoreCache:
    """Scores (N, *S) in float16 for the N samples of one dataset split, looked up by index."""

    scores: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, source: Callable[[Tensor], Tensor], images: Tensor, batch_size: int = 256,
              callbacks: Callbacks | None = None, meta: dict[str, Any] | None = None,
              images_fingerprint: str | None = None) -> "ScoreCache":
        """Evaluate `source` once on every image; `meta` records what produced the scores.
        `images_fingerprint` is `fingerprint(images)` when the caller has it (it hashes every pixel)."""
        callbacks = callbacks or Callbacks()
        chunks, done, started = [], 0, time.perf_counter()
        for batch in images.split(batch_size):
            chunks.append(source(batch).detach().to("cpu", torch.float16))
            done += batch.shape[0]
            callbacks.on_progress(done, images.shape[0], "scoring")
            if callbacks.should_stop():
                raise InterruptedError("score cache build stopped before completion; nothing was saved")
        info = dict(meta or {})
        if hasattr(source, "describe"):
            info.setdefault("source", source.describe())
        info.update({"format": CACHE_FORMAT, "num_samples": images.shape[0], "shape": list(images.shape[1:]),
                     "images_fingerprint": images_fingerprint or fingerprint(images), "build_wall_s": time.perf_counter() - started})
        return cls(torch.cat(chunks), info)

    def __len__(self) -> int:
        return self.scores.shape[0]

    @property
    def nbytes(self) -> int:
        return self.scores.numel() * self.scores.element_size()

    def lookup(self, index: Tensor, augmentation: Augmentation | None = None, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> Tensor:
        """Scores of samples `index`, optionally under the given flip/crop, as float32."""
        s = self.scores[torch.as_tensor(index, dtype=torch.long)].to(device=device, dtype=dtype)
        return apply_augmentation(s, augmentation) if augmentation is not None else s

    def check_matches(self, images: Tensor, images_fingerprint: str | None = None) -> None:
        """Raise unless the cache was built from exactly these images (`images_fingerprint`:
        `fingerprint(images)` when the caller has it)."""
        expected = self.meta.get("images_fingerprint")
        if images.shape[0] != len(self) or (images_fingerprint or fingerprint(images)) != expected:
            raise ValueError(f"the score cache was built from other data ({self.meta.get('dataset', '?')}, "
                             f"{len(self)} samples); rebuild it with `taser score-model cache`")

    def save(self, path: str | Path) -> Path:
        """Written atomically: a run reading the cache while another builds it never sees half a file."""

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save({"scores": self.scores.contiguous()}, metadata={"taser": json.dumps(self.meta)}))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ScoreCache":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"score cache {path} does not exist")
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {}).get("taser", "{}"))
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"{path} is not a TASER score cache ({CACHE_FORMAT})")
        return cls(load_file(str(path))["scores"], meta)


# -- what the cache costs and saves ----------------------------------------------------------

def fp16_error(source: Callable[[Tensor], Tensor], cache: ScoreCache, images: Tensor, index: Tensor) -> dict[str, float]:
    """Relative error of the stored scores against direct float32 evaluation on `images[index]`."""
    direct = source(images[index]).float().flatten(1)
    stored = cache.lookup(index).flatten(1)
    rel = (stored - direct).norm(dim=1) / direct.norm(dim=1).clamp_min(1e-30)
    return {"fp16_rel_error_mean": rel.mean().item(), "fp16_rel_error_max": rel.max().item()}


def _per_sample_ms(fn: Callable[[], Any], n: int, repeats: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000.0 * (time.perf_counter() - started) / (repeats * n)


def measure_saving(source: Callable[[Tensor], Tensor], cache: ScoreCache, images: Tensor, batch_size: int = 128,
                   repeats: int = 3, hflip: bool = True, crop_padding: int = 0) -> dict[str, float]:
    """Per-sample time of direct score evaluation vs. cached lookup (+ augmentation) on one batch."""
    n = min(batch_size, images.shape[0])
    batch, index = images[:n], torch.arange(n)
    gen = torch.Generator().manual_seed(0)
    direct = _per_sample_ms(lambda: source(batch), n, repeats)
    cached = _per_sample_ms(lambda: cache.lookup(index, draw_augmentation(n, gen, crop_padding, hflip)), n, repeats)
    return {"direct_ms_per_sample": direct, "cached_ms_per_sample": cached, "speedup": direct / max(cached, 1e-12),
            "saved_s_per_epoch": (direct - cached) * len(cache) / 1000.0,
            "cache_bytes": float(cache.nbytes), "float32_bytes": float(cache.nbytes * 2)}


def augmentation_error(source: Callable[[Tensor], Tensor], cache: ScoreCache, images: Tensor, index: Tensor,
                       hflip: bool = True, crop_padding: int = 0, seed: int = 0) -> dict[str, float]:
    """How far the served (augmented cached) score is from the score of the augmented image."""
    aug = draw_augmentation(index.numel(), torch.Generator().manual_seed(seed), crop_padding, hflip)
    served = cache.lookup(index, aug).flatten(1)
    direct = source(apply_augmentation(images[index], aug)).float().flatten(1)
    rel = (served - direct).norm(dim=1) / direct.norm(dim=1).clamp_min(1e-30)
    cos = torch.nn.functional.cosine_similarity(served, direct, dim=1)
    return {"rel_error_mean": rel.mean().item(), "rel_error_max": rel.max().item(), "cosine_mean": cos.mean().item()}
