"""Training denoising score models: diffusers `UNet2DModel` + `DDPMScheduler` with EMA weights.

`train_score_model(config, out_dir)` trains on one of the project's datasets (inputs in [0, 1],
mapped to the model's [−1, 1]) and writes `out_dir` so that `UNet2DModel.from_pretrained(out_dir)`
and `DDPMScheduler.from_pretrained(out_dir)` load it as they are. The saved weights are the EMA
weights (what scores are computed with); `training_state.pt` next to them holds the raw weights,
EMA, optimiser and schedule state, so an interrupted run resumes where its last checkpoint was.
`taser_training.json` records the config, the data coordinates and the final metrics.

Architectures follow the input size (`unet_config_for`): 8×8 digits get three levels (8→4→2,
1.1M parameters), 28×28 MNIST three (28→14→7, attention at 7×7, 1.6M), 32×32 CIFAR-10 four
(attention at 16×16, 9.0M: half the width of `google/ddpm-cifar10-32`, 35.7M). `MLPDenoiser`
is the same objective for flat vectors (2D toy densities), where a UNet does not apply; it is a
diffusers `ModelMixin`, so it saves and loads the same way.

Timesteps are drawn uniformly from [0, max_train_timestep). TASER only evaluates the score at
small τ (default 50); concentrating training there (`max_train_timestep`, default 200) gives a
far better score at τ for the same compute than the full DDPM range (2D mixture, 960 steps:
relative score error at τ = 50 of 0.13–0.16 versus 0.83–0.86 with [0, 1000), two seeds), at the
price of a model that cannot generate samples from pure noise. Set it to 1000 for a standard DDPM.
"""

from __future__ import annotations

import json
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from taser_engine.callbacks import Callbacks
from taser_engine.datasets import DatasetName
from taser_engine.fields import (MAX_BATCH, MAX_EPOCHS, MAX_LR, MAX_STEPS, MAX_TIMESTEPS, Device, PathText,
                                 Seed)
from taser_engine.atomic_files import atomic_path
from taser_engine.checkpoints import CheckpointError
from taser_engine.schedules import warmup_cosine_scheduler
from taser_engine.scores.diffusion import DEFAULT_TIMESTEP
# the config lives apart, so the CLI reads its fields without importing diffusers
from taser_engine.scores.train_config import MAX_UNET_CHANNELS, ScoreModelTrainConfig  # noqa: F401

STATE_FILE = "training_state.pt"
RECORD_FILE = "taser_training.json"


# -- architectures ---------------------------------------------------------------------------

def unet_config_for(image_size: int, in_channels: int, block_out_channels: list[int] | None = None,
                    layers_per_block: int | None = None) -> dict[str, Any]:
    """UNet2DModel keyword arguments for an input size; overrides replace the preset's widths."""
    if image_size <= 8:
        channels, layers, attention = [32, 64, 64], 1, []
    elif image_size <= 28:
        channels, layers, attention = [32, 64, 64], 2, [2]
    else:
        channels, layers, attention = [64, 128, 128, 128], 2, [1]
    channels = list(block_out_channels or channels)
    levels = len(channels)
    if image_size % (2 ** (levels - 1)):
        raise ValueError(f"image size {image_size} is not divisible by 2^{levels - 1} for {levels} UNet levels")
    groups = math.gcd(*channels, 32)
    down = ["AttnDownBlock2D" if i in attention else "DownBlock2D" for i in range(levels)]
    up = ["AttnUpBlock2D" if (levels - 1 - i) in attention else "UpBlock2D" for i in range(levels)]
    return {"sample_size": image_size, "in_channels": in_channels, "out_channels": in_channels,
            "block_out_channels": tuple(channels), "layers_per_block": layers_per_block or layers,
            "down_block_types": tuple(down), "up_block_types": tuple(up), "norm_num_groups": groups}


