"""The Stein core on real networks: probes, parameter gradients, normalisation layers."""

import copy

import pytest
import torch

from taser_engine import LogitProbe, SteinPenaltyConfig, logit_margin, stein_residual, taser_penalty
from taser_engine.models import ModelSpec, build_model
from taser_engine.penalty import alignment, centred_variance, estimate_center, per_sample_mode
from taser_engine.stein import METHODS
from tests.model_support import randomise_batchnorm

DT = torch.float64


def _smooth_mlp():
    torch.manual_seed(0)
    return build_model(ModelSpec(arch="mlp", in_channels=1, image_size=3, width=8, activation="softplus")).double()


def _small_resnet(activation="relu"):
    torch.manual_seed(0)
    spec = ModelSpec(arch="resnet18", in_channels=3, image_size=8, width=4, activation=activation,
                     mean=[0.5] * 3, std=[0.25] * 3)
    model = build_model(spec)
    randomise_batchnorm(model, spread=0.1)
    return model


def _param_grads(model, loss):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])


def test_logit_margin_is_stable_for_large_logits():
    logits = torch.tensor([[1e4, 2e4, -3e4], [5.0, 1.0, 2.0]])
    labels = torch.tensor([0, 0])
    m = logit_margin(logits, labels)
    assert torch.isfinite(m).all()
    assert m[0].item() == pytest.approx(1e4)  # LSE(2e4, −3e4) − 1e4
    assert m[1].item() == pytest.approx(torch.logsumexp(torch.tensor([1.0, 2.0]), 0).item() - 5.0)


