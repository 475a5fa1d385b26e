"""How far the penalty on the batch's BatchNorm statistics is from the eval-mode definition.

`penalty.batchnorm="batch"` (see taser_engine/penalty.py) lets a standard training step share one
forward between the base loss and the penalty without freezing BatchNorm. It changes what the
penalty is: the paper's residual is per sample in eval mode (running statistics). This script
trains the digits CNN (BatchNorm, ReLU) for a few epochs with the real training step, then on
held-out batches compares, for the margin probe and the Gaussian score the digits runs use:

- `running`: the eval-mode penalty (the definition; what `batchnorm="running"` computes);
- `constant`: the penalty with each BatchNorm's statistics set to the batch's, as constants
  (an eval-mode copy whose running statistics are the batch's own);
- `batch`: what `batchnorm="batch"` computes (residuals of `constant`, the primal logits'
  gradient through the statistics as in the training forward).

It reports the relative error of the penalty value, and of its parameter gradient (norm of the
difference over the norm of the reference) with the cosine between the gradients, per batch;
median and min–max over batches. Run: `python benchmarks/batchnorm_statistics.py` (~1 min).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from taser_engine.penalty import SteinPenaltyConfig, taser_penalty
from taser_engine.training.config import TrainConfig
from taser_engine.training.loop import build_train_setup, epoch_batches, make_generators, on_device
from taser_engine.training.steppers import build_stepper

OUT = Path(__file__).parent / "results" / "batchnorm_statistics_digits.json"


def train_digits(epochs: int, seed: int):
    config = TrainConfig(dataset="digits", method="standard", taser=True, taser_lambda=0.0, epochs=epochs,
                         batch_size=64, device="cpu", seed=seed)
    setup = build_train_setup(config)
    n = setup.data["train_x"].shape[0]
    total = epochs * (n // config.batch_size)
    stepper = build_stepper(setup, total, make_generators(config, setup.device))
    step = 0
    for epoch in range(epochs):
        for index in on_device(epoch_batches(n, config.batch_size, seed, epoch), setup.device):
            x, y, score = stepper.batch(index)
            stepper(x, y, epoch, step, score)
            step += 1
    return setup


def frozen_at_batch_statistics(model: nn.Module, x: torch.Tensor) -> nn.Module:
    copy_ = copy.deepcopy(model).train()
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda m, inputs: seen.__setitem__(m, inputs[0].detach()))
             for m in copy_.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        copy_(x)
    for hook in hooks:
        hook.remove()
    for module, inputs in seen.items():
        var, mean = torch.var_mean(inputs, dim=[0, *range(2, inputs.dim())], unbiased=False)
        module.running_mean.copy_(mean)
        module.running_var.copy_(var)
    return copy_.eval()


def penalty_and_gradient(model: nn.Module, x, y, score, config: SteinPenaltyConfig):
    value = taser_penalty(model, x, y, score, config).value
    grads = torch.autograd.grad(value, [p for p in model.parameters()])
    return value.item(), torch.cat([g.flatten() for g in grads])


def compare(reference, other) -> dict[str, float]:
    (rv, rg), (ov, og) = reference, other
    return {"value_rel_error": abs(ov - rv) / abs(rv), "grad_rel_error": ((og - rg).norm() / rg.norm()).item(),
            "grad_cosine": torch.nn.functional.cosine_similarity(og, rg, dim=0).item()}


def summarise(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    setup = train_digits(args.epochs, args.seed)
    model = setup.model.double().train()
    test_x, test_y = setup.data["test_x"].double(), setup.data["test_y"]
    accuracy = (model.eval()(test_x).argmax(1) == test_y).float().mean().item()
    model.train()
    source = setup.scores.source
    pairs = {"batch_vs_running": [], "constant_vs_running": [], "batch_vs_constant": []}
    g = torch.Generator().manual_seed(args.seed)
    for _ in range(args.batches):
        index = torch.randperm(test_x.shape[0], generator=g)[: args.batch_size]
        x, y = test_x[index], test_y[index]
        score = source(x.float()).double()
        running = penalty_and_gradient(model, x, y, score, SteinPenaltyConfig())
        batch = penalty_and_gradient(model, x, y, score, SteinPenaltyConfig(batchnorm="batch"))
        frozen = frozen_at_batch_statistics(model, x)
        constant = penalty_and_gradient(frozen, x, y, score, SteinPenaltyConfig())
        pairs["batch_vs_running"].append(compare(running, batch))
        pairs["constant_vs_running"].append(compare(running, constant))
        pairs["batch_vs_constant"].append(compare(constant, batch))
    result = {
        "settings": vars(args) | {"json": str(args.json)}, "model": "small_cnn (digits, BatchNorm + ReLU)",
        "probe": "margin", "score": "gaussian", "clean_accuracy": accuracy, "torch": torch.__version__,
        "comparisons": {name: {metric: summarise([row[metric] for row in rows]) for metric in rows[0]}
                        for name, rows in pairs.items()},
        "wall_s": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for name, metrics in result["comparisons"].items():
        print(name, {k: f"{v['median']:.3g} ({v['min']:.3g}–{v['max']:.3g})" for k, v in metrics.items()})
    print(f"clean accuracy {accuracy:.3f}; {result['wall_s']:.0f} s; wrote {args.json}")


if __name__ == "__main__":
    main()
