"""Whole-training-step benchmark: what TASER costs on top of each base method, as the paper measures it.

The paper's overheads (C.8, Table 3: ×2.45 on standard training, ×1.17–1.27 on the adversarial
methods) are ratios of whole training steps. So this benchmark times the training loop's own step
(`training.steppers`: data indexing and augmentation, score lookup or computation, the base
objective with its attack, the penalty, the optimiser update and AWP's restore), not a stand-in,
for each model × device × base method × score variant × Laplacian:

- `none`: the method without TASER (the denominator of every ratio in its group);
- `gaussian`: TASER with the Gaussian fitted to the training images;
- `diffusion-live`: TASER with a diffusion score model evaluated on every batch (`score_cache: off`);
- `diffusion-cached`: the same model's scores looked up in the score cache (the default).

Models: ResNet-18 (CIFAR stem) on synthetic 3×32×32 images with a UNet of the
`google/ddpm-cifar10-32` architecture (35.7M parameters, random weights: timing does not depend on
them), and the digits CNN on the digits images with the digits score-model preset's UNet.

Within a group the variants are timed interleaved in one process (repeat 1 of every variant, then
repeat 2, …), so drift on a shared machine hits them alike; each row reports the median and the
min–max over repeats, and `ratio` is the median of the per-repeat ratios to `none` (min–max too).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from taser_engine.callbacks import Callbacks, StopRequested
from taser_engine.experiments.paper_tables import PAPER_TABLE3
from taser_engine.fields import present_devices

ScoreVariant = Literal["none", "gaussian", "diffusion-live", "diffusion-cached"]
BenchMethod = Literal["standard", "pgd", "trades", "mart", "trades-awp", "mart-awp"]
PAPER_OVERHEAD = {row["method"].replace("_", "-"): row["overhead"] for row in PAPER_TABLE3}

# google/ddpm-cifar10-32's UNet2DModel config (its unet/config.json), the paper's score model (C.4).
DDPM_CIFAR10_UNET = dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                         block_out_channels=(128, 256, 256, 256),
                         down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                         norm_num_groups=32, attention_head_dim=None, dropout=0.1)


class TrainStepBenchConfig(BaseModel):
    # The timing fields (batch, warmup, repeats, seed) are OverheadConfig's in shape, with this
    # benchmark's own defaults and bounds: a shared base would hold only the names.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    models: list[Literal["resnet18", "small_cnn"]] = Field(["resnet18", "small_cnn"], description="models benchmarked")
    methods: list[BenchMethod] = Field(["standard", "pgd", "trades", "mart", "trades-awp"], description="base methods")
    scores: list[ScoreVariant] = Field(["none", "gaussian", "diffusion-live", "diffusion-cached"],
                                       description="score sources (none: the step without TASER)")
    laplacians: list[Literal["none", "hutchinson"]] = Field(["none", "hutchinson"], description="Laplacian terms")
    batchnorms: list[Literal["running", "batch"]] = Field(["running"], description=(
        "BatchNorm statistics of the penalty pass (penalty.batchnorm): 'batch' lets a standard "
        "step share one forward without freezing BatchNorm"))
    devices: list[str] = Field(default_factory=present_devices,
                               description="devices (default: every one present)")
    batch_size: int = Field(128, ge=2, le=4096, description="ResNet-18 batch (the paper's C.5: 128)")
    digits_batch_size: int = Field(64, ge=2, le=4096, description="small_cnn (digits) batch")
    num_steps: int = Field(10, ge=1, le=100, description="attack steps of PGD/TRADES/MART (paper C.2: 10)")
    warmup: int = Field(1, ge=0, le=100, description="untimed steps before timing")
    repeats: int = Field(5, ge=1, le=1000, description="timed steps per row")
    seed: int = Field(0, description="random seed")

    @classmethod
    def quick(cls, **overrides) -> "TrainStepBenchConfig":
        """About 5 minutes on 2 CPU cores: smaller ResNet batches and attacks, 3 repeats."""
        return cls(**{"batch_size": 16, "num_steps": 3, "repeats": 3, "warmup": 1, **overrides})


def _score_model_dir(root: Path, model: str) -> Path:
    """A randomly initialised score model of the benchmark's architecture, saved like a real one."""
    from diffusers import DDPMScheduler, UNet2DModel

    from taser_engine.scores.training import unet_config_for

    directory = root / f"score-{model}"
    torch.manual_seed(0)
    unet = UNet2DModel(**(DDPM_CIFAR10_UNET if model == "resnet18" else unet_config_for(8, 1)))
    unet.save_pretrained(directory)
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(directory)
    return directory


# The config fields of each benchmarked model's data: digits is read from disk, ResNet-18 gets
# synthetic CIFAR-shaped images (`_synthetic_cifar`), handed to the setup directly.
DATA_FIELDS = {"small_cnn": {"dataset": "digits"},
               "resnet18": {"dataset": "cifar10", "data_root": "synthetic", "arch": "resnet18"}}


