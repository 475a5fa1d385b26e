"""Every tensor of a training step lives on the run's device, and a step never waits for the device.

Without a GPU, the `meta` device stands in for one: a setup built for `meta` must put the model,
the data, the score source (Gaussian or diffusion), the score cache, the objective and the teacher
there. A dispatch mode records every operator that touches a tensor on another device (a 0-dim CPU
tensor is a Python scalar and allowed), and because meta tensors hold no values, any host read in
the step (`.item()`, `if tensor:`) raises: the step passing on meta proves it has no host syncs.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from scores_oracle import ddpm_scheduler, tiny_unet
from taser_engine.training.config import FinetuneConfig, TrainConfig
from taser_engine.training.loop import (build_finetune_setup, build_train_setup, load_data,
                                        make_generators, on_device, train)
from taser_engine.training.steppers import build_stepper

META = torch.device("meta")
pytestmark = pytest.mark.usefixtures("one_thread")


class OffDevice(TorchDispatchMode):
    """Records operators that read or make a tensor on a device other than `device`."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self.offenders: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_flatten((args, kwargs, out))[0] if isinstance(t, torch.Tensor)]
        if any(t.device != self.device and t.dim() > 0 for t in tensors):
            self.offenders.append(f"{func} on {sorted({str(t.device) for t in tensors})}")
        return out


def _score_model_dir(tmp_path):
    directory = tmp_path / "score-model"
    tiny_unet().save_pretrained(directory)
    ddpm_scheduler().save_pretrained(directory)
    return directory


def _config(**fields) -> TrainConfig:
    base = dict(dataset="digits", epochs=1, batch_size=16, max_train_samples=64, max_test_samples=16, taser=True)
    return TrainConfig(**{**base, **fields})


def _one_step_on_meta(setup) -> list[str]:
    stepper = build_stepper(setup, total_steps=4, generators=make_generators(setup.config, META))
    index = on_device([torch.arange(setup.config.batch_size)], META)[0]
    with OffDevice(META) as mode:
        x, y, score = stepper.batch(index)
        metrics = stepper(x, y, 0, 1, score)
    assert all(v.device == META for v in metrics.values() if isinstance(v, torch.Tensor))
    return mode.offenders


@pytest.mark.parametrize("fields", [
    {"method": "standard"},
    {"method": "trades", "num_steps": 2},
    {"method": "mart-awp", "num_steps": 1, "awp_warmup": 0},
    {"method": "standard", "taser": False},
    {"method": "standard", "freeze_batchnorm": True, "arch": "resnet18", "width": 8},
    {"method": "standard", "penalty": {"batchnorm": "batch"}, "arch": "resnet18", "width": 8},
], ids=["standard", "trades", "mart-awp", "no-taser", "shared-forward", "shared-forward-batch-statistics"])
def test_a_gaussian_taser_step_runs_wholly_on_the_run_device(fields):
    setup = build_train_setup(_config(**fields), device=META)
    assert _one_step_on_meta(setup) == []


def test_the_live_diffusion_score_runs_on_the_run_device(tmp_path):
    """The bug this guards against: the score UNet was loaded on the CPU and left there."""
    setup = build_train_setup(_config(score_model=str(_score_model_dir(tmp_path)), score_cache="off"), device=META)
    assert setup.scores.source.device == META
    assert _one_step_on_meta(setup) == []


def test_the_cached_diffusion_score_is_looked_up_on_the_run_device(tmp_path):
    directory = _score_model_dir(tmp_path)
    cache = tmp_path / "scores.safetensors"
    build_train_setup(_config(score_model=str(directory), score_cache=str(cache)))  # builds it on the CPU
    setup = build_train_setup(_config(score_model=str(directory), score_cache=str(cache)), device=META)
    assert setup.scores.cached.device == META and setup.scores.summary["cache_reused"]
    assert _one_step_on_meta(setup) == []


def test_a_finetune_step_with_its_teacher_runs_on_the_run_device(tmp_path):
    train(_config(taser=False), run_dir=tmp_path / "base")
    config = FinetuneConfig(source=str(tmp_path / "base"), dataset="digits", epochs=1, batch_size=16,
                            max_train_samples=64, max_test_samples=16, adversarial_lite_steps=1)
    setup = build_finetune_setup(config, device=META)
    assert next(setup.teacher.parameters()).device == META
    assert _one_step_on_meta(setup) == []


def test_the_checker_catches_a_score_left_on_the_cpu(tmp_path):
    """The test above would have failed on the old code: a source not moved computes on the CPU."""
    from taser_engine.scores import load_score_source

    setup = build_train_setup(_config(score_model=str(_score_model_dir(tmp_path)), score_cache="off"), device=META)
    setup.scores.source = load_score_source(str(tmp_path / "score-model"))  # on the CPU, as before the fix
    with pytest.raises(NotImplementedError):  # meta → CPU copies have no data to copy
        _one_step_on_meta(setup)
    x = torch.rand(4, 1, 8, 8)
    with OffDevice(META) as mode:
        setup.scores.source(x)
    assert mode.offenders


def test_load_data_stays_on_the_cpu_until_the_setup_moves_it():
    data = load_data(_config())
    assert all(t.device.type == "cpu" for t in data.values())
