"""TRADES, MART and TRADES-AWP train as the official code does, BatchNorm running statistics included.

Several float64 steps of a BatchNorm CNN from the same weights, data and attack noise, the
product's objective (attack in eval mode, loss in train mode, SGD step, `after_step`) against the
transcriptions in `official_steps.py`: adversarial examples, losses, weights and every BatchNorm
buffer (running mean and variance, `num_batches_tracked`) must agree to float64 rounding.
"""

from __future__ import annotations

import copy

import pytest
import torch

import official_steps
from taser_engine.models import ModelSpec, build_model
from taser_engine.objectives import MART, TRADES, TradesAWP

STEPS, EPS, STEP_SIZE, ATTACK_STEPS, LR = 4, 0.1, 0.03, 3, 0.1


def _model():
    torch.manual_seed(0)
    return build_model(ModelSpec(arch="small_cnn", in_channels=1, image_size=8, width=8)).double()


def _batches():
    g = torch.Generator().manual_seed(1)
    return [(torch.rand(16, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (16,), generator=g))
            for _ in range(STEPS)]


def _buffers(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def _product_steps(objective, model):
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(7)
    trace = []
    for x, y in _batches():
        model.train()
        # compute() as the training loop calls it; the x_adv it used is the attack's on the same draws
        x_adv = objective.attack(copy.deepcopy(model), x, y, torch.Generator().manual_seed(0).set_state(generator.get_state()))
        loss = objective.compute(model, x, y, 0, generator).value
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        objective.after_step(model)
        trace.append((x_adv, loss.detach(), copy.deepcopy(model.state_dict())))
    return trace


def _official_steps(step, model, **extra):
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(7)
    trace = []
    for x, y in _batches():
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x_adv, loss = step(model, optimizer, x, y, noise=noise, **extra)
        trace.append((x_adv, loss, copy.deepcopy(model.state_dict())))
    return trace


def _compare(ours, theirs):
    for step, ((xa, la, wa), (xb, lb, wb)) in enumerate(zip(ours, theirs), start=1):
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-12, msg=f"x_adv differs at step {step}")
        torch.testing.assert_close(la, lb, rtol=1e-10, atol=1e-12, msg=f"loss differs at step {step}")
        for key in wb:
            torch.testing.assert_close(wa[key], wb[key], rtol=1e-9, atol=1e-12,
                                       msg=f"{key} differs at step {step}")


ATTACK = dict(step_size=STEP_SIZE, epsilon=EPS, perturb_steps=ATTACK_STEPS)


def test_trades_matches_the_official_step_running_statistics_included():
    ours = _product_steps(TRADES(epsilon=EPS, step_size=STEP_SIZE, num_steps=ATTACK_STEPS, beta=6.0), _model())
    theirs = _official_steps(official_steps.trades_step, _model(), beta=6.0, **ATTACK)
    _compare(ours, theirs)
    tracked = [v for k, v in ours[-1][2].items() if k.endswith("num_batches_tracked")]
    assert tracked and all(int(v) == 3 * STEPS for v in tracked)  # three train-mode forwards a step


def test_mart_matches_the_official_step_running_statistics_included():
    ours = _product_steps(MART(epsilon=EPS, step_size=STEP_SIZE, num_steps=ATTACK_STEPS, lambda_mart=6.0), _model())
    theirs = _official_steps(official_steps.mart_step, _model(), beta=6.0, **ATTACK)
    _compare(ours, theirs)


def test_trades_awp_matches_the_official_step_running_statistics_included():
    objective = TradesAWP(epsilon=EPS, step_size=STEP_SIZE, num_steps=ATTACK_STEPS, beta=6.0, awp_gamma=0.005,
                          awp_warmup=0)
    ours = _product_steps(objective, _model())
    model = _model()
    proxy = copy.deepcopy(model)
    theirs = _official_steps(official_steps.trades_awp_step, model, proxy=proxy,
                             proxy_optim=torch.optim.SGD(proxy.parameters(), lr=LR), beta=6.0, gamma=0.005,
                             awp_on=True, **ATTACK)
    _compare(ours, theirs)


@pytest.mark.parametrize("cls", [TRADES, TradesAWP])
def test_the_two_forward_variant_keeps_the_loss_and_changes_only_the_statistics(cls):
    fields = dict(epsilon=EPS, step_size=STEP_SIZE, num_steps=ATTACK_STEPS)
    if cls is TradesAWP:
        fields["awp_warmup"] = 0
    x, y = _batches()[0]
    official, two = _model(), _model()
    x_adv = cls(**fields).attack(official, x, y, torch.Generator().manual_seed(0))
    official.train(), two.train()
    loss_official = cls(**fields).loss_from(official, x, x_adv, y).value
    loss_two = cls(forwards="two", **fields).loss_from(two, x, x_adv, y).value
    torch.testing.assert_close(loss_official, loss_two, rtol=1e-12, atol=0)
    tracked = {name: [v for k, v in _buffers(m).items() if k.endswith("num_batches_tracked")][0].item()
               for name, m in (("official", official), ("two", two))}
    assert tracked == {"official": 3, "two": 2}
    mean = [[v for k, v in _buffers(m).items() if k.endswith("running_mean")][0] for m in (official, two)]
    assert not torch.allclose(mean[0], mean[1])
