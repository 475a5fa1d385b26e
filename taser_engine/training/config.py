"""The two training job configs, validated once at the edge: `TrainConfig` and `FinetuneConfig`.

Fields are flat so a CLI flag, a dashboard form field and a JSON key are the same name; a
registered objective's parameters without a flat field go in `method_params`, checked by its
class. Paper values (C.2, C.5) are the defaults; ε and the PGD step size default to the dataset's
threat model (`None` → ε = the dataset's L∞ budget, step = ε/4, i.e. 2/255 for 8/255 as in the paper).
Bad values raise `pydantic.ValidationError`, whose message names the field; `format_errors`
turns it into one line for the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taser_engine.datasets import DatasetName, dataset_info
from taser_engine.fields import (MAX_BATCH, MAX_EPOCHS, MAX_LIST, MAX_LOSS_WEIGHT, MAX_LR, MAX_PROCESSES, MAX_SAMPLES,
                                 MAX_STEPS, MAX_THREADS, MAX_TIMESTEPS, MAX_WIDTH, DeviceOrAuto, PathText, Seed,
                                 format_errors, looks_like_hub_id)
from taser_engine.models import Activation, ModelSpec
from taser_engine.objectives import OBJECTIVES, STANDARD_WEIGHT_DECAY, MethodName
from taser_engine.objectives.awp import AWP_GAMMA, AWP_WARMUP
from taser_engine.objectives.base import PAPER_NUM_STEPS
from taser_engine.objectives.mart import MART_LAMBDA
from taser_engine.objectives.trades import TRADES_BETA, TradesForwards
from taser_engine.penalty import SteinPenaltyConfig

DEFAULT_WIDTH = {"small_cnn": 32, "mlp": 128, "resnet18": 64}
GAUSSIAN = "gaussian"


class _RunConfig(BaseModel):
    """Fields shared by training from scratch and fine-tuning."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

    # data
    dataset: DatasetName = Field("digits", description="the dataset (cifar10 and mnist are read from data_root)")
    data_root: PathText | None = Field(None, description="local root of CIFAR-10 / MNIST (torchvision layout)")
    download: bool = Field(False, description="fetch the dataset into data_root (online machines)")
    max_train_samples: int | None = Field(None, ge=2, le=MAX_SAMPLES, description="use only the first N training samples")
    max_test_samples: int | None = Field(None, ge=1, le=MAX_SAMPLES, description="use only the first N test samples")
    augment: bool | None = Field(None, description="standard augmentation; None = the dataset's default")

    # base objective (paper C.2 parameters)
    method: MethodName = Field("standard", description="base objective")
    epsilon: float | None = Field(None, ge=0.0, le=1.0, description="L∞ budget; None = dataset default")
    step_size: float | None = Field(None, gt=0.0, le=1.0, description="PGD step; None = ε/4")
    num_steps: int = Field(PAPER_NUM_STEPS, ge=0, le=1000, description="PGD steps of the inner attack (the paper: 10)",
                           json_schema_extra={"flag": "--steps"})
    beta: float = Field(TRADES_BETA, ge=0.0, le=MAX_LOSS_WEIGHT, description="TRADES β")
    trades_forwards: TradesForwards = Field("official", description=(
        "TRADES / TRADES-AWP: 'official' = the official code's three train-mode forwards (its BatchNorm "
        "running statistics); 'two' = the KL target reuses the clean forward (one forward cheaper)"))
    lambda_mart: float = Field(MART_LAMBDA, ge=0.0, le=MAX_LOSS_WEIGHT, description="MART λ")
    # AWP's perturbation is γ times each layer's weight norm: at 1 it is as large as the weights (paper: 0.005)
    awp_gamma: float = Field(AWP_GAMMA, ge=0.0, le=1.0, description="AWP γ (weight perturbation / weight norm)")
    awp_warmup: int = Field(AWP_WARMUP, ge=0, le=MAX_EPOCHS, description="first epoch (from 1) with AWP on")
    # A registered objective's own params that have no flat field above, checked by its class.
    method_params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_LIST, description=(
        "further parameters of the base objective by its field names, e.g. {\"beta\": 3.0}; they "
        "override the flat fields"))

    # optimisation
    epochs: int = Field(..., ge=1, le=MAX_EPOCHS, description="training epochs")
    batch_size: int = Field(256, ge=2, le=MAX_BATCH, description="samples per step (all processes together)")
    weight_decay: float = Field(STANDARD_WEIGHT_DECAY, ge=0.0, le=1.0, description="weight decay")  # usual values are 1e-4 to 5e-4; at 1 the decay outweighs any loss

    # TASER
    taser: bool = Field(False, description="add the TASER penalty")
    score_model: PathText = Field(GAUSSIAN, description="'gaussian' or a diffusers score-model directory")
    score_timestep: int = Field(50, ge=0, le=MAX_TIMESTEPS, description="diffusion timestep τ of the score")
    score_cache: str = Field("auto", max_length=4096, description=(
        "diffusion scores: 'auto' (score every training image once, keep the float16 scores next to "
        "the score model, reuse them in later runs), 'off' (score each batch live on the device) or "
        "the path of a .safetensors cache file"))
    taser_lambda: float = Field(1.0, ge=0.0, le=MAX_LOSS_WEIGHT, description="λ_max of the TASER penalty",
                                json_schema_extra={"flag": "--lambda"})
    lambda_warmup_fraction: float = Field(0.1, ge=0.0, le=1.0, description="T_warm of the λ ramp as a share of T")
    penalty: SteinPenaltyConfig = Field(default_factory=SteinPenaltyConfig, description="how the TASER penalty is computed")
    freeze_batchnorm: bool = Field(False, description=(
        "BatchNorm uses and keeps its running statistics during training (usual when fine-tuning). "
        "Then, with the penalty on the whole batch and a clean base loss (standard), the penalty's "
        "forward also gives the base loss its logits: one forward and one backward for both"))

    # running
    seed: Seed = Field(0, description="seed of the initialisation, data order and attacks")
    device: DeviceOrAuto = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'")
    amp: bool = Field(False, description="bfloat16 autocast for the base loss on CUDA")
    cpu_threads: int | None = Field(None, ge=1, le=MAX_THREADS,
                                    description="torch threads while running on the CPU; None = torch's default")
    eval_batch_size: int = Field(512, ge=1, le=MAX_BATCH, description="batch size of the clean-accuracy evaluation")
    log_every_steps: int = Field(10, ge=1, le=MAX_STEPS, description="steps between recorded step metrics")
    checkpoint_every_steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="also checkpoint mid-epoch")
    gpus: int = Field(1, ge=1, le=MAX_PROCESSES, description=(
        "data-parallel processes (torchrun + DistributedDataParallel): one per GPU on CUDA, "
        "that many CPU processes on the CPU; the global batch is split across them"))

    @field_validator("score_cache")
    @classmethod
    def _score_cache(cls, value: str) -> str:
        if value not in ("auto", "off") and not value.endswith(".safetensors"):
            raise ValueError(f"score_cache must be 'auto', 'off' or a .safetensors file path, got {value!r}")
        return value

    @model_validator(mode="after")
    def _method_params_known(self):
        cls = OBJECTIVES.get(self.method)
        unknown = sorted(set(self.method_params) - set(cls.model_fields) | ({"method"} & set(self.method_params)))
        if unknown:
            raise ValueError(f"method_params: {self.method!r} has no parameter(s) {', '.join(unknown)[:200]}; "
                             f"it takes {', '.join(k for k in cls.model_fields if k != 'method')}")
        try:
            cls(**{k: v for k, v in self.method_params.items()})
        except ValidationError as exc:
            raise ValueError(f"method_params: {format_errors(exc)}") from None
        return self

    @model_validator(mode="after")
    def _needs_root(self):
        if dataset_info(self.dataset).needs_root and not self.data_root:
            raise ValueError(f"data_root: dataset {self.dataset!r} is read from a local directory; give it")
        if self.penalty.centering == "global" and self.penalty.center is None:
            raise ValueError("penalty.center: centering='global' needs the constant (estimate_center)")
        if self.batch_size < 2 * self.gpus:
            raise ValueError(f"batch_size: {self.batch_size} cannot give each of the {self.gpus} processes "
                             "the 2 samples a step needs (batch_size >= 2·gpus)")
        return self

    def check_inputs_exist(self) -> None:
        """ValueError naming the field when a local input (score model, source model) is missing.

        Called where a run starts (and by the CLI up front), not during validation: a queued job
        may name the folder of a run that has not finished yet.
        """
        if self.taser and self.score_model != GAUSSIAN and not Path(self.score_model).exists() \
                and not looks_like_hub_id(self.score_model):
            raise ValueError(f"score_model: {self.score_model!r} is neither 'gaussian', an existing directory "
                             "nor a hub id such as google/ddpm-cifar10-32")
        source = getattr(self, "source", None)
        if source is not None:
            path = Path(source)
            if not (path.is_file() or (path / "model.safetensors").is_file()):
                raise ValueError(f"source: {source!r} holds no model.safetensors "
                                 "(give a training run directory or a weights file)")

    # derived values
    @property
    def eps(self) -> float:
        return dataset_info(self.dataset).eps_linf if self.epsilon is None else self.epsilon

    @property
    def pgd_step(self) -> float:
        return self.eps / 4 if self.step_size is None else self.step_size

    def objective_params(self) -> dict:
        return {"epsilon": self.eps, "step_size": self.pgd_step, "num_steps": self.num_steps,
                "beta": self.beta, "forwards": self.trades_forwards, "lambda_mart": self.lambda_mart, "awp_gamma": self.awp_gamma,
                "awp_warmup": self.awp_warmup, **self.method_params}

    @property
    def use_augmentation(self) -> bool:
        return dataset_info(self.dataset).augment if self.augment is None else self.augment