def _synthetic_cifar(model: str, batch_size: int, seed: int) -> dict[str, torch.Tensor] | None:
    """Training tensors (CPU) for ResNet-18: four batches of random 3×32×32 images; None for digits."""
    if model == "small_cnn":
        return None
    g = torch.Generator().manual_seed(seed)
    n = 4 * batch_size
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return {"train_x": x, "train_y": y, "test_x": x[:batch_size], "test_y": y[:batch_size]}


def _config(model: str, method: str, score: ScoreVariant, batch_size: int, bench: TrainStepBenchConfig,
            score_dir: Path | None, cache_file: Path):
    """The first-order config of one variant (the Laplacian variants copy it with theirs)."""
    from taser_engine.training.config import TrainConfig

    fields = dict(DATA_FIELDS[model], method=method, epochs=1, batch_size=batch_size, num_steps=bench.num_steps,
                  awp_warmup=0, seed=bench.seed, taser=score != "none")
    if score.startswith("diffusion"):
        fields.update(score_model=str(score_dir), score_cache=str(cache_file) if score == "diffusion-cached" else "off")
    return TrainConfig(**fields)


def _seconds(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _stepper_call(setup, seed: int):
    """One real training step of `setup` on the next batch of its (fixed) epoch order."""
    from taser_engine.training.loop import epoch_batches, make_generators, on_device
    from taser_engine.training.steppers import build_stepper

    stepper = build_stepper(setup, total_steps=1000, generators=make_generators(setup.config, setup.device))
    stepper.base_probe_every = 0  # the benchmark times whole steps, against the plain step beside them
    n = setup.data["train_x"].shape[0]
    batches = on_device(epoch_batches(n, setup.config.batch_size, seed, 0), setup.device)
    position = {"b": 0}

    def step():
        x, y, score = stepper.batch(batches[position["b"] % len(batches)])
        stepper(x, y, 0, 100, score)  # past the λ warm-up: the full penalty
        position["b"] += 1
    return step


def _groups(bench: TrainStepBenchConfig):
    for model in bench.models:
        for device in bench.devices:
            for method in bench.methods:
                yield model, device, method


def run_train_step_bench(bench: TrainStepBenchConfig, callbacks: Callbacks | None = None) -> dict:
    from taser_engine.training.loop import build_train_setup

    callbacks = callbacks or Callbacks()
    rows, groups = [], list(_groups(bench))
    started = time.perf_counter()
    taser_scores = [s for s in bench.scores if s != "none"]
    with tempfile.TemporaryDirectory(prefix="taser-bench-") as tmp:
        root = Path(tmp)
        score_dirs = {m: _score_model_dir(root, m) for m in bench.models
                      if any(s.startswith("diffusion") for s in bench.scores)}
        shared_scores = {}
        for done, (model, device_name, method) in enumerate(groups):
            if callbacks.should_stop():
                raise StopRequested()
            device = torch.device(device_name)
            batch_size = bench.batch_size if model == "resnet18" else bench.digits_batch_size
            data = _synthetic_cifar(model, batch_size, bench.seed)
            steps = {}
            for score in ["none", *taser_scores]:  # one setup per score source; the Laplacians share it
                config = _config(model, method, score, batch_size, bench, score_dirs.get(model),
                                 root / f"cache-{model}.safetensors")
                key = (model, device_name, score)
                if key not in shared_scores:  # the score source and cache are the same for every method
                    shared_scores[key] = build_train_setup(config, device=device, data=data).scores
                setup = build_train_setup(config, device=device, data=data, scores=shared_scores[key])
                for laplacian, batchnorm in ([("none", "running")] if score == "none" else
                                             [(lap, bn) for lap in bench.laplacians for bn in bench.batchnorms]):
                    penalty = config.penalty.model_copy(update={"laplacian": laplacian, "batchnorm": batchnorm})
                    variant = dataclasses.replace(setup, config=config.model_copy(update={"penalty": penalty}))
                    steps[score, laplacian, batchnorm] = _stepper_call(variant, bench.seed)
            times = {key: [] for key in steps}
            for _ in range(bench.warmup):
                for step in steps.values():
                    step()
            for _ in range(bench.repeats):
                for key, step in steps.items():
                    times[key].append(_seconds(step, device))
            plain = times["none", "none", "running"]
            for (score, laplacian, batchnorm), seconds in times.items():
                ratios = [s / p for s, p in zip(seconds, plain)]
                ms = [1000 * s / batch_size for s in seconds]
                rows.append({
                    "model": model, "device": device_name, "method": method, "score": score,
                    "laplacian": laplacian if score != "none" else None,
                    "batchnorm": batchnorm if score != "none" else None, "batch_size": batch_size,
                    "num_steps": bench.num_steps if method != "standard" else 0,
                    "ms_per_sample": statistics.median(ms), "ms_per_sample_min": min(ms), "ms_per_sample_max": max(ms),
                    "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                    "paper_ratio": PAPER_OVERHEAD.get(method) if score != "none" else None,
                })
            callbacks.on_progress(done + 1, len(groups), f"{model}/{device_name}/{method}")
    return {"settings": bench.model_dump(), "torch": torch.__version__, "rows": rows,
            "wall_s": time.perf_counter() - started}
