"""Overhead benchmark: wall time per sample of a training step with and without the TASER penalty.

For each model × device × method × Laplacian it times, in one process, a plain SGD step
(cross-entropy, backward, update) and the same step plus `λ·R_TASER` (BatchNorm in train mode, or
frozen as when fine-tuning, where the penalty's forward also serves the loss), and measures how far each
estimator's residual and parameter gradient are from the float64 double-backward reference
(same Hutchinson probes). Timings are medians over repeats after warm-up, with their min–max.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from taser_engine.callbacks import Callbacks, StopRequested
from taser_engine.fields import MAX_BATCH, MAX_LIST, Device, Seed, present_devices
from taser_engine.models import Activation, ModelSpec, build_model
from taser_engine.modes import freeze_batchnorm
from taser_engine.penalty import SteinPenaltyConfig, taser_penalty
from taser_engine.stein import LAPLACIANS, METHODS

BENCH_MODELS: dict[str, ModelSpec] = {
    "resnet18": ModelSpec(arch="resnet18", in_channels=3, image_size=32, width=64,
                          mean=[0.4914, 0.4822, 0.4465], std=[0.2470, 0.2435, 0.2616]),
    "small_cnn": ModelSpec(arch="small_cnn", in_channels=1, image_size=8, width=32),
}
EXACT_LAPLACIAN_MAX_DIM = 64  # the exact Laplacian costs d second derivatives


class OverheadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # The benchmark times the product of its list axes: each is a short sweep (MAX_LIST items).
    models: list[Literal["resnet18", "small_cnn"]] = Field(["resnet18", "small_cnn"], max_length=MAX_LIST,
                                                           description="models benchmarked")
    activations: list[Activation] = Field(default_factory=lambda: ["relu"], max_length=MAX_LIST,
                                          description="activation of the benchmarked models (paper: ReLU)")
    batchnorm: list[Literal["train", "frozen"]] = Field(default_factory=lambda: ["train"], max_length=MAX_LIST,
                                                        description=(
        "BatchNorm during the step: 'train' (batch statistics, training from scratch) or 'frozen' "
        "(running statistics, as when fine-tuning: the penalty's forward also serves the loss)"))
    devices: list[Device] = Field(default_factory=present_devices,
                                  max_length=MAX_LIST, description="devices (default: every one present)")
    methods: list[Literal["autograd", "jvp", "fd"]] = Field(list(METHODS), max_length=MAX_LIST,
                                                            description="how the penalty's derivatives are computed")
    laplacians: list[Literal["none", "hutchinson", "exact"]] = Field(list(LAPLACIANS), max_length=MAX_LIST,
                                                                     description="Laplacian terms")
    num_probes: int = Field(1, ge=1, le=64, description="random probes of the Laplacian estimate")  # as SteinPenaltyConfig.num_probes
    fractions: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(default_factory=lambda: [1.0], max_length=MAX_LIST,
                                   description="shares of the batch the penalty uses (paper: the whole batch)")
    batch_size: int = Field(32, ge=2, le=MAX_BATCH, description="samples per timed step")
    # timed steps per row: medians settle within 5-10; 1,000 is already minutes per row on a CPU
    warmup: int = Field(2, ge=0, le=1000, description="untimed steps before timing")
    repeats: int = Field(5, ge=1, le=1000, description="timed steps per row (the median is reported)")
    # the float64 double-backward reference costs far more than a step: a few samples suffice
    reference_samples: int = Field(8, ge=2, le=1024, description="samples used for the float64 reference")
    seed: Seed = Field(0, description="seed of the synthetic batch and the models")

    @classmethod
    def quick(cls, **overrides) -> "OverheadConfig":
        return cls(**{"warmup": 1, "repeats": 2, "reference_samples": 4, **overrides})


def _batch(spec: ModelSpec, batch_size: int, device: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, spec.in_channels, spec.image_size, spec.image_size, generator=g)
    y = torch.randint(0, spec.num_classes, (batch_size,), generator=g)
    score = -(x - 0.5) / 0.25**2  # N(0.5, 0.25²) per pixel: a cheap, smooth stand-in score
    return x.to(device), y.to(device), score.to(device)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _seconds(step, device: str) -> float:
    _synchronize(device)
    start = time.perf_counter()
    step()
    _synchronize(device)
    return time.perf_counter() - start


def _time_pair(plain_step, taser_step, device: str, warmup: int, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of the plain and the TASER step per repeat, interleaved so drift hits both alike."""
    for _ in range(warmup):
        plain_step()
        taser_step()
    plain, taser = [], []
    for _ in range(repeats):
        plain.append(_seconds(plain_step, device))
        taser.append(_seconds(taser_step, device))
    return plain, taser


def _timing_fields(plain: list[float], taser: list[float], batch_size: int) -> dict[str, float]:
    """Medians over repeats and their min–max spread; each repeat's ratio pairs the two steps
    timed next to each other, so the ratio's spread is not the ratio of the spreads."""
    ms, plain_ms = [1000 * s / batch_size for s in taser], [1000 * s / batch_size for s in plain]
    ratios = [t / p for t, p in zip(taser, plain)]
    return {"ms_per_sample": statistics.median(ms), "ms_per_sample_min": min(ms), "ms_per_sample_max": max(ms),
            "plain_ms_per_sample": statistics.median(plain_ms), "plain_ms_per_sample_min": min(plain_ms),
            "plain_ms_per_sample_max": max(plain_ms),
            # the ratio of medians, as before; the spread is over the per-repeat ratios
            "ratio": statistics.median(taser) / statistics.median(plain),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "repeats": len(ratios)}


