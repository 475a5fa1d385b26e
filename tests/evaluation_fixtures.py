"""Tiny digits classifiers for the evaluation tests: trained in well under a second, saved through
the real checkpoint code. (A plain cross-entropy loop: the training module is tested elsewhere.)"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from taser_engine.checkpoints import save_model
from taser_engine.datasets import load_dataset
from taser_engine.models import ModelSpec, build_model



def train_digits_mlp(seed: int = 0, epochs: int = 40, noise: float = 0.0) -> nn.Module:
    """Full-batch Adam on the digits train split; `noise` > 0 trains on Gaussian-noised inputs."""
    gen = torch.Generator().manual_seed(seed)
    x, y = load_dataset("digits", "train").tensors
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(ModelSpec(arch="mlp", width=64))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(epochs):
        inputs = x if noise == 0 else (x + noise * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), y).backward()
        optimizer.step()
    return model.eval()


def save_run(run_dir: Path, model: nn.Module, *, method: str, taser: bool, ms_per_sample: float) -> Path:
    save_model(run_dir, model)
    (run_dir / "config.json").write_text(json.dumps({"method": method, "taser": taser, "dataset": "digits"}))
    (run_dir / "result.json").write_text(json.dumps({"ms_per_sample": ms_per_sample}))
    return run_dir
