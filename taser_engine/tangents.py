"""Tangent batches: exact Jacobian-vector products of ReLU networks as one ordinary forward pass.

For a network built from affine maps and ReLUs, the JVP along t is the same network run on t with
every bias (affine offset) removed and every ReLU replaced by multiplication with the primal's
activation mask. So the primal x and k tangents can travel as a single batch `[x; t₁; …; t_k]`
through the model's own modules: the linear layers run once on (k+1)·B rows, and the result is
differentiable by plain reverse mode (no forward-mode dual tensors, no repeated primal), which
is what makes the TASER penalty's parameter gradient cheap (see `benchmarks/`).

This is done with forward hooks, so it is only correct when every operation in `forward` that is
not linear goes through a hooked module. That is invisible from the module tree, so models opt in
with a `tangent_batch = True` attribute (`models.build_model` sets it for its ReLU architectures,
and the tests compare them with `torch.func.jvp`); `supports_tangent_batch` also checks that every
leaf module is of a known kind and that normalisation layers are in eval mode.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from taser_engine.models import Normalize

# Leaf modules that are linear maps with no offset: the tangent rows pass through unchanged.
_LINEAR_NO_OFFSET = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AvgPool1d, nn.AvgPool2d,
                     nn.Flatten, nn.Identity)
# Every BatchNorm flavour, SyncBatchNorm included (data-parallel CUDA runs): in eval mode each is a
# per-channel affine map on dimension 1.
_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)


def supports_tangent_batch(model: nn.Module) -> bool:
    """Whether `tangent_forward` is exact for `model` in its current mode (see module docstring)."""
    if not getattr(model, "tangent_batch", False):
        return False
    return all(_leaf_supported(m) for m in model.modules() if not any(True for _ in m.children()))


def _leaf_supported(module: nn.Module) -> bool:
    if isinstance(module, nn.ReLU):
        return not module.inplace
    if isinstance(module, _BATCH_NORMS):
        return not module.training and module.track_running_stats
    return isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, Normalize, *_LINEAR_NO_OFFSET,
                               nn.Sequential))


def tangent_forward(model: nn.Module, x: Tensor, tangents: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """`model(x)` and the JVPs `J·t` of its output for each tangent t, from one batched forward."""
    if not supports_tangent_batch(model):
        raise ValueError("this model does not support tangent batches (see supports_tangent_batch)")
    b = x.shape[0]
    with _tangent_hooks(model, b):
        out = model(torch.cat([x, *tangents]))
    return out[:b], list(out[b:].split(b))


@contextlib.contextmanager
def _tangent_hooks(model: nn.Module, rows: int) -> Iterator[None]:
    handles = []
    for module in model.modules():
        hook = _hook_for(module, rows)
        if hook is not None:
            handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _hook_for(module: nn.Module, rows: int) -> Callable | None:
    if isinstance(module, nn.ReLU):
        return _relu_hook(rows)
    if isinstance(module, _BATCH_NORMS):
        return _batch_norm_hook(rows)
    offset = _offset_function(module)
    return None if offset is None else _offset_hook(rows, offset)


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


def _batch_norm_hook(rows: int):
    # Recomputed as one per-channel affine map: cheaper to differentiate than native batch norm
    # followed by an offset correction (its own output is discarded).
    def hook(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Tensor:
        chunks = inputs[0].unflatten(0, (-1, rows))
        scale, offset = _batch_norm_affine(module)
        shape = (-1, *([1] * (chunks.dim() - 3)))
        return (chunks * scale.view(shape) + _primal_indicator(chunks) * offset.view(shape)).flatten(0, 1)
    return hook


def _relu_hook(rows: int):
    # relu(x) = x·[x > 0], so multiplying every chunk by the primal's mask is the primal ReLU and
    # the tangents' JVP at once.
    def hook(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Tensor:
        pre = inputs[0]
        mask = (pre[:rows] > 0).to(pre.dtype)
        return (pre.unflatten(0, (-1, rows)) * mask).flatten(0, 1)
    return hook
