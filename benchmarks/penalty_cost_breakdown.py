"""Where the TASER step's time goes on ResNet-18: the penalty against the bare network work it needs.

An exact per-sample penalty (eval-mode BatchNorm, so it cannot reuse the train-mode forward) has to
run the network in eval mode on the primal batch and on one tangent per direction (s, plus K
Hutchinson probes), and differentiate that. This times, interleaved, in one process:

- the plain training step (train-mode forward, backward, SGD update);
- the plain step plus an eval-mode forward and backward of R·B rows (a stand-in loss), R = 2, 3:
  the network work of the first-order penalty (primal + s) and of Hutchinson K=1;
- the real TASER steps (`jvp`, i.e. tangent batches) for `none` and `hutchinson` K=1.

    PYTHONPATH=. python benchmarks/penalty_cost_breakdown.py --json benchmarks/results/penalty_cost_breakdown.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from taser_engine.models import build_model
from taser_engine.modes import eval_mode
from taser_engine.overhead import BENCH_MODELS, _batch, _training_step
from taser_engine.penalty import SteinPenaltyConfig


def rows_step(model, opt, x, y, rows: int):
    """Plain step plus an eval-mode forward + backward of `rows`·B rows (no penalty arithmetic)."""
    stacked = x.repeat(rows, 1, 1, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        with eval_mode(model):
            loss = loss + 1e-6 * model(stacked).square().mean()
        loss.backward()
        opt.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    spec = BENCH_MODELS["resnet18"]
    torch.manual_seed(0)
    model = build_model(spec).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    x, y, score = _batch(spec, args.batch_size, "cpu", 0)
    steps = {
        "plain": _training_step(model, opt, x, y, score, None, 0),
        "eval rows 2B": rows_step(model, opt, x, y, 2),
        "eval rows 3B": rows_step(model, opt, x, y, 3),
        "taser jvp none": _training_step(model, opt, x, y, score, SteinPenaltyConfig(method="jvp"), 0),
        "taser jvp hutchinson K=1": _training_step(
            model, opt, x, y, score, SteinPenaltyConfig(method="jvp", laplacian="hutchinson"), 0),
    }
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    plain = statistics.median(seconds["plain"])
    rows = [{"step": name, "ms_per_sample": 1000 * statistics.median(times) / args.batch_size,
             "ratio": statistics.median(times) / plain} for name, times in seconds.items()]
    for row in rows:
        print(f"{row['step']:<28} {row['ms_per_sample']:8.2f} ms/sample  ×{row['ratio']:.2f}")
    args.json.write_text(json.dumps({"model": "resnet18", "device": "cpu", "batch_size": args.batch_size,
                                     "threads": torch.get_num_threads(), "torch": torch.__version__,
                                     "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
