"""TRADES / TRADES-AWP step time with the official three train-mode forwards against two
(`trades_forwards`), timed side by side in one process (interleaved, medians after warm-up).

    PYTHONPATH=. python benchmarks/trades_forwards.py --json benchmarks/results/trades_forwards_cpu.json

A step is what the training loop runs: attack (10 steps), AWP direction, loss, backward, update.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from taser_engine.models import ModelSpec, build_model
from taser_engine.objectives import build_objective
from taser_engine.overhead import BENCH_MODELS

CASES = {  # name -> (model, batch size): the digits-cpu model and the paper's CIFAR-10 ResNet-18
    "small_cnn_digits": (ModelSpec(arch="small_cnn", in_channels=1, image_size=8, width=16), 64),
    "resnet18_cifar10": (BENCH_MODELS["resnet18"], 32),
}


def step_fn(method: str, forwards: str, spec: ModelSpec, batch: int, device: str):
    torch.manual_seed(0)
    model = build_model(spec).to(device)
    objective = build_objective(method, epsilon=8 / 255, step_size=2 / 255, num_steps=10, awp_warmup=0,
                                forwards=forwards)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, spec.in_channels, spec.image_size, spec.image_size, generator=g).to(device)
    y = torch.randint(0, spec.num_classes, (batch,), generator=g).to(device)

    def step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        objective.compute(model, x, y, 0, torch.Generator().manual_seed(0)).value.backward()
        optimizer.step()
        objective.after_step(model)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--methods", default="trades,trades-awp")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for case in args.cases.split(","):
        spec, batch = CASES[case]
        for method in args.methods.split(","):
            steps = {f: step_fn(method, f, spec, batch, args.device) for f in ("official", "two")}
            times = {f: [] for f in steps}
            for i in range(args.warmup + args.repeats):
                for forwards, step in steps.items():
                    start = time.perf_counter()
                    step()
                    if i >= args.warmup:
                        times[forwards].append(time.perf_counter() - start)
            official, two = (statistics.median(times[f]) for f in ("official", "two"))
            rows.append({"case": case, "method": method, "batch_size": batch, "device": args.device,
                         "repeats": args.repeats,
                         "official_ms_per_sample": 1e3 * official / batch, "two_ms_per_sample": 1e3 * two / batch,
                         "two_over_official": two / official})
            print(json.dumps(rows[-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"threads": args.threads, "attack_steps": 10, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
