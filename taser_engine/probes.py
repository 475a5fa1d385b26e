"""Scalar probes of a classifier (paper 3.3): the function the Stein operator is applied to.

A probe maps inputs `(B, *S)` to one scalar per sample. The smooth logit margin
`LSE_{j≠y} z_j − z_y` is the paper's choice; the class logit and the softmax probability are kept
for comparison (the latter saturates, which the paper warns against).

`LogitProbe` also exposes the probe's structure (logits followed by a known reduction), so the
forward-mode estimator can compute exact second directional derivatives of piecewise-linear
networks from one Jacobian-vector product (see `jvp_terms`).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor, nn

from taser_engine.tangents import TangentOutputs, supports_tangent_batch, tangent_forward

ProbeKind = Literal["margin", "logit", "softmax"]
PROBE_KINDS: tuple[str, ...] = ("margin", "logit", "softmax")


def logit_margin(logits: Tensor, labels: Tensor) -> Tensor:
    """Smooth multiclass margin `log Σ_{j≠y} exp(z_j) − z_y`, stable for large logits."""
    true_class = nn.functional.one_hot(labels, logits.shape[1]).bool()
    others = logits.masked_fill(true_class, float("-inf")).logsumexp(dim=1)
    return others - logits.gather(1, labels[:, None]).squeeze(1)


def class_logit(logits: Tensor, labels: Tensor) -> Tensor:
    return logits.gather(1, labels[:, None]).squeeze(1)


def softmax_probability(logits: Tensor, labels: Tensor) -> Tensor:
    return logits.softmax(dim=1).gather(1, labels[:, None]).squeeze(1)


REDUCTIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "margin": logit_margin,
    "logit": class_logit,
    "softmax": softmax_probability,
}


def _margin_derivatives(logits: Tensor, labels: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """First and second derivative of the margin along a logit-space direction `u`.

    With p the softmax over the wrong classes: ∇m·u = Σ_{j≠y} p_j u_j − u_y and
    uᵀ∇²m u = Σ_{j≠y} p_j u_j² − (Σ_{j≠y} p_j u_j)² (the log-sum-exp curvature).
    """
    true_class = nn.functional.one_hot(labels, logits.shape[1]).bool()
    p = logits.masked_fill(true_class, float("-inf")).softmax(dim=1)
    pu = (p * u).sum(dim=1)
    first = pu - u.gather(1, labels[:, None]).squeeze(1)
    second = (p * u * u).sum(dim=1) - pu * pu
    return first, second


def _logit_derivatives(logits: Tensor, labels: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    return u.gather(1, labels[:, None]).squeeze(1), torch.zeros_like(u[:, 0])


def _softmax_derivatives(logits: Tensor, labels: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    p = logits.softmax(dim=1)
    py = p.gather(1, labels[:, None]).squeeze(1)
    pu = (p * u).sum(dim=1)
    uy = u.gather(1, labels[:, None]).squeeze(1)
    first = py * (uy - pu)
    # d²/dt² of p_y(z + t u): p_y[(u_y − p·u)² − (p·u² − (p·u)²)]
    second = py * ((uy - pu) ** 2 - ((p * u * u).sum(dim=1) - pu * pu))
    return first, second


_LOGIT_SPACE_DERIVATIVES = {
    "margin": _margin_derivatives,
    "logit": _logit_derivatives,
    "softmax": _softmax_derivatives,
}


def is_piecewise_linear(model: nn.Module) -> bool:
    """Whether the model declares its logits piecewise linear in the input (ReLU networks).

    Models opt in with a `piecewise_linear` attribute: the activations used inside `forward` are
    invisible from the module tree, so guessing would risk silently dropping curvature.
    """
    return bool(getattr(model, "piecewise_linear", False))


class LogitProbe:
    """`x ↦ reduction(model(x), labels)`: a probe with known logit-space structure."""

    def __init__(self, model: nn.Module, labels: Tensor, kind: ProbeKind = "margin",
                 piecewise_linear: bool | None = None, *, batch_statistics: bool = False,
                 update_running_stats: bool = False):
        if kind not in REDUCTIONS:
            raise ValueError(f"unknown probe kind {kind!r}; choose one of {PROBE_KINDS}")
        self.model = model
        self.labels = labels
        self.kind = kind
        self.piecewise_linear = is_piecewise_linear(model) if piecewise_linear is None else piecewise_linear
        # training-mode BatchNorm in tangent batches (see taser_engine.tangents)
        self.batch_statistics = batch_statistics
        self.update_running_stats = update_running_stats
        self.last_tangent_pass: TangentOutputs | None = None

    def __call__(self, x: Tensor) -> Tensor:
        return REDUCTIONS[self.kind](self.model(x), self.labels)

    def stacked(self, inputs: list[Tensor]) -> list[Tensor]:
        """The probe at several same-shaped inputs, evaluated as one batch (better throughput)."""
        k = len(inputs)
        values = REDUCTIONS[self.kind](self.model(torch.cat(inputs)), self.labels.repeat(k))
        return list(values.chunk(k))

    @property
    def uses_tangent_batch(self) -> bool:
        """Whether `tangent_terms` applies: the model supports tangent batches in its current mode."""
        return supports_tangent_batch(self.model, self.batch_statistics)

    def tangent_terms(self, x: Tensor, score: Tensor, directions: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """(sᵀ∇f, [vᵀ∇²f v for each direction v]) from one tangent batch (`taser_engine.tangents`).

        Piecewise-linear networks need first-order rows only: vᵀ∇²f v = (Jv)ᵀ H (Jv), with H the
        reduction's logit-space Hessian. Smooth ones add a second-order row per direction for the
        logits' own curvature, ∇_z f · vᵀ∇²z v.
        """
        derivatives = _LOGIT_SPACE_DERIVATIVES[self.kind]
        modes = {"batch_statistics": self.batch_statistics, "update_running_stats": self.update_running_stats}
        if self.piecewise_linear:
            out = tangent_forward(self.model, x, [score, *directions], **modes)
        else:
            out = tangent_forward(self.model, x, [score], curved=directions, **modes)
        self.last_tangent_pass = out  # its primal logits can serve a clean base loss (see penalty)
        directional, _ = derivatives(out.primal, self.labels, out.first[0])
        second = [derivatives(out.primal, self.labels, u)[1] for u in out.first[1:]]
        if out.second:
            grad_z = _reduction_gradient(self.kind, out.primal, self.labels)
            second = [curvature + (grad_z * w).sum(dim=1) for curvature, w in zip(second, out.second)]
        return directional, second

    def jvp_terms_stacked(self, x: Tensor, directions: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """(vᵀ∇f, vᵀ∇²f v) for several directions in one batched `torch.func.jvp`.

        Piecewise-linear models only; models that support tangent batches use `tangent_terms`.
        """
        if not self.piecewise_linear:
            raise ValueError("stacked JVPs give exact curvature only for piecewise-linear models")
        k = len(directions)
        logits, u = torch.func.jvp(self.model, (x.repeat(k, *([1] * (x.dim() - 1))),), (torch.cat(directions),))
        first, second = _LOGIT_SPACE_DERIVATIVES[self.kind](logits, self.labels.repeat(k), u)
        return list(zip(first.chunk(k), second.chunk(k)))

    def jvp_terms(self, x: Tensor, direction: Tensor, second_order: bool) -> tuple[Tensor, Tensor | None]:
        """(vᵀ∇f, vᵀ∇²f v) for direction v, by forward-mode differentiation of the logits.

        For a piecewise-linear network vᵀ∇²z v = 0, so the second derivative is exactly the
        reduction's curvature along u = Jv: one JVP per direction. Otherwise the logits' own second
        directional derivative comes from a nested JVP.
        """
        derivatives = _LOGIT_SPACE_DERIVATIVES[self.kind]
        if not second_order or self.piecewise_linear:
            logits, u = torch.func.jvp(self.model, (x,), (direction,))
            first, second = derivatives(logits, self.labels, u)
            return first, (second if second_order else None)

        def logits_and_tangent(inp: Tensor) -> tuple[Tensor, Tensor]:
            return torch.func.jvp(self.model, (inp,), (direction,))

        (logits, u), (_, w) = torch.func.jvp(logits_and_tangent, (x,), (direction,))
        first, second = derivatives(logits, self.labels, u)
        grad_z = _reduction_gradient(self.kind, logits, self.labels)
        return first, second + (grad_z * w).sum(dim=1)


def _reduction_gradient(kind: str, logits: Tensor, labels: Tensor) -> Tensor:
    true_class = nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)
    if kind == "margin":
        return logits.masked_fill(true_class.bool(), float("-inf")).softmax(dim=1) - true_class
    if kind == "logit":
        return true_class
    p = logits.softmax(dim=1)
    py = (p * true_class).sum(dim=1, keepdim=True)
    return py * (true_class - p)


def make_probe(model: nn.Module, labels: Tensor, kind: ProbeKind = "margin") -> LogitProbe:
    return LogitProbe(model, labels, kind)
