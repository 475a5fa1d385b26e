"""Tangent batches: exact directional derivatives of a network as one ordinary forward pass.

For a network built from affine maps and pointwise activations σ, the JVP along t is the same
network run on t with every bias (affine offset) removed and every activation replaced by
multiplication with σ' at the primal's pre-activation. So the primal x and k tangents travel as a
single batch `[x; t₁; …; t_k]` through the model's own modules: the linear layers run once on
(k+1)·B rows, and the result is differentiable by plain reverse mode (no forward-mode dual
tensors, no repeated primal), which is what makes the TASER penalty's parameter gradient cheap
(see `benchmarks/`). Second directional derivatives (Taylor mode) ride along the same way: a
"curved" tangent v brings a second row w, starting at 0, that linear maps treat like a tangent
and an activation maps to `σ''(a)·v_a² + σ'(a)·w_a`; at the logits w = vᵀ∇²z v. ReLU has σ'' = 0,
so ReLU networks need no second rows (their curvature is the probe's, see `probes`).

This is done with forward hooks, so it is only correct when every operation in `forward` that is
not linear goes through a hooked module. That is invisible from the module tree, so models opt in
with a `tangent_batch = True` attribute (`models.build_model` sets it, and the tests compare every
architecture and activation with `torch.func.jvp`); `supports_tangent_batch` also checks that
every leaf module is of a known kind and that normalisation layers are in eval mode.

BatchNorm in training mode is allowed only when asked (`batch_statistics=True`): the primal rows
are then normalised by the batch's own statistics, exactly as the training forward does (with
the gradient through those statistics the base loss needs, and the running statistics updated
once when `update_running_stats`), while the tangent rows see the affine map those statistics
define, taken as constants. So each tangent row depends on its own sample given the batch's
statistics, as in eval mode it depends on the running ones, and the forward that serves the
penalty can also be the step's training forward (`training.steppers.SharedForwardStepper`).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taser_engine import activation_derivatives
from taser_engine.models import Normalize

# Leaf modules that are linear maps with no offset: the tangent rows pass through unchanged.
_LINEAR_NO_OFFSET = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AvgPool1d, nn.AvgPool2d,
                     nn.Flatten, nn.Identity)
# Every BatchNorm flavour, SyncBatchNorm included (data-parallel CUDA runs): in eval mode each is a
# per-channel affine map on dimension 1.
_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)


def _smooth_derivatives(module: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor, Tensor]] | None:
    """(σ(a), σ'(a), σ''(a)) of a supported smooth activation module, else None."""
    if isinstance(module, nn.SiLU):
        return activation_derivatives.silu
    if isinstance(module, nn.Tanh):
        return activation_derivatives.tanh
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return activation_derivatives.gelu
    if isinstance(module, nn.Softplus):
        return functools.partial(activation_derivatives.softplus, beta=module.beta, threshold=module.threshold)
    return None


def supports_tangent_batch(model: nn.Module, batch_statistics: bool = False) -> bool:
    """Whether `tangent_forward` is exact for `model` in its current mode (see module docstring);
    `batch_statistics` admits training-mode BatchNorm with the batch's statistics as constants."""
    if not getattr(model, "tangent_batch", False):
        return False
    return all(_leaf_supported(m, batch_statistics) for m in model.modules() if not any(True for _ in m.children()))


def _leaf_supported(module: nn.Module, batch_statistics: bool = False) -> bool:
    if isinstance(module, (nn.ReLU, nn.SiLU)):
        return not module.inplace
    if isinstance(module, _BATCH_NORMS):
        if module.training:  # SyncBatchNorm's statistics span processes this pass cannot see
            return batch_statistics and not isinstance(module, nn.SyncBatchNorm)
        return module.track_running_stats
    if _smooth_derivatives(module) is not None:
        return True
    return isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, Normalize, *_LINEAR_NO_OFFSET,
                               nn.Sequential))


