import math

import pytest
import torch

from taser_engine import lambda_ramp, warmup_cosine_lr, warmup_cosine_scheduler


def test_lambda_ramp_follows_the_paper():
    assert lambda_ramp(0, 2.0, 10) == 0.0
    assert lambda_ramp(5, 2.0, 10) == pytest.approx(1.0)
    assert lambda_ramp(10, 2.0, 10) == 2.0
    assert lambda_ramp(50, 2.0, 10) == 2.0
    assert lambda_ramp(0, 2.0, 0) == 2.0


def test_warmup_cosine_endpoints_and_midpoint():
    t, warm, hi, lo = 100, 10, 1e-3, 1e-4
    assert warmup_cosine_lr(0, t, hi, lo, warm) == 0.0
    assert warmup_cosine_lr(5, t, hi, lo, warm) == pytest.approx(hi / 2)
    assert warmup_cosine_lr(warm, t, hi, lo, warm) == pytest.approx(hi)
    assert warmup_cosine_lr(55, t, hi, lo, warm) == pytest.approx(lo + 0.5 * (hi - lo))
    assert warmup_cosine_lr(t, t, hi, lo, warm) == pytest.approx(lo)
    values = [warmup_cosine_lr(s, t, hi, lo, warm) for s in range(warm, t + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_scheduler_matches_the_formula():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=123.0)
    sched = warmup_cosine_scheduler(opt, 20, 1e-3, 1e-4, 2)
    for step in range(20):
        assert opt.param_groups[0]["lr"] == pytest.approx(warmup_cosine_lr(step, 20, 1e-3, 1e-4, 2))
        opt.step()
        sched.step()
    assert math.isclose(opt.param_groups[0]["lr"], 1e-4)
