"""What the score cache saves: direct score-model evaluation vs. cached lookup, per sample.

    PYTHONPATH=. python benchmarks/score_cache.py [--model DIR] [--json benchmarks/results/score_cache.json]

Two settings:
- digits: the score model in --model (or the untrained 8×8 preset) against a lookup with flips;
- cifar10: the architecture of google/ddpm-cifar10-32 (35.7M parameters, random weights: only the
  cost matters) against a lookup from a 50,000-image float16 cache, next to one ResNet-18
  training step (forward + backward) per sample for scale.
Timings are wall-clock on whatever machine runs this; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from taser_engine.scores.cache import ScoreCache, measure_saving
from taser_engine.scores.diffusion import DiffusionScore, load_score_source
from taser_engine.scores.training import ScoreModelTrainConfig, build_unet, make_scheduler, num_parameters

CIFAR_DDPM = dict(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(128, 256, 256, 256),
                  layers_per_block=2, down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"))


def _ms_per_sample(fn, n: int, repeats: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - started) / (n * repeats)


def digits(model_dir: str | None) -> dict:
    from taser_engine.datasets import load_dataset

    images = load_dataset("digits", "train").tensors[0]
    if model_dir:
        source = load_score_source(model_dir)
    else:
        config = ScoreModelTrainConfig()
        source = DiffusionScore(build_unet(config, 8, 1), make_scheduler(config))
    cache = ScoreCache.build(source, images)
    return {"num_parameters": num_parameters(source.model), "num_samples": len(cache),
            "build_wall_s": cache.meta["build_wall_s"], **measure_saving(source, cache, images, 128, 3)}


def cifar10(batch: int = 8) -> dict:
    from diffusers import UNet2DModel

    from taser_engine.models import ModelSpec, build_model

    unet = UNet2DModel(**CIFAR_DDPM)
    source = DiffusionScore(unet, make_scheduler(ScoreModelTrainConfig()))
    x = torch.rand(batch, 3, 32, 32)
    direct = _ms_per_sample(lambda: source(x), batch, 2)
    cache = ScoreCache(torch.randn(50_000, 3, 32, 32).half())
    index = torch.randint(0, 50_000, (128,))
    flip = torch.rand(128) < 0.5
    from taser_engine.scores.cache import Augmentation

    aug = Augmentation(flip, torch.zeros(128, 2, dtype=torch.long))
    cached = _ms_per_sample(lambda: cache.lookup(index, aug), 128, 10)
    resnet = build_model(ModelSpec(arch="resnet18", in_channels=3, image_size=32, mean=[0.5] * 3, std=[0.25] * 3))
    y = torch.randint(0, 10, (batch,))

    def step():
        resnet.zero_grad()
        torch.nn.functional.cross_entropy(resnet(x), y).backward()

    classifier = _ms_per_sample(step, batch, 2)
    return {"num_parameters": num_parameters(unet), "direct_ms_per_sample": direct, "cached_ms_per_sample": cached,
            "speedup": direct / cached, "resnet18_step_ms_per_sample": classifier,
            "score_over_classifier_step": direct / classifier,
            "saved_s_per_epoch_50k": (direct - cached) * 50_000 / 1000, "cache_bytes_50k": float(cache.nbytes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="digits score-model directory")
    parser.add_argument("--skip-cifar", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = {"threads": torch.get_num_threads(), "digits": digits(args.model)}
    if not args.skip_cifar:
        result["cifar10"] = cifar10()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