@dataclass
class TangentOutputs:
    """The model's output and its directional derivatives, each `(B, *out)`."""

    primal: Tensor
    first: list[Tensor]  # J·t for each tangent, then for each curved tangent
    second: list[Tensor]  # vᵀ∇²(model) v for each curved tangent v

    @property
    def chunks(self) -> int:
        """B-sized chunks the forward ran: the primal, the first-order and the second-order rows."""
        return 1 + len(self.first) + len(self.second)


@dataclass(frozen=True)
class _Layout:
    """How the stacked batch is organised: chunks of `rows` rows, in this order."""

    rows: int
    plain: int  # tangents with first-order rows only
    curved: int  # tangents with a second-order row as well (which come last)
    update_running_stats: bool = False  # training-mode BatchNorm: this pass is the step's training forward


def tangent_forward(model: nn.Module, x: Tensor, tangents: Sequence[Tensor],
                    curved: Sequence[Tensor] = (), *, batch_statistics: bool = False,
                    update_running_stats: bool = False) -> TangentOutputs:
    """`model(x)`, its JVPs along `tangents` and `curved`, and second derivatives along `curved`.

    One forward pass of the batch `[x; tangents; curved; 0 for each curved]`. Training-mode
    BatchNorm needs `batch_statistics` (module docstring); its running statistics change only
    with `update_running_stats`, as one training forward of `x` would change them.
    """
    if not supports_tangent_batch(model, batch_statistics):
        raise ValueError("this model does not support tangent batches (see supports_tangent_batch)")
    layout = _Layout(x.shape[0], len(tangents), len(curved), update_running_stats)
    zeros = [torch.zeros_like(x)] * len(curved)
    with _tangent_hooks(model, layout):
        out = model(torch.cat([x, *tangents, *curved, *zeros]))
    chunks = out.split(layout.rows)
    n_first = layout.plain + layout.curved
    return TangentOutputs(chunks[0], list(chunks[1:1 + n_first]), list(chunks[1 + n_first:]))