class TrainConfig(_RunConfig):
    """Training from scratch: L_base + λ(t)·R_TASER (paper eq. 25; C.5 optimisation)."""

    kind: Literal["train"] = Field("train", json_schema_extra={"cli": False})
    arch: Literal["resnet18", "small_cnn", "mlp"] | None = Field(None, description="model architecture; None = the dataset's default")
    activation: Activation = Field("relu", description="activation function of the model")
    width: int | None = Field(None, ge=1, le=MAX_WIDTH, description="base width (CNN channels, MLP hidden units); None = the arch's")
    optimizer: Literal["adam", "sgd"] = Field("adam", description="optimiser")
    lr: float = Field(1e-3, gt=0.0, le=MAX_LR, description="initial learning rate η0")
    lr_min: float = Field(0.0, ge=0.0, le=MAX_LR, description="end of the cosine decay")
    lr_schedule: Literal["cosine", "constant"] = Field("cosine", description="learning-rate schedule")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum / Adam β1")

    def model_spec(self) -> ModelSpec:
        info = dataset_info(self.dataset)
        arch = self.arch or info.default_arch
        return ModelSpec(arch=arch, in_channels=info.in_channels, image_size=info.image_size,
                         num_classes=info.num_classes, activation=self.activation,
                         width=self.width or DEFAULT_WIDTH[arch], mean=list(info.mean), std=list(info.std))