def _training_step(model: nn.Module, opt: torch.optim.Optimizer, x, y, score, penalty: SteinPenaltyConfig | None,
                   seed: int, batchnorm: str = "train"):
    """One SGD step on cross-entropy (+ the penalty), as the training loop takes it.

    With BatchNorm frozen and the penalty on the whole batch, the loss uses the logits of the
    penalty's own forward (`PenaltyResult.logits`), as `training.loop` does.
    """
    shared = batchnorm == "frozen" and penalty is not None and penalty.fraction >= 1.0

    def step():
        opt.zero_grad(set_to_none=True)
        model.train()
        if batchnorm == "frozen":
            freeze_batchnorm(model)
        logits = None if shared else model(x)
        penalty_value = 0.0
        if penalty is not None:
            g = torch.Generator(device=x.device).manual_seed(seed)
            result = taser_penalty(model, x, y, score, penalty, g)
            penalty_value = result.value
            if logits is None:  # shared, unless the estimator ran no tangent batch
                logits = result.logits if result.logits is not None else model(x)
        (nn.functional.cross_entropy(logits, y) + penalty_value).backward()
        opt.step()
    return step


def _penalty_gradient(model: nn.Module, x, y, score, cfg: SteinPenaltyConfig, seed: int):
    g = torch.Generator(device=x.device).manual_seed(seed)
    out = taser_penalty(model, x, y, score, cfg, g)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out.value, params)
    return out.residual.detach().double().cpu(), torch.cat([g.flatten() for g in grads]).double().cpu()


def _relative(a: torch.Tensor, ref: torch.Tensor) -> float:
    return (a - ref).norm().item() / max(ref.norm().item(), 1e-30)


def _reference(model, x, y, score, cfg: SteinPenaltyConfig, seed: int):
    """Residual and penalty gradient by float64 double backward (same Hutchinson probes)."""
    reference = copy.deepcopy(model).double().cpu()
    ref_cfg = cfg.model_copy(update={"method": "autograd", "fd_step": None})
    return _penalty_gradient(reference, x.double().cpu(), y.cpu(), score.double().cpu(), ref_cfg, seed)


def _accuracy(model, x, y, score, cfg, seed: int, reference) -> tuple[float, float]:
    """Relative error of the residual and of the penalty's parameter gradient vs the reference."""
    r, g = _penalty_gradient(model, x, y, score, cfg, seed)
    return _relative(r, reference[0]), _relative(g, reference[1])


def _combinations(config: OverheadConfig, spec: ModelSpec):
    d = spec.in_channels * spec.image_size**2
    for laplacian in config.laplacians:
        if laplacian == "exact" and d > EXACT_LAPLACIAN_MAX_DIM:
            continue
        for method in config.methods:
            for fraction in config.fractions:
                yield method, laplacian, fraction


def run_overhead(config: OverheadConfig, callbacks: Callbacks | None = None) -> dict:
    callbacks = callbacks or Callbacks()
    variants = [(m, a, bn) for m in config.models for a in config.activations for bn in config.batchnorm]
    jobs = [(v, dev, combo) for v in variants for dev in config.devices
            for combo in _combinations(config, BENCH_MODELS[v[0]])]
    rows, done = [], 0
    for model_name, activation, batchnorm in variants:
        spec = BENCH_MODELS[model_name].model_copy(update={"activation": activation})
        for device in config.devices:
            torch.manual_seed(config.seed)
            model = build_model(spec).to(device).train()
            opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
            x, y, score = _batch(spec, config.batch_size, device, config.seed)
            plain_step = _training_step(model, opt, x, y, score, None, config.seed, batchnorm)
            # Accuracy is measured on a snapshot: the timed steps keep updating `model`.
            snapshot = copy.deepcopy(model)
            references: dict[str, tuple] = {}
            errors: dict[tuple[str, str], tuple[float, float]] = {}
            n_ref = config.reference_samples
            for method, laplacian, fraction in _combinations(config, spec):
                if callbacks.should_stop():
                    raise StopRequested()
                cfg = SteinPenaltyConfig(method=method, laplacian=laplacian, num_probes=config.num_probes)
                taser_step = _training_step(model, opt, x, y, score, cfg.model_copy(update={"fraction": fraction}),
                                            config.seed, batchnorm)
                plain, taser = _time_pair(plain_step, taser_step, device, config.warmup, config.repeats)
                if laplacian not in references:  # the reference does not depend on the method
                    references[laplacian] = _reference(snapshot, x[:n_ref], y[:n_ref], score[:n_ref], cfg, config.seed)
                if (method, laplacian) not in errors:  # nor the estimator's error on the fraction used
                    errors[method, laplacian] = _accuracy(snapshot, x[:n_ref], y[:n_ref], score[:n_ref], cfg,
                                                          config.seed, references[laplacian])
                rel_error, grad_error = errors[method, laplacian]
                row = {
                    "model": model_name, "activation": activation, "batchnorm": batchnorm, "device": device,
                    "method": method, "laplacian": laplacian, "fraction": fraction,
                    "num_probes": config.num_probes if laplacian == "hutchinson" else 0,
                    "batch_size": config.batch_size,
                    **_timing_fields(plain, taser, config.batch_size),
                    "rel_error": rel_error,
                    "grad_rel_error": grad_error,
                }
                rows.append(row)
                done += 1
                callbacks.on_progress(done, len(jobs),
                                      f"{model_name}/{activation}/{batchnorm}-bn/{device}/{method}/{laplacian}/{fraction:g}")
                callbacks.on_metrics(done, {"ratio": row["ratio"], "ms_per_sample": row["ms_per_sample"]})
    return {"settings": config.model_dump(), "torch": torch.__version__, "rows": rows}