class MLPDenoiser(ModelMixin, ConfigMixin):
    """ε-prediction network for flat vectors `(B, d)` with the UNet2DModel call signature."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, time_embedding: int = 32,
                 num_train_timesteps: int = 1000):
        super().__init__()
        layers: list[nn.Module] = []
        width = dim + time_embedding
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, sample: Tensor, timestep: Tensor | int) -> Tensor:
        from diffusers.models.embeddings import get_timestep_embedding

        t = torch.as_tensor(timestep, device=sample.device).expand(sample.shape[0])
        emb = get_timestep_embedding(t, self.config.time_embedding, flip_sin_to_cos=True,
                                     downscale_freq_shift=0).to(sample.dtype)
        return self.net(torch.cat([sample, emb], dim=1))


def make_scheduler(config: ScoreModelTrainConfig):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_start=config.beta_start,
                         beta_end=config.beta_end, beta_schedule="linear",
                         prediction_type=config.prediction_type, clip_sample=True)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -- EMA -------------------------------------------------------------------------------------

class EMA:
    """Exponential moving average of parameters with warm-up: decay_k = min(decay, (1+k)/(10+k)).

    The warm-up lets short runs (a few thousand steps) get a useful average; buffers are copied.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.steps = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].lerp_(value.detach(), 1 - d)
            else:
                self.shadow[key].copy_(value)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.shadow)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "steps": self.steps, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.steps = state["decay"], state["steps"]
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


# -- objective -------------------------------------------------------------------------------