class FinetuneConfig(_RunConfig):
    """TASER fine-tuning of a checkpoint: L_base + α·KL(f_θ0 ‖ f_θ) + λ(t)·R_TASER (eq. 26).

    Learning rate: linear warm-up to η_max over T_warm = 0.1·T, cosine decay to η_min (C.5).
    `adversarial_lite_steps` makes the base loss a cheap robust one: the method's attack with
    that many steps (PGD-AT when the method is 'standard').
    """

    kind: Literal["finetune"] = Field("finetune", json_schema_extra={"cli": False})
    source: PathText = Field(..., description="run directory (model.safetensors + model.json), or a weights file "
                                         "(.safetensors / .pt state dict) with model.json beside it; its dataset and "
                                         "method are the defaults", json_schema_extra={"flag": "--from"})
    taser: bool = Field(True, description="add the TASER penalty (--no-taser: teacher KL and base loss only, an ablation)")
    alpha: float = Field(1.0, ge=0.0, le=MAX_LOSS_WEIGHT, description="weight of the teacher KL(f_θ0 ‖ f_θ)")
    eta_max: float = Field(1e-3, gt=0.0, le=MAX_LR, description="peak learning rate")
    eta_min: float = Field(1e-4, ge=0.0, le=MAX_LR, description="final learning rate")
    lr_warmup_fraction: float = Field(0.1, ge=0.0, le=1.0, description="T_warm as a share of T")
    adversarial_lite_steps: int | None = Field(None, ge=1, le=100, json_schema_extra={"flag": "--adv-lite"}, description=(
        "adversarial-lite base loss: the method's attack (PGD for standard) with this many steps"))

    # `source` and `score_model` are checked when the run starts (`check_inputs_exist`), not here:
    # a queued job may name the folder of a run that has not finished yet (the queue waits for it).

    @model_validator(mode="after")
    def _lite(self):
        if self.eta_min > self.eta_max:
            raise ValueError("eta_min must not exceed eta_max")
        return self

    @property
    def base_method(self) -> str:
        if self.adversarial_lite_steps is not None and self.method == "standard":
            return "pgd"
        return self.method

    def objective_params(self) -> dict:
        params = super().objective_params()
        if self.adversarial_lite_steps is not None:
            params["num_steps"] = self.adversarial_lite_steps
            params["step_size"] = self.step_size or 2.5 * self.eps / self.adversarial_lite_steps
        return params


def source_run_defaults(source: str | Path) -> dict:
    """Dataset and base method of the run a fine-tune starts from (its config.json), when known.

    Fine-tuning keeps the source's base loss (paper eq. 26) unless told otherwise.
    """
    try:
        stored = json.loads((Path(source) / "config.json").read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return {k: stored[k] for k in ("dataset", "data_root", "method") if stored.get(k) is not None}

