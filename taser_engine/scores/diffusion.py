"""Diffusion score sources: a noise-prediction network turned into s(x) ≈ ∇ log p(x) (paper C.4).

Conversion. A DDPM network predicts the noise ε in x_τ = √ᾱ_τ·x₀ + σ_τ·ε, σ_τ = √(1 − ᾱ_τ).
The score of the noised density is ∇ log p_τ(x_τ) = −E[ε | x_τ]/σ_τ, so the estimate is
`s = −ε̂(x_τ, τ)/σ_τ` (σ, not σ²). Checkpoints that predict x₀ ("sample") or v are converted to
ε̂ first, following the scheduler's `prediction_type`.

Coordinates. Classifiers here take inputs in [0, 1]; diffusion models work in [−1, 1]. With
x' = a·x + b (a = 2, b = −1 by default) the density of x is p'(a·x + b)·|a|^d, so by the chain rule
∇ₓ log p(x) = a·∇ₓ' log p'(x'): the score in classifier coordinates is **2×** the model's.
`data_scale`/`data_shift` set a, b (use 1, 0 for data already in model coordinates).

Clean or noised input. By default (`noise_input=False`) the clean x is used *as* x_τ: the result is
deterministic (cacheable, the same at every epoch) and is the score of the noise-smoothed density
p_τ evaluated at the data point, which is what TASER regularises with. (x is not rescaled by
√ᾱ_τ; at τ = 50 that factor is 0.985.) With `noise_input=True` x is first noised,
x_τ = √ᾱ_τ·x' + σ_τ·ε with ε from `generator`, and the score is evaluated at that noised point: a
stochastic estimate whose pairs (x_τ, s(x_τ)) are exact samples of p_τ and its score, which the
Stein-identity check uses (`noised_pair`).

Normalisation (C.4). `c_t` rescales the score so that its magnitude at timestep t matches the
magnitude at the reference timestep 50. The paper writes c_t = σ_t/σ_50 with σ_t "the standard
deviation of the score"; read literally that would *amplify* the differences it is meant to
remove (the score shrinks as t grows), so we implement the standardising reading
c_t = std(s_50)/std(s_t) with both stds estimated on a calibration set. Because std(s_t) ≈ 1/σ_t
for a good model (σ_t now the noise level), this equals σ_t/σ_50 in noise levels, which is the
other reading of the paper's formula; `calibrate_normalisation` reports both. The constants are
recorded next to the model in `taser_score.json`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor, nn

from taser_engine.fields import looks_like_hub_id
from taser_engine.scores.base import ScoreSource

DEFAULT_TIMESTEP = 50
REFERENCE_TIMESTEP = 50
NORMALISATION_FILE = "taser_score.json"
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


class ScoreModelError(Exception):
    """A score model that cannot be found, loaded or used as asked."""


def noise_level(scheduler, timestep: int) -> tuple[float, float]:
    """(ᾱ_τ, σ_τ = √(1 − ᾱ_τ)) of a DDPM-style scheduler at integer timestep τ."""
    alphas_cumprod = scheduler.alphas_cumprod
    if not 0 <= timestep < len(alphas_cumprod):
        raise ScoreModelError(f"timestep must be in [0, {len(alphas_cumprod) - 1}], got {timestep}")
    alpha_bar = float(alphas_cumprod[timestep])
    return alpha_bar, math.sqrt(1.0 - alpha_bar)


def epsilon_from_prediction(prediction: Tensor, x_t: Tensor, alpha_bar: float, prediction_type: str) -> Tensor:
    """ε̂ from a network output in any of the three DDPM parameterisations."""
    sqrt_ab, sigma = math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar)
    if prediction_type == "epsilon":
        return prediction
    if prediction_type == "sample":  # x₀-prediction: x_t = √ᾱ x₀ + σ ε
        return (x_t - sqrt_ab * prediction) / sigma
    if prediction_type == "v_prediction":  # v = √ᾱ ε − σ x₀  ⇒  ε = √ᾱ v + σ x_t
        return sqrt_ab * prediction + sigma * x_t
    raise ScoreModelError(f"unsupported prediction_type {prediction_type!r}; expected one of {PREDICTION_TYPES}")


def call_denoiser(model: nn.Module, x_t: Tensor, timestep: int) -> Tensor:
    """The network output for a batch at one integer timestep (UNet2DModel returns `.sample`)."""
    t = torch.full((x_t.shape[0],), timestep, dtype=torch.long, device=x_t.device)
    out = model(x_t, t)
    return out.sample if hasattr(out, "sample") else out


@dataclass
class ScoreNormalisation:
    """Empirical score stds per timestep (classifier coordinates) and what they were measured on."""

    score_std: dict[int, float]
    reference_timestep: int = REFERENCE_TIMESTEP
    calibration: dict[str, Any] = field(default_factory=dict)

    def factor(self, timestep: int) -> float:
        """c_t = std(s_ref)/std(s_t): the normalised score has the reference magnitude."""
        for t in (timestep, self.reference_timestep):
            if t not in self.score_std:
                raise ScoreModelError(
                    f"no calibrated score std for timestep {t} (have {sorted(self.score_std)}); "
                    "run `taser score-model calibrate` with that timestep")
        return self.score_std[self.reference_timestep] / self.score_std[timestep]

    def to_json(self) -> dict[str, Any]:
        return {"score_std": {str(t): v for t, v in sorted(self.score_std.items())},
                "reference_timestep": self.reference_timestep, "calibration": self.calibration}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> "ScoreNormalisation":
        return cls({int(t): float(v) for t, v in payload["score_std"].items()},
                   int(payload.get("reference_timestep", REFERENCE_TIMESTEP)), dict(payload.get("calibration", {})))

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / NORMALISATION_FILE
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "ScoreNormalisation | None":
        path = Path(model_dir) / NORMALISATION_FILE
        return cls.from_json(json.loads(path.read_text())) if path.is_file() else None


class DiffusionScore(ScoreSource):
    """s(x) = data_scale · (−ε̂(x_τ, τ)/σ_τ) · c_τ for inputs x in classifier coordinates.

    `model(x_t, t)` is any noise-prediction network with the UNet2DModel call signature
    (returning a tensor or an object with `.sample`); `scheduler` supplies ᾱ_τ and the
    parameterisation. Evaluation runs without gradients in chunks of `batch_size`, on the
    model's device, and returns a tensor on x's device and dtype.
    """

    def __init__(self, model: nn.Module, scheduler, timestep: int = DEFAULT_TIMESTEP, *,
                 noise_input: bool = False, data_scale: float = 2.0, data_shift: float = -1.0,
                 normalise: bool = False, normalisation: ScoreNormalisation | None = None,
                 flip_symmetrise: bool = False, batch_size: int = 256,
                 generator: torch.Generator | None = None):
        self.model = model.eval().requires_grad_(False)
        self.scheduler = scheduler
        self.timestep = int(timestep)
        self.alpha_bar, self.sigma = noise_level(scheduler, self.timestep)
        self.prediction_type = getattr(scheduler.config, "prediction_type", "epsilon")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ScoreModelError(f"unsupported prediction_type {self.prediction_type!r}; expected one of {PREDICTION_TYPES}")
        self.noise_input = noise_input
        self.data_scale, self.data_shift = float(data_scale), float(data_shift)
        self.normalisation = normalisation
        if normalise and normalisation is None:
            raise ScoreModelError("normalise=True needs calibrated constants (ScoreNormalisation); "
                                  "run `taser score-model calibrate DIR` first")
        self.scale = normalisation.factor(self.timestep) if normalise else 1.0
        self.normalise = normalise
        self.flip_symmetrise = flip_symmetrise
        self.batch_size = batch_size
        self.generator = generator

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> "DiffusionScore":
        self.model.to(device)
        return self

    def describe(self) -> dict[str, Any]:
        """What produced these scores; stored with caches and run records."""
        return {"timestep": self.timestep, "sigma": self.sigma, "alpha_bar": self.alpha_bar,
                "noise_input": self.noise_input, "data_scale": self.data_scale,
                "data_shift": self.data_shift, "normalise": self.normalise, "c_t": self.scale,
                "flip_symmetrise": self.flip_symmetrise, "prediction_type": self.prediction_type}

    # -- model coordinates -------------------------------------------------------------------

    def epsilon(self, x_t: Tensor) -> Tensor:
        """ε̂(x_t, τ) in model coordinates, flip-averaged when `flip_symmetrise` is set."""
        eps = epsilon_from_prediction(call_denoiser(self.model, x_t, self.timestep), x_t,
                                      self.alpha_bar, self.prediction_type)
        if self.flip_symmetrise:
            flipped = x_t.flip(-1)
            eps_f = epsilon_from_prediction(call_denoiser(self.model, flipped, self.timestep), flipped,
                                            self.alpha_bar, self.prediction_type)
            eps = 0.5 * (eps + eps_f.flip(-1))
        return eps

    def model_score(self, x_t: Tensor) -> Tensor:
        """∇ log p_τ(x_t) ≈ −ε̂/σ_τ in model coordinates (no normalisation)."""
        return -self.epsilon(x_t) / self.sigma

    # -- classifier coordinates --------------------------------------------------------------

    def to_model(self, x: Tensor) -> Tensor:
        return self.data_scale * x + self.data_shift

    def from_model(self, x_model: Tensor) -> Tensor:
        return (x_model - self.data_shift) / self.data_scale

    def noise(self, x_model: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x_τ = √ᾱ_τ·x' + σ_τ·ε in model coordinates."""
        gen = generator if generator is not None else self.generator
        eps = torch.randn(x_model.shape, generator=gen, dtype=x_model.dtype,
                          device=gen.device if gen is not None else x_model.device)
        return math.sqrt(self.alpha_bar) * x_model + self.sigma * eps.to(x_model.device)

    def _check_shape(self, x: Tensor) -> None:
        if self.flip_symmetrise and x.dim() != 4:
            raise ScoreModelError("flip_symmetrise needs image batches (B, C, H, W)")

    def _score_chunks(self, x_model: Tensor) -> Tensor:
        out = [self.model_score(chunk) for chunk in x_model.split(self.batch_size)]
        return torch.cat(out) * (self.data_scale * self.scale)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        self._check_shape(x)
        x_model = self.to_model(x.detach().to(self.device, torch.float32))
        if self.noise_input:
            x_model = self.noise(x_model)
        return self._score_chunks(x_model).to(device=x.device, dtype=x.dtype)

    @torch.no_grad()
    def noised_pair(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x_τ, s(x_τ)) in classifier coordinates: x noised to timestep τ and its score."""
        self._check_shape(x)
        x_t = self.noise(self.to_model(x.detach().to(self.device, torch.float32)), generator)
        s = self._score_chunks(x_t)
        return self.from_model(x_t).to(x.device, x.dtype), s.to(x.device, x.dtype)


# -- calibration -----------------------------------------------------------------------------

def score_std(source: DiffusionScore, images: Tensor, timestep: int) -> float:
    """Empirical std of all score entries at `timestep` (classifier coordinates, unnormalised)."""
    probe = DiffusionScore(source.model, source.scheduler, timestep, noise_input=source.noise_input,
                           data_scale=source.data_scale, data_shift=source.data_shift,
                           flip_symmetrise=source.flip_symmetrise, batch_size=source.batch_size,
                           generator=source.generator)
    s = probe(images).double()
    return float(s.std(unbiased=False))


def calibrate_normalisation(source: DiffusionScore, images: Tensor, timesteps: Iterable[int],
                            reference_timestep: int = REFERENCE_TIMESTEP,
                            description: dict[str, Any] | None = None) -> ScoreNormalisation:
    """Score stds at each timestep (always including the reference) on calibration images."""
    steps = sorted(set(int(t) for t in timesteps) | {reference_timestep})
    stds = {t: score_std(source, images, t) for t in steps}
    _, sigma_ref = noise_level(source.scheduler, reference_timestep)
    calibration = {"num_samples": int(images.shape[0]), "noise_input": source.noise_input,
                   "noise_level_ratio": {str(t): noise_level(source.scheduler, t)[1] / sigma_ref for t in steps}}
    calibration.update(description or {})
    return ScoreNormalisation(stds, reference_timestep, calibration)


# -- loading ---------------------------------------------------------------------------------

def _hub_offline(local_files_only: bool | None) -> bool:
    if local_files_only is not None:
        return local_files_only
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _model_class(config_path: Path):
    from diffusers import UNet2DModel

    from taser_engine.scores.training import MLPDenoiser

    classes = {"UNet2DModel": UNet2DModel, "MLPDenoiser": MLPDenoiser}
    name = json.loads(config_path.read_text()).get("_class_name", "UNet2DModel")
    if name not in classes:
        raise ScoreModelError(f"{config_path}: model class {name!r} is not supported; expected one of {sorted(classes)}")
    return classes[name]


def _load_local(directory: Path, device: str):
    from diffusers import DDPMScheduler

    model_dir = directory / "unet" if (directory / "unet" / "config.json").is_file() else directory
    if not (model_dir / "config.json").is_file():
        raise ScoreModelError(f"{directory} holds no diffusers model (config.json, or unet/config.json)")
    sched_dir = directory / "scheduler" if (directory / "scheduler" / "scheduler_config.json").is_file() else directory
    if not (sched_dir / "scheduler_config.json").is_file():
        raise ScoreModelError(f"{directory} holds no scheduler_config.json (or scheduler/scheduler_config.json)")
    try:
        model = _model_class(model_dir / "config.json").from_pretrained(model_dir, local_files_only=True,
                                                                        low_cpu_mem_usage=False)
        scheduler = DDPMScheduler.from_pretrained(sched_dir, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ScoreModelError(f"cannot load the score model in {directory}: {exc}") from exc
    return model.to(device), scheduler


def _load_hub(repo_id: str, device: str, local_files_only: bool):
    from diffusers import DDPMScheduler, UNet2DModel

    errors = []
    for subfolder in (None, "unet"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # deprecation chatter from the hub client
                model = UNet2DModel.from_pretrained(repo_id, subfolder=subfolder, local_files_only=local_files_only,
                                                    low_cpu_mem_usage=False)
                sched_sub = None if subfolder is None else "scheduler"
                scheduler = DDPMScheduler.from_pretrained(repo_id, subfolder=sched_sub,
                                                          local_files_only=local_files_only)
            return model.to(device), scheduler
        except Exception as exc:  # hub, network and cache errors come in many types
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    how = ("offline (HF_HUB_OFFLINE or local_files_only is set) and it is not in the local "
           "Hugging Face cache" if local_files_only else "it could not be downloaded")
    raise ScoreModelError(
        f"cannot load score model {repo_id!r} from the Hugging Face hub: {how}. On a machine with "
        f"internet access run `hf download {repo_id} --local-dir DIR` (or "
        "`UNet2DModel.from_pretrained(...).save_pretrained(DIR)` plus the scheduler), copy DIR here "
        f"and pass DIR instead of the hub id. ({errors[0]})")


def _looks_like_path(name: str) -> bool:
    """Hub ids are exactly `owner/name`; anything else is meant as a local directory."""
    return not looks_like_hub_id(name)


def load_score_source(path_or_hub_id: str | Path, timestep: int = DEFAULT_TIMESTEP, device: str = "cpu", *,
                      noise_input: bool = False, normalise: bool = False, flip_symmetrise: bool = False,
                      data_scale: float | None = None, data_shift: float | None = None,
                      local_files_only: bool | None = None, batch_size: int = 256,
                      generator: torch.Generator | None = None) -> DiffusionScore:
    """A `DiffusionScore` from a local diffusers directory or a hub id such as `google/ddpm-cifar10-32`.

    Local directories may hold the UNet and scheduler side by side (as `taser score-model train`
    writes them) or in `unet/` and `scheduler/` (a saved pipeline). Calibrated normalisation
    constants (`taser_score.json`) and the model's data coordinates (`taser_training.json`, e.g.
    1/0 for a 2D toy model) are read when present; otherwise inputs are mapped [0, 1] → [−1, 1].
    Hub ids honour `HF_HUB_OFFLINE` (or `local_files_only=True`) and fail with a message that
    says how to use a local copy instead.
    """
    name = str(path_or_hub_id)
    directory = Path(name).expanduser()
    if directory.is_dir():
        model, scheduler = _load_local(directory, device)
        normalisation = ScoreNormalisation.load(directory)
        coords = _recorded_coordinates(directory)
    elif _looks_like_path(name) or directory.exists():
        raise ScoreModelError(f"score model directory {name!r} does not exist (or is not a directory)")
    else:
        model, scheduler = _load_hub(name, device, _hub_offline(local_files_only))
        normalisation, coords = None, {}
    return DiffusionScore(
        model, scheduler, timestep, noise_input=noise_input,
        data_scale=coords.get("data_scale", 2.0) if data_scale is None else data_scale,
        data_shift=coords.get("data_shift", -1.0) if data_shift is None else data_shift,
        normalise=normalise, normalisation=normalisation, flip_symmetrise=flip_symmetrise,
        batch_size=batch_size, generator=generator)


def _recorded_coordinates(directory: Path) -> dict[str, float]:
    path = directory / "taser_training.json"
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text())
    return {k: float(payload[k]) for k in ("data_scale", "data_shift") if k in payload}
