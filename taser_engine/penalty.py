"""The TASER batch penalty (Algorithm 1) and its diagnostics.

`R = mean((r − r̄)²)` over the batch, with r̄ the batch mean (optionally detached) or a global
centering constant estimated on a calibration set ("Approximate scores and centering", paper 3.2).

Normalisation layers: the penalty pass runs the model in eval mode (`per_sample_mode`). In train
mode BatchNorm couples the samples of a batch, so r_i would not be the per-sample residual the
paper defines; `torch.func` raises on its in-place running-statistic update; and worked-around
forward-mode gradients are silently wrong. In eval mode normalisation is an affine map per
sample: r_i depends on x_i alone, running statistics are untouched, and every derivative order
is correct. The task loss still sees the model in whatever mode the caller chose.

`batchnorm="batch"` is the one explicit exception (`SteinPenaltyConfig.batchnorm`): the pass keeps
the caller's mode, and training-mode BatchNorm normalises by the batch's statistics taken as
constants for the tangent rows (`taser_engine.tangents`). Each r_i then depends on its own sample
given those statistics, as in eval mode it depends on the running ones, and the pass's primal
rows are the training forward itself, so a clean base loss can take its logits from them
(one forward, one backward for both, without freezing BatchNorm). How far this is from the
eval-mode definition on a trained model is measured in `benchmarks/batchnorm_statistics.py`.
The residuals are exactly those with the batch's statistics as constants. Their gradient is too
where the primal values do not enter r (ReLU network, `probe="logit"`); otherwise (the margin's
softmax weights at the logits, σ'(a) of smooth activations) those primal values are the training
forward's, so their part of the gradient also runs through the statistics, as the base loss's
does (tests/test_batchnorm_statistics.py writes both references out).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from taser_engine.modes import eval_mode
from taser_engine.rng import draw_device
from taser_engine.probes import LogitProbe, ProbeKind
from taser_engine.stein import LaplacianKind, MethodKind, SteinTerms, stein_terms
from taser_engine.tangents import TangentOutputs


class SteinPenaltyConfig(BaseModel):
    """How the TASER penalty is computed; serialisable and validated once."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # the CLI's names for these flags predate the nested config (`--probe`, not `--penalty-probe`)
    probe: ProbeKind = Field("margin", description="the classifier output whose Stein residual is penalised",
                             json_schema_extra={"flag": "--probe"})
    laplacian: LaplacianKind = Field("none", description="the Laplacian term of the Stein operator",
                                     json_schema_extra={"flag": "--laplacian"})
    method: MethodKind = Field("jvp", description="how the input derivatives are computed")
    num_probes: int = Field(1, ge=1, le=64, description="random probes of the Laplacian estimate",
                            json_schema_extra={"flag": "--num-probes"})  # each probe adds a batch-sized tangent row block
    detach_mean: bool = Field(True, description="the batch mean of the residuals is a constant for the gradient")
    centering: Literal["batch", "global"] = Field("batch", description="residuals centred on the batch mean "
                                                  "or on a global constant (center)")
    # D_f is a mean Stein residual; |r| of a trained classifier is O(1–100)
    center: float | None = Field(None, ge=-1e9, le=1e9,
                                 description="global centering constant D_f (centering='global')")
    fraction: float = Field(1.0, gt=0.0, le=1.0, description="share of the batch the penalty uses (0.5 halves its cost)")
    fd_step: float | None = Field(None, gt=0.0, le=1.0,  # a step in input space, where pixels are in [0, 1]
                                  description="finite-difference step (method fd); None = its default")
    batchnorm: Literal["running", "batch"] = Field("running", description=(
        "BatchNorm statistics of the penalty pass: 'running' (eval mode, the paper's per-sample "
        "definition) or 'batch' (training mode, the batch's statistics as constants; with a clean "
        "base loss and the whole batch, the penalty's forward is then also the training forward)"))

    @model_validator(mode="after")
    def _batch_statistics_need_tangent_batches(self) -> "SteinPenaltyConfig":
        if self.batchnorm == "batch" and self.method != "jvp":
            raise ValueError("batchnorm='batch' needs method='jvp' (tangent batches); the other methods "
                             "would differentiate through the batch's statistics and couple the samples")
        return self


@dataclass
class PenaltyResult:
    value: Tensor  # scalar, differentiable
    residual: Tensor  # (b,) per-sample residuals of the samples used
    diagnostics: dict[str, Tensor] = field(default_factory=dict)  # detached scalars on the device
    # The model's logits on the samples used, from the penalty's own forward (same graph), when
    # it ran one tangent batch; with the whole batch and a model whose training mode equals its
    # per-sample mode (BatchNorm frozen), a clean base loss can use them instead of a forward.
    logits: Tensor | None = None
    chunks: int = 0  # B-sized chunks that forward ran (1 primal + tangents), 0 when unknown


# The penalty pass: eval mode makes each residual depend on its own sample only (module docstring).
per_sample_mode = eval_mode