@contextlib.contextmanager
def _tangent_hooks(model: nn.Module, layout: _Layout) -> Iterator[None]:
    """Nonlinear and normalisation modules get a stacked-batch `forward` for the pass (replacing
    theirs, so no work is done twice); affine ones keep theirs plus a hook removing offsets."""
    handles, replaced = [], []
    for module in model.modules():
        forward = _stacked_forward(module, layout)
        if forward is not None:
            replaced.append((module, module.__dict__.get("forward")))
            module.forward = forward
            continue
        offset = _offset_function(module)
        if offset is not None:
            handles.append(module.register_forward_hook(_offset_hook(layout.rows, offset)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, own_forward in replaced:
            del module.forward
            if own_forward is not None:
                module.forward = own_forward


def _stacked_forward(module: nn.Module, layout: _Layout) -> Callable[[Tensor], Tensor] | None:
    if isinstance(module, nn.ReLU):
        return _relu_forward(layout.rows)
    if isinstance(module, _BATCH_NORMS):
        if module.training:
            return _batch_statistics_forward(module, layout)
        return _batch_norm_forward(module, layout.rows)
    derivatives = _smooth_derivatives(module)
    return None if derivatives is None else _smooth_forward(layout, derivatives)


def _offset_function(module: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """The constant an affine leaf module adds to its output `out`, shaped to broadcast over it."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)) and module.bias is not None:
        return lambda out: _per_channel(module.bias, out)
    if isinstance(module, Normalize):
        return lambda out: _normalize_offset(module, out)
    return None


def _per_channel(values: Tensor, out: Tensor) -> Tensor:
    return values.view(-1, *([1] * (out.dim() - 2)))


def _batch_norm_affine(bn: nn.Module) -> tuple[Tensor, Tensor]:
    """Eval-mode BatchNorm as `x·scale + offset` per channel."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    offset = -bn.running_mean * scale
    return scale, (offset + bn.bias if bn.bias is not None else offset)


def _normalize_offset(module: Normalize, out: Tensor) -> Tensor:
    if out.dim() == 2:  # flat inputs use the first channel's statistics (Normalize.forward)
        return -module.mean.flatten()[0] / module.std.flatten()[0]
    return -module.mean / module.std


def _offset_hook(rows: int, offset: Callable[[Tensor], Tensor]):
    # Whole-batch arithmetic on a (k+1, rows, …) view, not slices and a cat: slicing would make
    # the backward pass allocate, zero and copy a full-size gradient per slice.
    def hook(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Tensor:
        chunks = out.unflatten(0, (-1, rows))
        return (chunks - (1 - _primal_indicator(chunks)) * offset(out)).flatten(0, 1)
    return hook


def _primal_indicator(chunks: Tensor) -> Tensor:
    """1 for the primal chunk, 0 for the tangents, broadcastable over a (k+1, rows, …) view."""
    indicator = torch.zeros(chunks.shape[0], *([1] * (chunks.dim() - 1)), dtype=chunks.dtype,
                            device=chunks.device)
    indicator[0] = 1
    return indicator


def _batch_norm_forward(module: nn.Module, rows: int):
    # One per-channel affine map, offset on the primal rows only: cheaper to differentiate than
    # native batch norm followed by an offset correction.
    def forward(x: Tensor) -> Tensor:
        chunks = x.unflatten(0, (-1, rows))
        scale, offset = _batch_norm_affine(module)
        shape = (-1, *([1] * (chunks.dim() - 3)))
        return (chunks * scale.view(shape) + _primal_indicator(chunks) * offset.view(shape)).flatten(0, 1)
    return forward


def _batch_statistics_forward(module: nn.Module, layout: _Layout):
    # The primal chunk goes through native training-mode batch norm (the training forward, the
    # gradient through its statistics included); the tangents through the affine map of the same
    # statistics, detached: the penalty takes them as constants.
    def forward(x: Tensor) -> Tensor:
        chunks = x.unflatten(0, (-1, layout.rows))
        primal = chunks[0]
        with torch.no_grad():  # the statistics are constants, the affine weight is not
            var, _ = torch.var_mean(primal, dim=[0, *range(2, primal.dim())], unbiased=False)
            scale = torch.rsqrt(var + module.eps)
        if module.weight is not None:
            scale = scale * module.weight
        update = layout.update_running_stats and module.track_running_stats
        out = F.batch_norm(primal, module.running_mean if update else None,
                           module.running_var if update else None, module.weight, module.bias,
                           training=True, momentum=_momentum(module) if update else 0.0, eps=module.eps)
        tangents = chunks[1:] * scale.view(-1, *([1] * (primal.dim() - 2)))
        return torch.cat([out.unsqueeze(0), tangents]).flatten(0, 1)
    return forward


def _momentum(bn: nn.Module) -> float:
    """nn.BatchNorm's own update rule: count the batch, then its momentum or the cumulative mean."""
    bn.num_batches_tracked.add_(1)
    return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum


def _smooth_forward(layout: _Layout, derivatives: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]):
    def forward(x: Tensor) -> Tensor:
        chunks = x.unflatten(0, (-1, layout.rows))
        # One split (its backward is one cat), not several slices of the input.
        primal, plain, curved, second = chunks.split([1, layout.plain, layout.curved, layout.curved])
        value, d1, d2 = derivatives(primal)
        parts = [value, plain * d1, curved * d1]
        if layout.curved:
            parts.append(curved * curved * d2 + second * d1)
        return torch.cat(parts).flatten(0, 1)
    return forward


def _relu_forward(rows: int):
    # relu(x) = x·[x > 0], so multiplying every chunk by the primal's mask is the primal ReLU, the
    # tangents' JVP and (σ'' = 0) the second-order rows at once.
    def forward(x: Tensor) -> Tensor:
        mask = (x[:rows] > 0).to(x.dtype)
        return (x.unflatten(0, (-1, rows)) * mask).flatten(0, 1)
    return forward