@pytest.mark.parametrize("kind", ["margin", "logit", "softmax"])
@pytest.mark.parametrize("laplacian", ["none", "exact", "hutchinson"])
def test_structured_jvp_probe_matches_double_backward_on_smooth_network(kind, laplacian):
    model = _smooth_mlp()
    x = torch.rand(6, 1, 3, 3, dtype=DT)
    y = torch.randint(0, 10, (6,))
    s = torch.randn_like(x)
    probe = LogitProbe(model, y, kind)
    ref = stein_residual(probe, x, s, laplacian, 2, "autograd", torch.Generator().manual_seed(3))
    out = stein_residual(probe, x, s, laplacian, 2, "jvp", torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def test_relu_fast_path_is_exact_log_sum_exp_curvature():
    """For ReLU logits vᵀ∇²m v = (Jv)ᵀ H_LSE (Jv): the one-JVP path equals double backward."""
    model = _small_resnet().double().eval()
    x = torch.rand(4, 3, 8, 8, dtype=DT)
    y = torch.randint(0, 10, (4,))
    s = torch.randn_like(x)
    probe = LogitProbe(model, y)
    assert probe.piecewise_linear
    ref = stein_residual(probe, x, s, "hutchinson", 2, "autograd", torch.Generator().manual_seed(5))
    fast = stein_residual(probe, x, s, "hutchinson", 2, "jvp", torch.Generator().manual_seed(5))
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    no_lap = stein_residual(probe, x, s, "none", method="jvp")
    assert (fast - no_lap).abs().max() > 1e-6  # the curvature term is really there


@pytest.mark.parametrize("laplacian", ["none", "hutchinson", "exact"])
def test_parameter_gradients_agree_across_methods(laplacian):
    model = _smooth_mlp()
    x = torch.rand(8, 1, 3, 3, dtype=DT)
    y = torch.randint(0, 10, (8,))
    s = -(x - 0.5) / 0.1
    grads = {}
    for method in METHODS:
        r = stein_residual(LogitProbe(model, y), x, s, laplacian, 2, method, torch.Generator().manual_seed(7))
        grads[method] = _param_grads(model, centred_variance(r))
    torch.testing.assert_close(grads["jvp"], grads["autograd"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grads["fd"], grads["autograd"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "silu"])
def test_first_order_finite_differences_are_accurate_in_float32(activation):
    model = _small_resnet(activation).eval()
    model.fc.weight.data *= 30  # logits on the scale of a trained network, not of a fresh one
    reference_model = copy.deepcopy(model).double()
    x = torch.rand(8, 3, 8, 8)
    y = torch.randint(0, 10, (8,))
    s = 5 * torch.randn_like(x)
    ref = stein_residual(LogitProbe(reference_model, y), x.double(), s.double(), "none", method="autograd")
    fd = stein_residual(LogitProbe(model, y), x, s, "none", method="fd").double()
    assert ((fd - ref).norm() / ref.norm()).item() < 0.01


class TestNormalisationLayers:
    """The penalty pass must give per-sample residuals, leave BN statistics alone and correct gradients."""

    def _batch(self, n=6):
        g = torch.Generator().manual_seed(11)
        return torch.rand(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)

    @pytest.mark.parametrize("method", METHODS)
    def test_residual_of_a_sample_does_not_depend_on_the_others(self, method):
        model = _small_resnet("silu").train()
        x, y = self._batch()
        s = torch.randn_like(x)
        cfg = SteinPenaltyConfig(laplacian="hutchinson", method=method)
        r = taser_penalty(model, x, y, s, cfg, torch.Generator().manual_seed(0)).residual
        x2 = x.clone()
        x2[1:] = torch.rand_like(x2[1:])
        r2 = taser_penalty(model, x2, y, s, cfg, torch.Generator().manual_seed(0)).residual
        torch.testing.assert_close(r2[0], r[0], rtol=1e-5, atol=1e-6)
        r_alone = taser_penalty(model, x[:2], y[:2], s[:2], cfg, torch.Generator().manual_seed(0)).residual
        assert r_alone.shape == (2,)

    def test_running_statistics_and_modes_are_untouched(self):
        model = _small_resnet().train()
        model.stem[1].eval()  # a mixed-mode model must come back exactly as it was
        before = copy.deepcopy(model.state_dict())
        modes = [m.training for m in model.modules()]
        x, y = self._batch()
        out = taser_penalty(model, x, y, torch.randn_like(x), SteinPenaltyConfig(laplacian="hutchinson"))
        out.value.backward()
        after = model.state_dict()
        for key, value in before.items():
            assert torch.equal(value, after[key]), key
        assert [m.training for m in model.modules()] == modes

    @pytest.mark.parametrize("activation", ["relu", "silu"])
    def test_parameter_gradients_match_float64_double_backward(self, activation):
        model = _small_resnet(activation).train()
        x, y = self._batch(4)
        s = torch.randn_like(x)
        cfg = SteinPenaltyConfig(laplacian="hutchinson", method="jvp", num_probes=1)
        got = _param_grads(model, taser_penalty(model, x, y, s, cfg, torch.Generator().manual_seed(2)).value)

        ref_model = copy.deepcopy(model).double()
        ref_cfg = cfg.model_copy(update={"method": "autograd"})
        ref = _param_grads(ref_model, taser_penalty(ref_model, x.double(), y, s.double(), ref_cfg,
                                                    torch.Generator().manual_seed(2)).value)
        rel = ((got.double() - ref).norm() / ref.norm()).item()
        assert rel < 1e-4


def test_penalty_centering_options():
    r = torch.tensor([1.0, 2.0, 6.0], requires_grad=True)
    assert centred_variance(r).item() == pytest.approx(((r - 3) ** 2).mean().item())
    assert centred_variance(r, center=0.0).item() == pytest.approx((r**2).mean().item())
    (g_detached,) = torch.autograd.grad(centred_variance(r, detach_mean=True), r)
    (g_attached,) = torch.autograd.grad(centred_variance(r, detach_mean=False), r)
    torch.testing.assert_close(g_detached, 2 * (r.detach() - 3) / 3)
    # ∂/∂r̄ Σ(r − r̄)² = −2Σ(r − r̄) = 0: detaching the batch mean cannot change the gradient
    torch.testing.assert_close(g_attached, g_detached)


def test_penalty_fraction_diagnostics_and_global_centering():
    model = _small_resnet().train()
    x, y = torch.rand(10, 3, 8, 8), torch.randint(0, 10, (10,))
    s = torch.randn_like(x)
    out = taser_penalty(model, x, y, s, SteinPenaltyConfig(fraction=0.3), torch.Generator().manual_seed(0))
    assert out.residual.shape == (3,)
    assert set(out.diagnostics) == {"stein_r_mean", "stein_r_var", "stein_abs_directional"}
    with pytest.raises(ValueError, match="center"):
        taser_penalty(model, x, y, s, SteinPenaltyConfig(centering="global"))
    center = estimate_center(model, [(x, y, s)], SteinPenaltyConfig())
    assert center == pytest.approx(float(out.diagnostics["stein_r_mean"]), abs=10 * abs(center) + 1)
    cfg = SteinPenaltyConfig(centering="global", center=center)
    full = taser_penalty(model, x, y, s, cfg)
    assert full.value.item() == pytest.approx(((full.residual - center) ** 2).mean().item(), rel=1e-5)


def test_alignment_diagnostics_are_consistent():
    model = _small_resnet("silu")
    x, y = torch.rand(5, 3, 8, 8), torch.randint(0, 10, (5,))
    s = torch.randn_like(x)
    a = alignment(model, x, y, s)
    assert ((a["cosine"] >= -1 - 1e-6) & (a["cosine"] <= 1 + 1e-6)).all()
    torch.testing.assert_close(a["abs_directional"], (a["cosine"] * a["grad_norm"] * a["score_norm"]).abs(),
                               rtol=1e-4, atol=1e-6)
    first_order = stein_residual(LogitProbe(model.eval(), y), x, s, "none", method="autograd").detach()
    torch.testing.assert_close(a["abs_directional"], first_order.abs(), rtol=1e-4, atol=1e-6)


def test_per_sample_mode_restores_on_error():
    model = _small_resnet().train()
    with pytest.raises(RuntimeError):
        with per_sample_mode(model):
            assert not model.training
            raise RuntimeError("boom")
    assert model.training
