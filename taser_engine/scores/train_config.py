"""`ScoreModelTrainConfig`: one score-model training job, validated once at the edge (and
`ScoreData`, its dataset fields, which the other score-model commands share).

Apart from `taser_engine.scores.training` (which imports torch and diffusers) so that the CLI and
the dashboard can read its fields cheaply.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from taser_engine.datasets import DatasetName
from taser_engine.fields import (MAX_BATCH, MAX_EPOCHS, MAX_LR, MAX_STEPS, MAX_TIMESTEPS, Device, PathText,
                                 Seed)
from taser_engine.scores.diffusion import DEFAULT_TIMESTEP

MAX_UNET_CHANNELS = 1280


class ScoreData(BaseModel):
    """The images a score model learns (or is calibrated, checked and cached on)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: DatasetName = Field("digits", description="the dataset of the score model")
    data_root: PathText | None = Field(None, description="local root of on-disk datasets (MNIST, CIFAR-10)")


class ScoreModelTrainConfig(ScoreData):
    """One score-model training job; validated once at the edge."""

    epochs: int = Field(80, ge=1, le=MAX_EPOCHS, description="training epochs (80: about 2 minutes on digits, 2 CPU cores)")
    batch_size: int = Field(64, ge=2, le=MAX_BATCH, description="images per step")
    lr: float = Field(2e-3, gt=0, le=MAX_LR, description="peak learning rate (AdamW)")
    lr_min: float = Field(1e-4, ge=0, le=MAX_LR, description="end of the cosine decay")
    warmup_steps: int = Field(100, ge=0, le=MAX_STEPS, description="steps of linear learning-rate warm-up")
    weight_decay: float = Field(0.0, ge=0, le=1, description="weight decay")  # usual values are 1e-4 to 5e-4; at 1 the decay outweighs any loss
    ema_decay: float = Field(0.999, ge=0, lt=1, description="EMA decay after warm-up")
    num_train_timesteps: int = Field(1000, ge=10, le=MAX_TIMESTEPS, description="timesteps T of the DDPM schedule")
    beta_start: float = Field(1e-4, gt=0, description="first β of the linear noise schedule")
    beta_end: float = Field(0.02, gt=0, lt=1, description="last β of the linear noise schedule")
    max_train_timestep: int = Field(200, ge=1, le=MAX_TIMESTEPS, description=(
        "timesteps are drawn from [0, this); 1000 for a full DDPM"))
    prediction_type: Literal["epsilon", "sample", "v_prediction"] = Field("epsilon", description="what the UNet predicts")
    # UNet widths per level: google/ddpm-cifar10-32 uses 128-256, Stable Diffusion at most 1280;
    # six levels halve a 32-pixel input down to 1
    block_out_channels: list[Annotated[int, Field(ge=1, le=MAX_UNET_CHANNELS)]] | None = Field(
        None, min_length=1, max_length=6, description="UNet widths per level (overrides the size preset)")
    layers_per_block: int | None = Field(None, ge=1, le=8, description="ResNet layers per UNet level; None = the preset's")  # diffusers presets use 1-2
    random_flip: bool | None = Field(None, description="horizontal flips; default: on for datasets with standard augmentation (cifar10)")
    checkpoint_every: int = Field(10, ge=1, le=MAX_EPOCHS, description="epochs between checkpoints")
    heldout_timestep: int = Field(DEFAULT_TIMESTEP, ge=0, le=MAX_TIMESTEPS, description="timestep of the reported held-out loss")
    seed: Seed = Field(0, description="seed of the initialisation, data order and noise")
    device: Device = Field("cpu", description="'cpu', 'cuda' or 'cuda:N'")

    @model_validator(mode="after")
    def _check(self) -> "ScoreModelTrainConfig":
        if self.max_train_timestep > self.num_train_timesteps:
            raise ValueError(f"max_train_timestep ({self.max_train_timestep}) exceeds num_train_timesteps ({self.num_train_timesteps})")
        if self.heldout_timestep >= self.num_train_timesteps:
            raise ValueError(f"heldout_timestep must be below num_train_timesteps ({self.num_train_timesteps})")
        if self.beta_start >= self.beta_end:
            raise ValueError("beta_start must be below beta_end")
        return self