def centred_variance(residual: Tensor, detach_mean: bool = True, center: float | None = None) -> Tensor:
    """`mean((r − c)²)` with c the batch mean (detached if asked) or the given global constant."""
    if center is not None:
        c = torch.as_tensor(center, dtype=residual.dtype, device=residual.device)
    else:
        c = residual.mean()
        if detach_mean:
            c = c.detach()
    return ((residual - c) ** 2).mean()


def _subset(x: Tensor, y: Tensor, score: Tensor, fraction: float,
            generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
    if fraction >= 1.0:
        return x, y, score
    keep = max(2, math.ceil(fraction * x.shape[0]))
    device = draw_device(generator, x)
    index = torch.randperm(x.shape[0], generator=generator, device=device)[:keep].to(x.device)
    return x[index], y[index], score[index]


def penalty_terms(model: nn.Module, x: Tensor, y: Tensor, score: Tensor, config: SteinPenaltyConfig,
                  generator: torch.Generator | None = None) -> SteinTerms:
    """The Stein terms of the configured probe of `model`, computed in the per-sample (eval) mode."""
    return _penalty_pass(model, x, y, score, config, generator)[0]


def _penalty_pass(model: nn.Module, x: Tensor, y: Tensor, score: Tensor, config: SteinPenaltyConfig,
                  generator: torch.Generator | None,
                  training_forward: bool = False) -> tuple[SteinTerms, TangentOutputs | None]:
    batch_statistics = config.batchnorm == "batch"
    probe = LogitProbe(model, y, config.probe, batch_statistics=batch_statistics,
                       update_running_stats=training_forward)
    if batch_statistics and _has_training_batchnorm(model) and not probe.uses_tangent_batch:
        raise ValueError("penalty batchnorm='batch' needs a model that runs tangent batches (the built-in "
                         "architectures, without SyncBatchNorm or other training-mode layers)")
    with contextlib.nullcontext() if batch_statistics else per_sample_mode(model):
        terms = stein_terms(probe, x, score, config.laplacian, config.num_probes, config.method,
                            generator, config.fd_step)
    return terms, probe.last_tangent_pass


def _has_training_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())


def taser_penalty(model: nn.Module, x: Tensor, y: Tensor, score: Tensor | Callable[[Tensor], Tensor],
                  config: SteinPenaltyConfig, generator: torch.Generator | None = None, *,
                  training_forward: bool = False) -> PenaltyResult:
    """The TASER penalty of `model` on the clean batch `(x, y)` with score field `score`.

    `training_forward`: with `batchnorm="batch"`, this pass is also the step's training forward
    (its logits serve the base loss), so it updates BatchNorm's running statistics as that
    forward would; otherwise the pass leaves them alone.
    """
    s = score(x) if callable(score) else score
    x, y, s = _subset(x, y, s, config.fraction, generator)
    terms, tangent_pass = _penalty_pass(model, x, y, s, config, generator, training_forward)
    center = config.center if config.centering == "global" else None
    if config.centering == "global" and center is None:
        raise ValueError("centering='global' needs a center; estimate it with estimate_center()")
    value = centred_variance(terms.residual, config.detach_mean, center)
    r = terms.residual.detach()
    diagnostics = {  # tensors: reading them would make every step wait for the device
        "stein_r_mean": r.mean(),
        "stein_r_var": r.var(unbiased=False),
        "stein_abs_directional": terms.directional.detach().abs().mean(),
    }
    if tangent_pass is None:
        return PenaltyResult(value, terms.residual, diagnostics)
    return PenaltyResult(value, terms.residual, diagnostics, tangent_pass.primal, tangent_pass.chunks)


def alignment(model: nn.Module, x: Tensor, y: Tensor, score: Tensor, probe: ProbeKind = "margin") -> dict[str, Tensor]:
    """Per-sample alignment of the probe gradient with the score (no graph kept).

    Returns cosine(s, ∇f), |sᵀ∇f|, ‖∇f‖, ‖s‖ and the projection of ∇f on the score direction.
    """
    with per_sample_mode(model), torch.enable_grad():
        x = x.detach().requires_grad_(True)
        f = LogitProbe(model, y, probe)(x)
        (grad,) = torch.autograd.grad(f.sum(), x)
    g, s = grad.flatten(1), score.detach().flatten(1).to(grad.dtype)
    dot = (g * s).sum(dim=1)
    g_norm, s_norm = g.norm(dim=1), s.norm(dim=1)
    tiny = torch.finfo(g.dtype).tiny
    return {
        "cosine": dot / (g_norm * s_norm).clamp_min(tiny),
        "abs_directional": dot.abs(),
        "grad_norm": g_norm,
        "score_norm": s_norm,
        "projection": dot / s_norm.clamp_min(tiny),
    }


def estimate_center(model: nn.Module, batches, config: SteinPenaltyConfig,
                    generator: torch.Generator | None = None) -> float:
    """Global centering constant D_f ≈ E_p[L_p̃ f]: the mean residual over calibration batches.

    `batches` yields `(x, y, score)` triples.
    """
    total, count = 0.0, 0
    for x, y, s in batches:
        r = penalty_terms(model, x, y, s, config, generator).residual
        total += r.detach().sum().item()
        count += r.shape[0]
    if count == 0:
        raise ValueError("the calibration set is empty")
    return total / count
