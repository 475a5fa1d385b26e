"""The score a training run regularises with: its source on the run's device, and the score cache.

A diffusion score model costs far more than the classifier it regularises (the CIFAR-10 DDPM UNet
has 35.7M parameters against ResNet-18's 11M, and runs once per image per step), while with
`noise_input=False` its score of a training image never changes. So by default (`score_cache:
auto`) a run scores every training image once, stores the float16 scores next to the score model
(`DIR/score_caches/KEY.safetensors`) and afterwards looks them up by sample index, applying the
training augmentation to image and score alike (`datasets.augment_batch`). Every later run with
the same key reuses the file.

The key hashes what determines the scores: the score model's files (a retrained model gets a new
key, so stale scores are never reused), the source's settings (timestep, normalisation, flip
symmetrisation, coordinates) and the exact training images (dataset, split, subset). `PATH` names
the cache file instead (built there when missing, refused when it belongs to other data or another
model); `off` computes scores live on the device at every step.

What the cache changes is measured once per run, on a few training images, and stored in the
run's result: the float16 rounding error, and under augmentation the error of the shifted/flipped
cached score against the score of the augmented image (exact for flips only when the model is
flip-equivariant; approximate for crops, see scores/cache.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from taser_engine.callbacks import Callbacks, StopRequested
from taser_engine.scores import ScoreSource
from taser_engine.scores.sources import build_score_source, score_spec_for
from taser_engine.scores.sources import fit_gaussian_score  # noqa: F401  (taser_engine.training names it)
from taser_engine.training.config import GAUSSIAN, _RunConfig

log = logging.getLogger("taser.training")

CACHE_DIR = "score_caches"
ERROR_PROBE_SAMPLES = 32  # training images the cache's error is measured on, once per run
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")


@dataclass
class RunScores:
    """The run's score source (on its device) and, when cached, the scores of every training image
    (float16, on the device, indexed like the training set)."""

    source: ScoreSource | None
    cached: Tensor | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # stored in the run's result


def build_run_scores(config: _RunConfig, train_x: Tensor, device: torch.device,
                     callbacks: Callbacks | None = None) -> RunScores:
    """The score source of a TASER run on `device`, with its cache when one applies (module doc).

    `train_x` are the training images in dataset order (on any device).
    """
    if not config.taser:
        return RunScores(None)
    source = build_score_source(score_spec_for(config.score_model, config.score_timestep), train_x, device)
    if config.score_model == GAUSSIAN:
        return RunScores(source, summary={"source": GAUSSIAN})
    summary: dict[str, Any] = {"source": "diffusion", "cache": "off", **source.describe()}
    if config.score_cache == "off":
        return RunScores(source, summary=summary)
    from taser_engine.scores.cache import fingerprint

    images_hash = fingerprint(train_x)  # every pixel hashed: once, for the key and the checks
    path = _cache_path(config, source, images_hash)
    if path is None:
        log.info("score cache: %s is not a local directory; scores are computed live", config.score_model)
        summary["cache"] = "live (the score model is not a local directory)"
        return RunScores(source, summary=summary)
    cache, reused = _load_or_build(path, source, train_x, images_hash, config, callbacks)
    summary.update({"cache": str(path), "cache_reused": reused, "cache_build_wall_s": cache.meta.get("build_wall_s")})
    if device.type != "meta":  # meta tensors (the placement test) hold no values to compare
        summary.update(_cache_error(source, cache, train_x, config))
    return RunScores(source, cache.scores.to(device), summary)


def model_fingerprint(directory: Path) -> str:
    """Content hash of a score model's weights and configs (not of caches stored beside them)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES
                       and CACHE_DIR not in p.relative_to(directory).parts):
        digest.update(str(path.relative_to(directory)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def cache_key(model_hash: str, source, images_hash: str) -> str:
    described = json.dumps({"model": model_hash, "source": source.describe(), "images": images_hash},
                           sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def _cache_path(config: _RunConfig, source, images_hash: str) -> Path | None:
    if config.score_cache not in ("auto", "off"):
        return Path(config.score_cache).expanduser()
    directory = Path(config.score_model).expanduser()
    if not directory.is_dir():
        return None
    key = cache_key(model_fingerprint(directory), source, images_hash)
    return directory / CACHE_DIR / f"{key}.safetensors"


class _StopAware(Callbacks):
    """Progress of the cache build, told as such; a stop request ends it (nothing is saved)."""

    def __init__(self, inner: Callbacks):
        self.inner = inner

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        self.inner.on_progress(step, total, "building the score cache")

    def should_stop(self) -> bool:
        return self.inner.should_stop()


def _load_or_build(path: Path, source, train_x: Tensor, images_hash: str, config: _RunConfig,
                   callbacks: Callbacks | None):
    from taser_engine.scores.cache import ScoreCache

    if path.is_file():
        cache = ScoreCache.load(path)
        try:
            cache.check_matches(train_x, images_hash)
        except ValueError as exc:
            raise ValueError(f"score_cache: {path} belongs to other data ({exc})") from None
        if cache.meta.get("source") not in (None, source.describe()):
            raise ValueError(f"score_cache: {path} was built with other score settings "
                             f"({cache.meta.get('source')}); give another path or 'auto'")
        log.info("score cache: reusing %s (%d scores)", path, len(cache))
        return cache, True
    log.info("score cache: building %s for %d training images on %s", path, train_x.shape[0], source.device)
    try:
        cache = ScoreCache.build(source, train_x, callbacks=_StopAware(callbacks or Callbacks()),
                                 meta={"score_model": config.score_model, "dataset": config.dataset,
                                       "split": "train", "max_train_samples": config.max_train_samples},
                                 images_fingerprint=images_hash)
    except InterruptedError as exc:
        raise StopRequested(str(exc)) from None
    try:
        cache.save(path)
        log.info("score cache: built in %.1f s, saved to %s", cache.meta["build_wall_s"], path)
    except OSError as exc:  # a read-only model directory: use the scores, say they are not kept
        log.warning("score cache: built in %.1f s but not saved (%s); the next run builds it again",
                    cache.meta["build_wall_s"], exc)
    return cache, False


def _cache_error(source, cache, train_x: Tensor, config: _RunConfig) -> dict[str, float]:
    """The cache's float16 error, and its error under the run's augmentation, on a few images."""
    from taser_engine.scores.cache import augmentation_error, fp16_error

    index = torch.arange(min(ERROR_PROBE_SAMPLES, len(cache)))
    errors = {f"cache_{k}": v for k, v in fp16_error(source, cache, train_x, index).items()}
    if config.use_augmentation and train_x.dim() == 4:
        aug = augmentation_error(source, cache, train_x, index, hflip=True, crop_padding=4, seed=config.seed)
        errors.update({f"cache_augmented_{k}": v for k, v in aug.items()})
    return errors
