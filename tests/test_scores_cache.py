"""Score cache: equals direct evaluation, serves flips exactly for equivariant sources, round trip."""

from __future__ import annotations

import pytest
import torch

from scores_oracle import ddpm_scheduler, tiny_unet

pytestmark = pytest.mark.usefixtures("one_thread")
from taser_engine.datasets import load_dataset
from taser_engine.scores import DiffusionScore
from taser_engine.scores.cache import (
    Augmentation, ScoreCache, augment_pair, augmentation_error, measure_saving, translate,
)
from taser_engine.scores.quality import flip_equivariance_error

FP16_RTOL = 2e-3  # float16 keeps 11 significant bits


@pytest.fixture(scope="module")
def images():
    return load_dataset("digits", "train").tensors[0][:24]


@pytest.fixture(scope="module")
def source():
    return DiffusionScore(tiny_unet(), ddpm_scheduler(), 50, flip_symmetrise=True)


def _assert_fp16_close(served, direct):
    rel = (served - direct).flatten(1).norm(dim=1) / direct.flatten(1).norm(dim=1)
    assert rel.max().item() < FP16_RTOL


def test_cache_equals_direct_evaluation_and_round_trips(tmp_path, images, source):
    cache = ScoreCache.build(source, images, batch_size=10, meta={"dataset": "digits"})
    assert cache.scores.dtype == torch.float16 and cache.scores.shape == images.shape
    index = torch.tensor([3, 0, 17, 23])
    _assert_fp16_close(cache.lookup(index), source(images[index]))
    path = cache.save(tmp_path / "scores.safetensors")
    loaded = ScoreCache.load(path)
    assert torch.equal(loaded.scores, cache.scores)
    assert loaded.meta["source"]["timestep"] == 50 and loaded.meta["dataset"] == "digits"
    loaded.check_matches(images)
    with pytest.raises(ValueError, match="other data"):
        loaded.check_matches(images.flip(0))


def test_flipped_lookup_is_the_score_of_the_flipped_image(images, source):
    cache = ScoreCache.build(source, images)
    index = torch.arange(8)
    flip = torch.tensor([True, False] * 4)
    served = cache.lookup(index, Augmentation(flip, torch.zeros(8, 2, dtype=torch.long)))
    flipped_images = torch.where(flip.view(-1, 1, 1, 1), images[index].flip(-1), images[index])
    _assert_fp16_close(served, source(flipped_images))


def test_an_unsymmetrised_model_is_not_flip_equivariant(images):
    """Why flip_symmetrise exists: a generic UNet's flipped score is only an approximation."""
    raw = DiffusionScore(tiny_unet(), ddpm_scheduler(), 50)
    assert flip_equivariance_error(raw, images)["flip_rel_error_mean"] > 1e-3
    symmetric = DiffusionScore(tiny_unet(), ddpm_scheduler(), 50, flip_symmetrise=True)
    assert flip_equivariance_error(symmetric, images)["flip_rel_error_mean"] < 1e-5


def test_translate_is_a_crop_of_the_zero_padded_image():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5)
    offsets = torch.tensor([[1, -2], [0, 2]])
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i, (dy, dx) in enumerate(offsets.tolist()):
        expected = padded[i, :, 2 - dy: 7 - dy, 2 - dx: 7 - dx]
        assert torch.equal(translate(x, offsets)[i], expected)


def test_augment_pair_moves_images_and_scores_together(images, source):
    cache = ScoreCache.build(source, images)
    index = torch.arange(12)
    x, s, aug = augment_pair(images[index], cache.lookup(index), torch.Generator().manual_seed(0),
                             hflip=True, crop_padding=2)
    assert aug.flip.any() and (~aug.flip).any() and aug.offsets.abs().max() > 0
    torch.testing.assert_close(s, cache.lookup(index, aug))
    border = translate(torch.ones_like(x), aug.offsets) == 0  # pixels uncovered by the shift
    assert border.any() and (x[border] == 0).all() and (s[border] == 0).all()
    errors = augmentation_error(source, cache, images, index, hflip=True, crop_padding=2)
    assert 0 <= errors["rel_error_mean"] and -1 <= errors["cosine_mean"] <= 1


def test_measure_saving_reports_the_cost_of_both_paths(images, source):
    cache = ScoreCache.build(source, images)
    report = measure_saving(source, cache, images, batch_size=16, repeats=1)
    assert report["cache_bytes"] == images.numel() * 2 and report["float32_bytes"] == images.numel() * 4
    assert report["direct_ms_per_sample"] > 0 and report["cached_ms_per_sample"] > 0
