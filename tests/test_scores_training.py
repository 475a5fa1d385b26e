"""Score-model training: diffusers output format, resumption, the 2D analytic comparison."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")
from taser_engine.callbacks import Callbacks
from taser_engine.scores import DiffusionScore, load_score_source
from taser_engine.scores.quality import analytic_comparison, default_mixture_2d, stein_identity_check
from taser_engine.scores.training import (
    ScoreModelTrainConfig, build_unet, denoising_loss, fit_denoiser, make_scheduler, train_score_model, train_vector_denoiser,
    unet_config_for,
)

TINY = dict(epochs=2, batch_size=256, block_out_channels=[8, 16], warmup_steps=2, checkpoint_every=1)


class Recorder(Callbacks):
    def __init__(self, stop_at_step: int | None = None):
        self.metrics, self.checkpoints, self.progress = [], [], []
        self.stop_at_step = stop_at_step

    def on_progress(self, done, total, message=""):
        self.progress.append((done, total))

    def on_metrics(self, step, metrics):
        self.metrics.append(dict(metrics))

    def on_checkpoint(self, path, step):
        self.checkpoints.append(step)

    def should_stop(self):
        return self.stop_at_step is not None and self.progress[-1][0] >= self.stop_at_step


def test_trained_digits_model_loads_with_diffusers_and_beats_its_initialisation(tmp_path):
    from diffusers import DDPMScheduler, UNet2DModel

    config = ScoreModelTrainConfig(**TINY)
    recorder = Recorder()
    result = train_score_model(config, tmp_path, recorder)
    unet = UNet2DModel.from_pretrained(tmp_path, local_files_only=True)
    scheduler = DDPMScheduler.from_pretrained(tmp_path, local_files_only=True)
    assert result.epochs_done == 2 and recorder.checkpoints == [result.steps // 2, result.steps]
    assert recorder.progress[-1] == (result.steps, result.steps)
    assert [m["epoch"] for m in recorder.metrics if "epoch" in m] == [1, 2]
    from taser_engine.datasets import load_dataset

    heldout = load_dataset("digits", "test").tensors[0] * 2 - 1
    untrained = build_unet(config, 8, 1)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    before = denoising_loss(untrained, scheduler, heldout, 50, gen())
    after = denoising_loss(unet, scheduler, heldout, 50, gen())
    assert after < before
    # the saved weights are the EMA weights the reported metric was computed with (same seed)
    saved = denoising_loss(unet, scheduler, heldout, 50, torch.Generator().manual_seed(12346))
    assert result.metrics["heldout_loss_t50"] == pytest.approx(saved, rel=1e-5)
    source = load_score_source(tmp_path)
    assert source(heldout[:3] * 0.5 + 0.5).shape == (3, 1, 8, 8)


def test_stopped_run_resumes_to_the_same_weights(tmp_path):
    from taser_engine.datasets import load_dataset

    config = ScoreModelTrainConfig(**{**TINY, "batch_size": 64})
    images = load_dataset("digits", "train").tensors[0][:192] * 2 - 1  # 3 steps per epoch

    def run(out, callbacks=None, resume=False):
        return fit_denoiser(build_unet(config, 8, 1), make_scheduler(config), images, images[:32], config,
                            out, callbacks, resume)[1]

    straight = run(tmp_path / "straight")
    stopped = run(tmp_path / "resumed", Recorder(stop_at_step=straight.steps // 2 + 1))
    assert stopped.stopped_early and stopped.epochs_done == 1
    resumed = run(tmp_path / "resumed", resume=True)
    assert resumed.epochs_done == 2 and resumed.steps == straight.steps
    a = load_score_source(tmp_path / "straight").model.state_dict()
    b = load_score_source(tmp_path / "resumed").model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_architecture_presets_cover_the_dataset_sizes():
    from diffusers import UNet2DModel

    for size, channels in [(8, 1), (28, 1), (32, 3)]:
        kwargs = unet_config_for(size, channels)
        assert kwargs["sample_size"] == size and kwargs["in_channels"] == channels
        if size == 8:  # building the larger ones is cheap but not free; check their shapes only
            out = UNet2DModel(**kwargs)(torch.zeros(2, channels, size, size), torch.tensor([1, 2])).sample
            assert out.shape == (2, channels, size, size)
    with pytest.raises(ValueError, match="divisible"):
        unet_config_for(28, 1, [8, 8, 8, 8])


def test_config_errors_name_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_train_timestep"):
        ScoreModelTrainConfig(max_train_timestep=2000)
    with pytest.raises(ValidationError, match="epochs"):
        ScoreModelTrainConfig(epochs=0)


def test_mlp_denoiser_on_2d_mixture_beats_trivial_baselines(tmp_path):
    # UNet2DModel is for images; for 2D vectors the same objective trains a small MLP denoiser.
    density = default_mixture_2d()
    gen = torch.Generator().manual_seed(0)
    train_x, heldout_x = density.sample(2048, gen).float(), density.sample(512, gen).float()
    config = ScoreModelTrainConfig(epochs=40, batch_size=128, warmup_steps=20, checkpoint_every=40)
    model, scheduler, _ = train_vector_denoiser(train_x, heldout_x, config, hidden=64, out_dir=tmp_path)
    source = DiffusionScore(model, scheduler, 50, data_scale=1.0, data_shift=0.0)
    result = analytic_comparison(source, density, 2048)
    assert result["learned_relative_error"] < 0.5 * result["gaussian_fit_relative_error"]
    assert result["learned_relative_error"] < 0.5  # the zero score has relative error 1
    assert result["learned_cosine_mean"] > 0.9
    stein = stein_identity_check(source, heldout_x[:256])
    assert all(abs(r["z"]) < 4 for r in stein["noised"].values())
    reloaded = load_score_source(tmp_path)  # MLPDenoiser round trip, coordinates read from the record
    assert reloaded.data_scale == 1.0
    torch.testing.assert_close(reloaded(heldout_x[:8]), source(heldout_x[:8]))


def test_resuming_with_a_different_architecture_is_refused(tmp_path):
    config = ScoreModelTrainConfig(**{**TINY, "epochs": 1, "batch_size": 64})
    images = torch.rand(64, 1, 8, 8) * 2 - 1
    fit_denoiser(build_unet(config, 8, 1), make_scheduler(config), images, images, config, tmp_path)
    other = config.model_copy(update={"block_out_channels": [8, 8]})
    with pytest.raises(ValueError, match="block_out_channels"):
        fit_denoiser(build_unet(other, 8, 1), make_scheduler(other), images, images, other, tmp_path, resume=True)


def test_tiny_unet_learns_the_score_of_gaussian_images():
    """A real UNet2DModel trained on Gaussian 8×8 images approaches the exact (linear-denoiser) score."""
    from scores_oracle import tiny_unet
    from taser_engine.scores import GaussianMixtureScore

    grid = torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij"), -1).view(64, 2).double()
    cov = 0.02 * torch.exp(-((grid[:, None] - grid[None]) ** 2).sum(-1) / 8.0) + 0.002 * torch.eye(64, dtype=torch.float64)
    density = GaussianMixtureScore(torch.full((1, 64), 0.5, dtype=torch.float64), cov[None])
    images = density.sample(2048, torch.Generator().manual_seed(0)).float().view(-1, 1, 8, 8)
    config = ScoreModelTrainConfig(epochs=10, batch_size=128, warmup_steps=20, checkpoint_every=10)
    scheduler = make_scheduler(config)
    untrained = DiffusionScore(tiny_unet(), scheduler, 50)
    model, _ = fit_denoiser(tiny_unet(), scheduler, images * 2 - 1, images[:256] * 2 - 1, config)
    learned = analytic_comparison(DiffusionScore(model, scheduler, 50), density, 1024, seed=1, shape=(1, 8, 8))
    before = analytic_comparison(untrained, density, 1024, seed=1, shape=(1, 8, 8))
    assert learned["learned_cosine_mean"] > 0.9 and learned["learned_relative_error"] < 0.5
    assert learned["learned_relative_error"] < 0.5 * before["learned_relative_error"]


def test_a_truncated_training_state_names_the_file_and_what_to_do(tmp_path):
    from taser_engine.checkpoints import CheckpointError
    from taser_engine.scores.training import STATE_FILE

    config = ScoreModelTrainConfig(**{**TINY, "epochs": 1, "batch_size": 64})
    images = torch.rand(64, 1, 8, 8) * 2 - 1
    fit_denoiser(build_unet(config, 8, 1), make_scheduler(config), images, images, config, tmp_path)
    state = tmp_path / STATE_FILE
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=f"checkpoint {state} is corrupted or truncated .*delete it"):
        fit_denoiser(build_unet(config, 8, 1), make_scheduler(config), images, images, config, tmp_path,
                     resume=True)
