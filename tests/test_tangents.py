"""Tangent batches (taser_engine.tangents): exact JVPs of ReLU networks from one ordinary forward."""

import copy

import pytest
import torch
from torch import nn

from taser_engine import LogitProbe, SteinPenaltyConfig, stein_residual, taser_penalty
from taser_engine.models import ModelSpec, build_model
from taser_engine.tangents import supports_tangent_batch, tangent_forward
from tests.model_support import randomise_batchnorm

DT = torch.float64
SPECS = {
    "resnet18": ModelSpec(arch="resnet18", in_channels=3, image_size=8, width=4, mean=[0.4] * 3, std=[0.3] * 3),
    "small_cnn": ModelSpec(arch="small_cnn", in_channels=1, image_size=8, width=6),
    "mlp": ModelSpec(arch="mlp", in_channels=1, image_size=4, width=12),
}


ACTIVATIONS = ["relu", "silu", "softplus", "gelu"]


def _model(arch: str, activation: str = "relu") -> nn.Module:
    torch.manual_seed(0)
    model = build_model(SPECS[arch].model_copy(update={"activation": activation})).double()
    return randomise_batchnorm(model, spread=0.2).eval()  # a real affine offset per channel


def _inputs(arch: str, n: int = 5):
    spec = SPECS[arch]
    g = torch.Generator().manual_seed(2)
    x = torch.rand(n, spec.in_channels, spec.image_size, spec.image_size, generator=g, dtype=DT)
    tangents = [torch.randn(x.shape, generator=g, dtype=DT) for _ in range(3)]
    return x, tangents


@pytest.mark.parametrize("arch", list(SPECS))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_tangent_batch_equals_forward_mode_derivatives(arch, activation):
    model = _model(arch, activation)
    x, (s, v, w) = _inputs(arch)
    out = tangent_forward(model, x, [s], curved=[v, w])
    torch.testing.assert_close(out.primal, model(x), rtol=1e-12, atol=1e-12)
    for t, jvp in zip((s, v, w), out.first):
        torch.testing.assert_close(jvp, torch.func.jvp(model, (x,), (t,))[1], rtol=1e-10, atol=1e-10)
    for t, second in zip((v, w), out.second):
        def along(inp, t=t):
            return torch.func.jvp(model, (inp,), (t,))[1]
        expected = torch.func.jvp(along, (x,), (t,))[1]  # tᵀ∇²(logits) t
        torch.testing.assert_close(second, expected, rtol=1e-9, atol=1e-10)
        if activation == "relu":
            assert second.abs().max() == 0
    assert all(not m._forward_hooks and "forward" not in vars(m) for m in model.modules())  # all restored


@pytest.mark.parametrize("arch", list(SPECS))
@pytest.mark.parametrize("activation", ["relu", "silu"])
@pytest.mark.parametrize("laplacian", ["none", "hutchinson"])
def test_penalty_gradient_through_tangent_batch_matches_double_backward(arch, activation, laplacian):
    model = _model(arch, activation).train()  # the penalty itself switches to eval mode
    x, (s, *_) = _inputs(arch, n=6)
    y = torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(3))
    params = [p for p in model.parameters()]
    grads = {}
    for method in ("autograd", "jvp"):
        cfg = SteinPenaltyConfig(method=method, laplacian=laplacian, num_probes=2)
        value = taser_penalty(model, x, y, s, cfg, torch.Generator().manual_seed(4)).value
        grads[method] = torch.cat([g.flatten() for g in torch.autograd.grad(value, params)])
    assert grads["autograd"].norm() > 0
    torch.testing.assert_close(grads["jvp"], grads["autograd"], rtol=1e-8, atol=1e-12)


def test_sync_batch_norm_in_eval_mode_is_supported():
    """Data-parallel CUDA runs convert BatchNorm to SyncBatchNorm; the fast path must survive it."""
    model = _model("small_cnn")
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model)).eval()
    assert any(isinstance(m, nn.SyncBatchNorm) for m in synced.modules()) and supports_tangent_batch(synced)
    x, tangents = _inputs("small_cnn")
    out = tangent_forward(synced, x, tangents)
    torch.testing.assert_close(out.primal, model(x))
    for t, jvp in zip(tangents, out.first):
        torch.testing.assert_close(jvp, torch.func.jvp(model, (x,), (t,))[1])


def test_float32_tangent_batch_stays_close_to_the_float64_reference():
    """Offsets are subtracted after the affine maps; in float32 that must not cost accuracy."""
    model = _model("resnet18")
    x, (s, *_) = _inputs("resnet18")
    s = 20 * s  # scores are large (≈ −ε/σ); the tangent rows dwarf the offsets
    y = torch.arange(5)
    ref = stein_residual(LogitProbe(model, y), x, s, "none", method="autograd")
    model32 = copy.deepcopy(model).float()
    fast = stein_residual(LogitProbe(model32, y), x.float(), s.float(), "none", method="jvp")
    assert ((fast.double() - ref).norm() / ref.norm()).item() < 1e-5


def test_support_needs_the_opt_in_eval_mode_and_known_modules():
    model = _model("small_cnn")
    assert supports_tangent_batch(model)
    assert not supports_tangent_batch(model.train())  # train-mode BatchNorm couples samples
    model.eval()
    assert supports_tangent_batch(_model("small_cnn", "gelu"))
    approximate = _model("small_cnn", "gelu")
    approximate.features[2] = nn.GELU(approximate="tanh")  # no derivatives coded for it
    assert not supports_tangent_batch(approximate)
    unknown = copy.deepcopy(model)
    unknown.features.append(nn.MaxPool2d(1))
    assert not supports_tangent_batch(unknown)
    inplace = copy.deepcopy(model)
    inplace.features[2] = nn.ReLU(inplace=True)
    assert not supports_tangent_batch(inplace)
    undeclared = copy.deepcopy(model)
    undeclared.tangent_batch = False
    assert not supports_tangent_batch(undeclared)
    with pytest.raises(ValueError, match="tangent batches"):
        tangent_forward(undeclared, *_inputs("small_cnn")[:1], [])


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_models_without_tangent_support_fall_back_to_forward_mode(activation):
    model = _model("resnet18", activation)
    x, (s, v, w) = _inputs("resnet18")
    y = torch.arange(5)
    probe = LogitProbe(model, y)
    assert probe.uses_tangent_batch
    fast = stein_residual(probe, x, s, "hutchinson", 2, "jvp", torch.Generator().manual_seed(1))
    model.tangent_batch = False
    assert not probe.uses_tangent_batch
    slow = stein_residual(probe, x, s, "hutchinson", 2, "jvp", torch.Generator().manual_seed(1))
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-10)
