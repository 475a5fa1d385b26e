"""Base objectives against values worked out by hand on tiny linear models, and AWP's restore."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from taser_engine.attacks import pgd_linf
from taser_engine.objectives import (MART, PGDAT, TRADES, MartAWP, Standard, TradesAWP, build_objective,
                                     perturbable_weights)

pytestmark = pytest.mark.usefixtures("one_thread")


W = [[1.0, -2.0], [0.5, 1.5], [-1.0, 0.25]]
B = [0.1, -0.2, 0.3]


def linear_model() -> nn.Module:
    layer = nn.Linear(2, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W))
        layer.bias.copy_(torch.tensor(B))
    return nn.Sequential(nn.Flatten(), layer)


def logits_by_hand(x: list[float]) -> list[float]:
    return [sum(W[k][j] * x[j] for j in range(2)) + B[k] for k in range(3)]


def softmax(z: list[float]) -> list[float]:
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


X = [[0.2, 0.7], [0.9, 0.1]]
X_ADV = [[0.25, 0.65], [0.85, 0.2]]
Y = [1, 0]


def tensors():
    return torch.tensor(X), torch.tensor(X_ADV), torch.tensor(Y)


def test_standard_is_cross_entropy():
    x, _, y = tensors()
    out = Standard().loss_from(linear_model(), x, None, y)
    expected = sum(-math.log(softmax(logits_by_hand(xi))[yi]) for xi, yi in zip(X, Y)) / 2
    assert out.value.item() == pytest.approx(expected, rel=1e-6)


def test_trades_loss_by_hand():
    x, x_adv, y = tensors()
    out = TRADES(beta=6.0).loss_from(linear_model(), x, x_adv, y)
    ce = sum(-math.log(softmax(logits_by_hand(xi))[yi]) for xi, yi in zip(X, Y)) / 2
    kl_sum = sum(kl(softmax(logits_by_hand(a)), softmax(logits_by_hand(b))) for a, b in zip(X, X_ADV))
    assert out.value.item() == pytest.approx(ce + 6.0 * kl_sum / 2, rel=1e-5)
    assert out.parts["loss/kl_robust"].item() == pytest.approx(kl_sum / 2, rel=1e-5)


def test_trades_clean_target_is_not_detached():
    x, x_adv, y = tensors()
    model = linear_model()
    robust = TRADES(beta=1.0).loss_from(model, x, x_adv, y).value - Standard().loss_from(model, x, None, y).value
    (grad,) = torch.autograd.grad(robust, model[1].weight)
    logits, logits_adv = model(x).detach(), model(x_adv)
    detached = torch.nn.functional.kl_div(logits_adv.log_softmax(1), logits.softmax(1), reduction="sum") / 2
    (grad_detached,) = torch.autograd.grad(detached, model[1].weight)
    assert not torch.allclose(grad, grad_detached)


def test_mart_loss_by_hand():
    x, x_adv, y = tensors()
    out = MART(lambda_mart=5.0).loss_from(linear_model(), x, x_adv, y)
    bce, kl_w = 0.0, 0.0
    for xi, ai, yi in zip(X, X_ADV, Y):
        p, q = softmax(logits_by_hand(xi)), softmax(logits_by_hand(ai))
        wrong = max((k for k in range(3) if k != yi), key=lambda k: q[k])
        bce += -math.log(q[yi]) - math.log(1.0001 - q[wrong] + 1e-12)
        kl_w += sum(pk * math.log(pk / (qk + 1e-12)) for pk, qk in zip(p, q)) * (1.0000001 - p[yi])
    assert out.parts["loss/bce"].item() == pytest.approx(bce / 2, rel=1e-5)
    assert out.parts["loss/kl_weighted"].item() == pytest.approx(kl_w / 2, rel=1e-5)
    assert out.value.item() == pytest.approx(bce / 2 + 5.0 * kl_w / 2, rel=1e-5)


def test_one_pgd_step_by_hand():
    x, _, y = tensors()
    eps, step = 0.3, 0.05
    x_adv = pgd_linf(linear_model(), x, lambda z: nn.functional.cross_entropy(z, y), eps, step, 1, "none")
    for i, (xi, yi) in enumerate(zip(X, Y)):
        p = softmax(logits_by_hand(xi))
        # ∂CE/∂x_j = Σ_k (p_k − 1[k=y]) W_kj (the 1/B of the mean does not change the sign)
        grad = [sum((p[k] - (k == yi)) * W[k][j] for k in range(3)) for j in range(2)]
        expected = [min(1.0, max(0.0, xi[j] + step * math.copysign(1.0, grad[j]))) for j in range(2)]
        assert x_adv[i].tolist() == pytest.approx(expected, abs=1e-7)


def test_pgd_stays_in_the_ball_and_the_box():
    x = torch.rand(16, 2)
    y = torch.randint(0, 3, (16,))
    x_adv = pgd_linf(linear_model(), x, lambda z: nn.functional.cross_entropy(z, y), 0.1, 0.07, 7, "uniform",
                     torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_trades_start_is_x_plus_small_gaussian():
    x, _, y = tensors()
    x_adv = TRADES(num_steps=0).attack(linear_model(), x, y, torch.Generator().manual_seed(3))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(x_adv, (x + 0.001 * noise).clamp(0, 1))


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))


@pytest.mark.parametrize("objective", [PGDAT(epsilon=0.1, step_size=0.03), TRADES(epsilon=0.1, step_size=0.03),
                                       MART(epsilon=0.1, step_size=0.03)])
def test_attacks_run_in_eval_mode(objective):
    model = bn_model().train()
    before = model[2].running_mean.clone()
    objective.attack(model, torch.rand(8, 4), torch.randint(0, 3, (8,)), torch.Generator().manual_seed(0))
    assert torch.equal(model[2].running_mean, before)
    assert all(m.training for m in model.modules())


def test_build_objective_takes_only_known_params():
    obj = build_objective("pgd", epsilon=0.2, beta=3.0, lambda_mart=1.0)
    assert isinstance(obj, PGDAT) and obj.epsilon == 0.2
    with pytest.raises(ValueError, match="unknown method"):
        build_objective("fgsm")


# --- AWP ---------------------------------------------------------------------------------------

def awp_inputs():
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


@pytest.mark.parametrize("cls", [TradesAWP, MartAWP])
def test_awp_restores_weights_exactly_with_a_zero_step(cls):
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    objective = cls(epsilon=0.1, step_size=0.03, awp_warmup=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    x, y = awp_inputs()
    out = objective.compute(model, x, y, epoch=0, generator=torch.Generator().manual_seed(0))
    perturbed = {k: v.clone() for k, v in model.state_dict().items()}
    out.value.backward()
    optimizer.step()
    objective.after_step(model)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    # only weight matrices were perturbed, each by γ·‖w‖
    for name in ("1.weight", "3.weight"):
        delta = (perturbed[name] - before[name]).norm()
        assert delta.item() == pytest.approx(0.005 * before[name].norm().item(), rel=1e-4)
    for name in ("1.bias", "3.bias"):
        assert torch.equal(perturbed[name], before[name])


def test_awp_step_is_taken_at_the_perturbed_weights():
    model, lr = mlp(), 0.1
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    objective = TradesAWP(epsilon=0.1, step_size=0.03, awp_warmup=0, awp_gamma=0.05)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = awp_inputs()
    out = objective.compute(model, x, y, epoch=0, generator=torch.Generator().manual_seed(0))
    out.value.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    optimizer.step()
    objective.after_step(model)
    for name, p in model.named_parameters():
        assert torch.allclose(p, w0[name] - lr * grads[name], atol=1e-6), name
    # the gradient differs from the one at the unperturbed weights, so the perturbation mattered
    plain = mlp()
    x_adv = objective.attack(plain, x, y, torch.Generator().manual_seed(0))
    TRADES(epsilon=0.1, step_size=0.03).loss_from(plain, x, x_adv, y).value.backward()
    assert not torch.allclose(plain[1].weight.grad, grads["1.weight"])


def test_awp_leaves_model_batchnorm_statistics_to_the_model():
    model = bn_model().train()
    objective = TradesAWP(epsilon=0.1, step_size=0.03, awp_warmup=0)
    x, y = awp_inputs()
    x_adv = objective.attack(model, x, y, torch.Generator().manual_seed(0))
    before = model[2].running_mean.clone()
    objective._awp.direction(model, objective, x, x_adv, y)
    assert torch.equal(model[2].running_mean, before)
    assert set(perturbable_weights(model)) == {"1.weight", "4.weight"}


def test_awp_waits_for_its_warmup_epoch():
    x, y = awp_inputs()
    awp, plain = mlp(), mlp()
    out_awp = TradesAWP(epsilon=0.1, step_size=0.03, awp_warmup=10).compute(
        awp, x, y, epoch=8, generator=torch.Generator().manual_seed(0))
    out_plain = TRADES(epsilon=0.1, step_size=0.03).compute(plain, x, y, 8, torch.Generator().manual_seed(0))
    assert torch.equal(out_awp.value, out_plain.value)
    on = TradesAWP(epsilon=0.1, step_size=0.03, awp_warmup=10)
    assert on.awp_active(9) and not on.awp_active(8)
