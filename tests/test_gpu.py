"""CUDA checks, run by `make gpu-check` on a machine with a GPU (skipped elsewhere).

The placement test's dispatch checker, on a real CUDA device this time: a TASER step with the live
and the cached diffusion score, and a whole 1-epoch run, keep every tensor on the GPU.
"""

from __future__ import annotations

import pytest
import torch

from scores_oracle import ddpm_scheduler, tiny_unet
from test_placement import OffDevice
from taser_engine.training.config import TrainConfig
from taser_engine.training.loop import build_train_setup, make_generators, on_device, train
from taser_engine.training.steppers import build_stepper

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda", 0)


def _score_model(tmp_path):
    tiny_unet().save_pretrained(tmp_path / "score")
    ddpm_scheduler().save_pretrained(tmp_path / "score")
    return str(tmp_path / "score")


@pytest.mark.parametrize("cache", ["off", "auto"])
def test_a_diffusion_taser_step_stays_on_the_gpu(tmp_path, cache):
    config = TrainConfig(dataset="digits", epochs=1, batch_size=32, max_train_samples=128, taser=True,
                         method="trades", num_steps=2, score_model=_score_model(tmp_path), score_cache=cache,
                         device="cuda")
    setup = build_train_setup(config)
    assert setup.device.type == "cuda" and setup.scores.source.device.type == "cuda"
    stepper = build_stepper(setup, 4, make_generators(config, setup.device))
    index = on_device([torch.arange(32)], setup.device)[0]
    with OffDevice(CUDA) as mode:
        x, y, score = stepper.batch(index)
        stepper(x, y, 0, 1, score)
    assert mode.offenders == []


def test_a_short_run_on_the_gpu_finishes_with_finite_figures(tmp_path):
    config = TrainConfig(dataset="digits", epochs=1, batch_size=64, taser=True, score_model=_score_model(tmp_path),
                         device="cuda")
    result = train(config, run_dir=tmp_path / "run")
    assert result["device"].startswith("cuda") and result["clean_acc"] > 0.1
    assert result["ms_per_sample"] > result["ms_per_sample_without_penalty"] > 0
