"""The step regimes against a reference step written out here: CE + λ·R_TASER, one SGD update."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from taser_engine.modes import freeze_batchnorm
from taser_engine.penalty import taser_penalty
from taser_engine.training.config import TrainConfig
from taser_engine.training.loop import build_train_setup, make_generators, on_device
from taser_engine.training.steppers import SeparatePenaltyStepper, SharedForwardStepper, build_stepper

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(**fields) -> TrainConfig:
    base = dict(dataset="digits", method="standard", taser=True, epochs=1, batch_size=16, max_train_samples=32,
                max_test_samples=16, width=4, device="cpu", optimizer="sgd", momentum=0.0, lr=0.05,
                lr_schedule="constant", taser_lambda=0.5, lambda_warmup_fraction=0.0, augment=False)
    return TrainConfig(**{**base, **fields})


def _reference_step(setup, x, y, generators) -> dict[str, torch.Tensor]:
    """The step as the paper writes it, on a copy: θ ← θ − lr·∇(CE(f_θ(x), y) + λ·R(θ; x))."""
    cfg, model = setup.config, copy.deepcopy(setup.model)
    model.train()
    if cfg.freeze_batchnorm:
        freeze_batchnorm(model)
    ce = F.cross_entropy(model(x), y)
    score = setup.scores.source(x)
    penalty = taser_penalty(model, x, y, score, cfg.penalty, generators["noise"]).value
    grads = torch.autograd.grad(ce + cfg.taser_lambda * penalty, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p -= cfg.lr * g
    return model.state_dict()


@pytest.mark.parametrize("frozen, batchnorm, regime", [(False, "running", SeparatePenaltyStepper),
                                                       (True, "running", SharedForwardStepper),
                                                       (False, "batch", SharedForwardStepper)])
def test_each_regime_takes_the_reference_step(frozen, batchnorm, regime):
    # batch statistics: the reference's CE forward updates the running statistics once, its penalty
    # leaves them alone; the shared step's one forward must end in the same weights AND buffers
    setup = build_train_setup(_config(freeze_batchnorm=frozen, penalty={"batchnorm": batchnorm}))
    reference_generators = make_generators(setup.config, setup.device)
    stepper = build_stepper(setup, 4, make_generators(setup.config, setup.device))
    assert type(stepper) is regime
    x, y, score = stepper.batch(on_device([torch.arange(16)], setup.device)[0])
    expected = _reference_step(setup, x, y, reference_generators)
    metrics = stepper(x, y, 0, 0, score)
    assert {"loss/base", "loss/taser", "loss/total", "lambda", "lr"} <= set(metrics)
    for key, value in setup.model.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-4, atol=1e-6, msg=key)
    timing: dict[str, float] = {}
    stepper.timer.flush(timing)
    assert timing["samples"] == 16 and timing["penalty_s"] > 0


def test_without_taser_the_step_is_the_base_loss_alone():
    setup = build_train_setup(_config(taser=False))
    stepper = build_stepper(setup, 4, make_generators(setup.config, setup.device))
    assert type(stepper) is SeparatePenaltyStepper
    x, y, score = stepper.batch(on_device([torch.arange(16)], setup.device)[0])
    metrics = stepper(x, y, 0, 0, score)
    assert "loss/taser" not in metrics and torch.equal(metrics["loss/total"], metrics["loss/base"])
    timing: dict[str, float] = {}
    stepper.timer.flush(timing)
    assert timing["penalty_s"] == 0


def test_the_shared_step_times_its_base_step_apart_without_changing_the_run():
    # the base-step probe runs a training-mode forward: BatchNorm's statistics must come back
    def three_steps(probe_every: int):
        setup = build_train_setup(_config(penalty={"batchnorm": "batch"}))
        stepper = build_stepper(setup, 4, make_generators(setup.config, setup.device))
        assert type(stepper) is SharedForwardStepper
        stepper.base_probe_every = probe_every
        for step in range(3):
            x, y, score = stepper.batch(on_device([torch.arange(16) + step], setup.device)[0])
            stepper(x, y, 0, step, score)
        timing: dict[str, float] = {}
        stepper.flush_timing(timing)
        return setup.model.state_dict(), timing

    probed, timing = three_steps(1)  # every step probed
    plain, plain_timing = three_steps(0)
    for key, value in probed.items():
        assert torch.equal(value, plain[key]), key
    assert timing["probe_samples"] == 3 * 16 and timing["probe_base_s"] > 0
    assert "probe_samples" not in plain_timing and timing["samples"] == plain_timing["samples"]


def test_a_run_says_how_its_base_step_was_timed(tmp_path):
    from taser_engine.training.loop import train

    timed = train(_config(penalty={"batchnorm": "batch"}, max_train_samples=96), run_dir=tmp_path / "shared")
    assert timed["base_step_timing"].startswith("forward and backward timed alone every 10 steps")
    short = train(_config(penalty={"batchnorm": "batch"}), run_dir=tmp_path / "short")  # 2 steps: no probe yet
    assert short["base_step_timing"].startswith("split from the shared step by rows")
    separate = train(_config(), run_dir=tmp_path / "separate")
    assert separate["base_step_timing"] == "timed within each step"
