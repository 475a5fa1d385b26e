"""Test helpers: a noise predictor whose output is known in closed form, and a tiny real UNet.

For Gaussian data x₀ ~ N(m, C) (model coordinates) the optimal denoiser is linear:
E[ε | x_t] = σ_t (ᾱ_t C + σ_t² I)⁻¹ (x_t − √ᾱ_t m). `GaussianOracle` returns exactly that (or the
matching x₀ / v prediction) with the UNet2DModel call signature.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn



class GaussianOracle(nn.Module):
    def __init__(self, scheduler, mean: torch.Tensor, cov: torch.Tensor, prediction_type: str = "epsilon"):
        super().__init__()
        self.alphas_cumprod = scheduler.alphas_cumprod.double()
        self.mean, self.cov = mean.double().flatten(), cov.double()
        self.prediction_type = prediction_type
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the module a device

    def forward(self, sample, timestep):
        t = int(torch.as_tensor(timestep).flatten()[0])
        ab = float(self.alphas_cumprod[t])
        sigma = math.sqrt(1 - ab)
        x = sample.flatten(1).double()
        d = x.shape[1]
        precision = torch.linalg.inv(ab * self.cov + sigma**2 * torch.eye(d, dtype=torch.float64))
        eps = sigma * (x - math.sqrt(ab) * self.mean) @ precision.T
        x0 = (x - sigma * eps) / math.sqrt(ab)
        out = {"epsilon": eps, "sample": x0, "v_prediction": math.sqrt(ab) * eps - sigma * x0}[self.prediction_type]
        return SimpleNamespace(sample=out.view_as(sample).to(sample.dtype))


def tiny_unet(seed: int = 0):
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8)


def ddpm_scheduler(prediction_type: str = "epsilon"):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                         prediction_type=prediction_type)
