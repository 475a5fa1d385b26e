"""Two digits classifiers for the robustness tables demo: plain cross-entropy and cross-entropy +
λ·TASER (Gaussian score fitted to the training images), saved as run directories that
`taser evaluate` reads (config.json carries method and TASER flag, result.json the training time
per sample). A stand-in for `taser train` on the smallest possible problem, not a paper result.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/evaluation_digits_demo.py --out var/demo_eval
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from taser_engine import GaussianScore, SteinPenaltyConfig, taser_penalty
from taser_engine.checkpoints import save_model
from taser_engine.datasets import load_dataset
from taser_engine.models import ModelSpec, build_model


def train(lam: float, epochs: int, seed: int) -> tuple[nn.Module, float]:
    x, y = load_dataset("digits", "train").tensors
    flat = x.flatten(1)
    score = GaussianScore(flat.mean(0), torch.cov(flat.T) + 1e-2 * torch.eye(flat.shape[1]))
    torch.manual_seed(seed)
    model = build_model(ModelSpec(arch="mlp", width=128, activation="softplus"))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    penalty = SteinPenaltyConfig(laplacian="hutchinson", num_probes=1)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        for idx in torch.randperm(len(y), generator=generator).split(128):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            if lam > 0:
                loss = loss + lam * min(1.0, (epoch + 1) / 5) * taser_penalty(
                    model, x[idx], y[idx], score, penalty, generator).value
            loss.backward()
            optimizer.step()
    ms_per_sample = 1000 * (time.perf_counter() - start) / (epochs * len(y))
    return model.eval(), ms_per_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/demo_eval"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lam", type=float, default=1.0, help="λ of the TASER run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, lam in (("standard", 0.0), ("standard_taser", args.lam)):
        model, ms = train(lam, args.epochs, args.seed)
        run_dir = args.out / name
        save_model(run_dir, model)
        (run_dir / "config.json").write_text(json.dumps(
            {"method": "standard", "taser": lam > 0, "lambda_max": lam, "dataset": "digits"}))
        (run_dir / "result.json").write_text(json.dumps({"train_ms_per_sample": ms}))
        print(f"{run_dir}: lambda={lam} train_ms_per_sample={ms:.4f}")


if __name__ == "__main__":
    main()