def diffusion_target(scheduler, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return x0
    return scheduler.get_velocity(x0, noise, t)


def denoising_loss(model: nn.Module, scheduler, x0: Tensor, timesteps: Tensor | int | None = None,
                   generator: torch.Generator | None = None, batch_size: int = 256,
                   max_timestep: int | None = None) -> float:
    """Mean-squared denoising error on `x0` (model coordinates), no gradients.

    `timesteps` fixes one timestep (int) or per-sample timesteps; None draws them uniformly from
    [0, max_timestep). With a seeded generator the value is reproducible.
    """
    device = next(model.parameters()).device
    n = x0.shape[0]
    if timesteps is None:
        t_all = torch.randint(0, max_timestep or scheduler.config.num_train_timesteps, (n,), generator=generator)
    else:
        t_all = torch.as_tensor(timesteps).expand(n) if torch.as_tensor(timesteps).dim() == 0 else torch.as_tensor(timesteps)
    noise_all = torch.randn(x0.shape, generator=generator)
    total = 0.0
    model.eval()
    with torch.no_grad():
        for idx in torch.arange(n).split(batch_size):
            x, eps, t = x0[idx].to(device), noise_all[idx].to(device), t_all[idx].long().to(device)
            x_t = scheduler.add_noise(x, eps, t)
            pred = _forward(model, x_t, t)
            total += (pred - diffusion_target(scheduler, x, eps, t)).pow(2).flatten(1).mean(1).sum().item()
    return total / n


def _forward(model: nn.Module, x_t: Tensor, t: Tensor) -> Tensor:
    out = model(x_t, t)
    return out.sample if hasattr(out, "sample") else out


# -- training loop ---------------------------------------------------------------------------

@dataclass
class TrainResult:
    out_dir: str
    epochs_done: int
    steps: int
    stopped_early: bool
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class _Run:
    """The mutable state of one training run: model, EMA, optimiser, schedule, counters."""

    def __init__(self, model: nn.Module, scheduler, config: ScoreModelTrainConfig, steps_per_epoch: int):
        self.model, self.scheduler, self.config = model, scheduler, config
        self.ema = EMA(model, config.ema_decay)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        total = config.epochs * steps_per_epoch
        self.lr_schedule = warmup_cosine_scheduler(self.optimizer, total, config.lr, config.lr_min,
                                                   min(config.warmup_steps, total // 2))
        self.epoch, self.step = 0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "lr_schedule": self.lr_schedule.state_dict(),
                "epoch": self.epoch, "step": self.step, "config": self.config.model_dump_json()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.epoch, self.step = state["epoch"], state["step"]

    def ema_model(self) -> nn.Module:
        averaged = _copy_module(self.model)
        self.ema.copy_to(averaged)
        return averaged.eval()


def _copy_module(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def _train_step(run: _Run, batch: Tensor, generator: torch.Generator, flip: bool) -> float:
    config, device = run.config, next(run.model.parameters()).device
    if flip:
        mask = torch.rand(batch.shape[0], generator=generator) < 0.5
        batch = torch.where(mask.view(-1, *([1] * (batch.dim() - 1))), batch.flip(-1), batch)
    noise = torch.randn(batch.shape, generator=generator)
    t = torch.randint(0, config.max_train_timestep, (batch.shape[0],), generator=generator)
    x0, noise, t = batch.to(device), noise.to(device), t.to(device)
    run.model.train()
    pred = _forward(run.model, run.scheduler.add_noise(x0, noise, t), t)
    loss = (pred - diffusion_target(run.scheduler, x0, noise, t)).pow(2).mean()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.lr_schedule.step()
    run.ema.update(run.model)
    run.step += 1
    return loss.item()


def _save(run: _Run, out_dir: Path, record: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    run.ema_model().save_pretrained(out_dir, safe_serialization=True)
    run.scheduler.save_pretrained(out_dir)
    _atomic_torch_save(run.state_dict(), out_dir / STATE_FILE)
    (out_dir / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))


def _read_training_state(path: Path, device: str) -> dict:
    """The resumable state, or a CheckpointError naming the damaged file and what to do."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupted or truncated ({exc}); delete it to train "
                              "this score model again from the beginning") from exc


# Fields that may change between a run and its resumption (more epochs re-stretch the cosine).
RESUME_MAY_CHANGE = {"epochs", "checkpoint_every", "device", "data_root"}


def _check_resumable(saved: ScoreModelTrainConfig, config: ScoreModelTrainConfig, out: Path) -> None:
    changed = [k for k in ScoreModelTrainConfig.model_fields
               if k not in RESUME_MAY_CHANGE and getattr(saved, k) != getattr(config, k)]
    if changed:
        raise ValueError(f"cannot resume {out}: its checkpoint was trained with different {', '.join(changed)}")


def fit_denoiser(model: nn.Module, scheduler, train_x: Tensor, heldout_x: Tensor, config: ScoreModelTrainConfig,
                 out_dir: str | Path | None = None, callbacks: Callbacks | None = None, resume: bool = False,
                 data_scale: float = 2.0, data_shift: float = -1.0, flip: bool = False) -> tuple[nn.Module, TrainResult]:
    """Train `model` on `train_x` (already in model coordinates); returns the EMA model and a summary.

    With `out_dir` a checkpoint is written every `config.checkpoint_every` epochs, at the end and
    when `callbacks.should_stop()` asks for it; `resume=True` continues from the one found there.
    Batches and noise are seeded per epoch, so a resumed run repeats the epochs it would have run.
    """
    callbacks = callbacks or Callbacks()
    out = Path(out_dir) if out_dir is not None else None
    model.to(config.device)
    steps_per_epoch = math.ceil(train_x.shape[0] / config.batch_size)
    run = _Run(model, scheduler, config, steps_per_epoch)
    if resume and out is not None and (out / STATE_FILE).is_file():
        state = _read_training_state(out / STATE_FILE, config.device)
        _check_resumable(ScoreModelTrainConfig.model_validate_json(state["config"]), config, out)
        run.load_state_dict(state)
    total_steps = config.epochs * steps_per_epoch
    history: list[dict[str, float]] = []
    started, stopped = time.perf_counter(), False
    record = {"config": config.model_dump(), "data_scale": data_scale, "data_shift": data_shift}
    while run.epoch < config.epochs and not stopped:
        generator = torch.Generator().manual_seed(config.seed * 100_003 + run.epoch)
        order = torch.randperm(train_x.shape[0], generator=generator)
        losses = []
        for idx in order.split(config.batch_size):
            losses.append(_train_step(run, train_x[idx], generator, flip))
            callbacks.on_progress(run.step, total_steps, f"epoch {run.epoch + 1}/{config.epochs}")
            if callbacks.should_stop():
                stopped = True
                break
        if stopped:  # a partial epoch is not resumable exactly: keep the last full-epoch checkpoint
            break
        run.epoch += 1
        entry = {"epoch": run.epoch, "train_loss": sum(losses) / len(losses),
                 "lr": run.optimizer.param_groups[0]["lr"], "wall_s": time.perf_counter() - started}
        history.append(entry)
        callbacks.on_metrics(run.step, entry)
        if out is not None and (run.epoch % config.checkpoint_every == 0 or run.epoch == config.epochs):
            _save(run, out, {**record, "epochs_done": run.epoch, "steps": run.step})
            callbacks.on_checkpoint(str(out), run.step)
    ema_model = run.ema_model()
    metrics = _heldout_metrics(ema_model, scheduler, heldout_x, config)
    metrics["wall_s"] = time.perf_counter() - started
    if history:
        metrics["train_loss"] = history[-1]["train_loss"]
    callbacks.on_metrics(run.step, metrics)
    if out is not None and not stopped:
        (out / RECORD_FILE).write_text(json.dumps(
            {**record, "epochs_done": run.epoch, "steps": run.step, "metrics": metrics, "history": history},
            indent=2, sort_keys=True))
    return ema_model, TrainResult(str(out) if out else "", run.epoch, run.step, stopped, metrics, history)


def _heldout_metrics(model: nn.Module, scheduler, heldout_x: Tensor, config: ScoreModelTrainConfig) -> dict[str, float]:
    gen = torch.Generator().manual_seed(12345)
    loss = denoising_loss(model, scheduler, heldout_x, None, gen, max_timestep=config.max_train_timestep)
    gen = torch.Generator().manual_seed(12346)
    at_tau = denoising_loss(model, scheduler, heldout_x, config.heldout_timestep, gen)
    return {"heldout_loss": loss, f"heldout_loss_t{config.heldout_timestep}": at_tau}


def build_unet(config: ScoreModelTrainConfig, image_size: int, in_channels: int) -> nn.Module:
    from diffusers import UNet2DModel

    torch.manual_seed(config.seed)
    return UNet2DModel(**unet_config_for(image_size, in_channels, config.block_out_channels, config.layers_per_block))


def train_score_model(config: ScoreModelTrainConfig, out_dir: str | Path, callbacks: Callbacks | None = None,
                      resume: bool = False) -> TrainResult:
    """Train a UNet score model on `config.dataset` (train split) and save it to `out_dir`."""
    from taser_engine.datasets import dataset_info, load_dataset

    info = dataset_info(config.dataset)
    train_x = load_dataset(config.dataset, "train", config.data_root).tensors[0] * 2.0 - 1.0
    heldout_x = load_dataset(config.dataset, "test", config.data_root).tensors[0] * 2.0 - 1.0
    model = build_unet(config, info.image_size, info.in_channels)
    flip = config.random_flip if config.random_flip is not None else info.augment
    _, result = fit_denoiser(model, make_scheduler(config), train_x, heldout_x, config, out_dir, callbacks,
                             resume, flip=flip)
    result.metrics["num_parameters"] = float(num_parameters(model))
    return result


def train_vector_denoiser(train_x: Tensor, heldout_x: Tensor, config: ScoreModelTrainConfig, hidden: int = 128,
                          depth: int = 3, out_dir: str | Path | None = None,
                          callbacks: Callbacks | None = None) -> tuple[nn.Module, Any, TrainResult]:
    """An `MLPDenoiser` on flat vectors already in model coordinates (2D toy densities)."""
    torch.manual_seed(config.seed)
    model = MLPDenoiser(dim=train_x.shape[1], hidden=hidden, depth=depth,
                        num_train_timesteps=config.num_train_timesteps)
    scheduler = make_scheduler(config)
    scheduler.register_to_config(clip_sample=False)  # vectors are not confined to [−1, 1]
    ema_model, result = fit_denoiser(model, scheduler, train_x, heldout_x, config, out_dir, callbacks,
                                     data_scale=1.0, data_shift=0.0)
    return ema_model, scheduler, result
