"""The penalty on the batch's BatchNorm statistics (penalty.batchnorm="batch", tangents.py).

The independent reference: the same network in eval mode whose running statistics are set to the
batch's own (biased) statistics, differentiated by torch.func.jvp. Its primal is the training
forward's, and its directional derivatives are those of "BatchNorm with the batch's statistics
as constants", which is what the tangent rows must give.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from taser_engine import SteinPenaltyConfig, taser_penalty
from taser_engine.models import ModelSpec, build_model
from taser_engine.tangents import supports_tangent_batch, tangent_forward
from tests.model_support import randomise_batchnorm

DT = torch.float64
SPECS = {
    "small_cnn": ModelSpec(arch="small_cnn", in_channels=1, image_size=8, width=6),
    "resnet18": ModelSpec(arch="resnet18", in_channels=3, image_size=8, width=4, mean=[0.4] * 3, std=[0.3] * 3),
}


def _model(arch: str) -> nn.Module:
    torch.manual_seed(0)
    return randomise_batchnorm(build_model(SPECS[arch]).double(), spread=0.2).train()


def _inputs(arch: str, n: int = 6):
    spec = SPECS[arch]
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, spec.in_channels, spec.image_size, spec.image_size, generator=g, dtype=DT)
    return x, torch.randn(x.shape, generator=g, dtype=DT), torch.randint(0, 10, (n,), generator=g)


def _frozen_at_batch_statistics(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """An eval-mode copy whose running statistics are the batch statistics each BatchNorm sees on x."""
    copy_ = copy.deepcopy(model)
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda m, inputs: seen.__setitem__(m, inputs[0].detach()))
             for m in copy_.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        copy_(x)
    for hook in hooks:
        hook.remove()
    for module, inputs in seen.items():
        var, mean = torch.var_mean(inputs, dim=[0, 2, 3], unbiased=False)
        module.running_mean.copy_(mean)
        module.running_var.copy_(var)
    return copy_.eval()


@pytest.mark.parametrize("arch", list(SPECS))
def test_tangent_rows_take_the_batch_statistics_as_constants(arch):
    model = _model(arch)
    x, t, _ = _inputs(arch)
    reference = _frozen_at_batch_statistics(model, x)
    expected_primal, expected_jvp = torch.func.jvp(reference, (x,), (t,))
    trained = copy.deepcopy(model)
    trained(x)  # one native training forward: the running statistics it leaves
    before = copy.deepcopy(model.state_dict())

    out = tangent_forward(model, x, [t], batch_statistics=True, update_running_stats=True)
    torch.testing.assert_close(out.primal, expected_primal, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out.first[0], expected_jvp, rtol=1e-10, atol=1e-10)
    for key, value in model.state_dict().items():  # updated exactly as the training forward updates them
        torch.testing.assert_close(value, trained.state_dict()[key], rtol=1e-12, atol=1e-12, msg=key)

    model.load_state_dict(before)
    tangent_forward(model, x, [t], batch_statistics=True)  # not the training forward: buffers untouched
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_the_primal_keeps_the_gradient_through_the_statistics():
    # the base loss takes its logits from these rows, so they must be the training forward's, gradient included
    model = _model("small_cnn")
    x, t, y = _inputs("small_cnn")
    plain = copy.deepcopy(model)
    loss = nn.functional.cross_entropy(plain(x), y)
    expected = torch.autograd.grad(loss, list(plain.parameters()))
    primal = tangent_forward(model, x, [t], batch_statistics=True).primal
    got = torch.autograd.grad(nn.functional.cross_entropy(primal, y), list(model.parameters()))
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("laplacian", ["none", "hutchinson"])
def test_residuals_are_those_with_the_batch_statistics_as_constants(laplacian):
    model = _model("small_cnn")
    x, score, y = _inputs("small_cnn")
    reference = _frozen_at_batch_statistics(model, x)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    got = taser_penalty(model, x, y, score, SteinPenaltyConfig(batchnorm="batch", laplacian=laplacian), g1)
    expected = taser_penalty(reference, x, y, score, SteinPenaltyConfig(laplacian=laplacian), g2)
    torch.testing.assert_close(got.residual, expected.residual, rtol=1e-9, atol=1e-10)
    assert model.training and all(m.training for m in model.modules())  # the caller's mode is kept


def test_logit_probe_gradient_of_a_relu_network_is_the_constant_statistics_one():
    # ReLU masks and the class logit carry no dependence on the primal values, so here the
    # gradient too is exactly that of the penalty with the batch's statistics as constants
    model = _model("small_cnn")
    x, score, y = _inputs("small_cnn")
    reference = _frozen_at_batch_statistics(model, x)
    got = taser_penalty(model, x, y, score, SteinPenaltyConfig(batchnorm="batch", probe="logit")).value
    expected = taser_penalty(reference, x, y, score, SteinPenaltyConfig(probe="logit")).value
    for g, e in zip(torch.autograd.grad(got, list(model.parameters())),
                    torch.autograd.grad(expected, list(reference.parameters()))):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)


def test_margin_gradient_takes_the_primal_logits_from_the_training_forward():
    # The one forward serves the base loss, so the primal logits z keep the statistics' gradient;
    # the margin's logit-space derivative at z carries it into the penalty. Reference written out:
    # r = ∇m(z_train)·(J_const s), parameters shared through functional_call.
    from taser_engine.probes import _LOGIT_SPACE_DERIVATIVES

    model = _model("small_cnn")
    x, score, y = _inputs("small_cnn")
    frozen = _frozen_at_batch_statistics(model, x)
    params = dict(model.named_parameters())
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    z = torch.func.functional_call(model, (params, buffers), (x,))
    _, js = torch.func.jvp(lambda inp: torch.func.functional_call(frozen, (params, dict(frozen.named_buffers())), (inp,)),
                           (x,), (score,))
    r = _LOGIT_SPACE_DERIVATIVES["margin"](z, y, js)[0]
    expected = ((r - r.mean().detach()) ** 2).mean()
    got = taser_penalty(model, x, y, score, SteinPenaltyConfig(batchnorm="batch"))
    torch.testing.assert_close(got.residual, r, rtol=1e-9, atol=1e-10)
    for g, e in zip(torch.autograd.grad(got.value, list(params.values())),
                    torch.autograd.grad(expected, list(params.values()))):
        torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-12)


def test_batch_statistics_are_explicit_and_refused_where_they_cannot_be_exact():
    model = _model("small_cnn")
    assert not supports_tangent_batch(model) and supports_tangent_batch(model, batch_statistics=True)
    with pytest.raises(ValueError, match="method='jvp'"):
        SteinPenaltyConfig(batchnorm="batch", method="autograd")
    sync = copy.deepcopy(model)
    for name, module in list(sync.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, child_name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    assert not supports_tangent_batch(sync, batch_statistics=True)
    x, score, y = _inputs("small_cnn")
    with pytest.raises(ValueError, match="tangent batches"):
        taser_penalty(sync, x, y, score, SteinPenaltyConfig(batchnorm="batch"))


def test_the_demo_trains_standard_taser_on_batch_statistics_in_one_shared_forward():
    from app.demo import demo_plan
    from taser_engine.training.config import TrainConfig
    from taser_engine.training.loop import build_train_setup, make_generators
    from taser_engine.training.steppers import SeparatePenaltyStepper, SharedForwardStepper, build_stepper

    plan = {step.key: step for step in demo_plan()}
    regimes = {}
    for key in ("train-standard-taser", "train-pgd-taser"):
        config = TrainConfig(**{**plan[key].quick, "max_train_samples": 64, "max_test_samples": 16})
        setup = build_train_setup(config)
        regimes[key] = (config.penalty.batchnorm, type(build_stepper(setup, 4, make_generators(config, setup.device))))
    assert regimes == {"train-standard-taser": ("batch", SharedForwardStepper),
                       "train-pgd-taser": ("running", SeparatePenaltyStepper)}
