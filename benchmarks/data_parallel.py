"""One process against N data-parallel processes (torchrun, Gloo on the CPU / NCCL on GPUs) on
digits: wall time of the whole run (N processes: including torchrun's start-up), ms per sample,
clean accuracy, and the largest weight difference from the single-process run.

    PYTHONPATH=. python benchmarks/data_parallel.py --gpus 2 --json benchmarks/results/data_parallel.json

With `penalty.centering: batch` (the default) the N-process penalty centres each shard on its own
mean, so its weights differ from one process's by design; `global` centring is the same either way.
Measured on the 2-core CPU box (digits, MLP, 3 epochs, Adam): without TASER the largest weight
difference was 3e-4, in 263 of 16384 entries of one layer; the same runs with SGD differ by 3e-8.
Adam divides by sqrt(v) + 1e-8, so parameters whose gradients are ~0 (dead ReLU units) turn the
float rounding of a different summation order into lr-sized steps; the test uses few steps.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from app.distributed_train import launch
from app.jobs import validate_config
from taser_engine.callbacks import Callbacks
from taser_engine.training import train


def _config(args, taser: bool, centering: str) -> dict:
    config = {"dataset": "digits", "arch": args.arch, "epochs": args.epochs, "batch_size": args.batch_size,
              "device": args.device, "taser": taser, "taser_lambda": 0.03, "lr": 3e-3}
    if taser:
        config["penalty"] = {"centering": centering, "center": 0.0 if centering == "global" else None}
    return config


def _max_difference(a: Path, b: Path) -> float:
    one, two = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return max((one[k].float() - two[k].float()).abs().max().item() for k in one)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    rows = []
    for taser, centering in ((False, "batch"), (True, "global"), (True, "batch")):
        raw = _config(args, taser, centering)
        with tempfile.TemporaryDirectory() as tmp:
            torch.set_num_threads(1)
            start = time.perf_counter()
            one = train(validate_config("train", raw), None, Path(tmp) / "one", resume=False)
            one_s = time.perf_counter() - start
            start = time.perf_counter()
            many = launch("train", validate_config("train", {**raw, "gpus": args.gpus}), Callbacks(), Path(tmp) / "many")
            many_s = time.perf_counter() - start
            difference = _max_difference(Path(tmp) / "one", Path(tmp) / "many")
        rows.append({"taser": taser, "centering": centering if taser else None, "processes": args.gpus,
                     "wall_s_one": one_s, "wall_s_many": many_s,
                     "ms_per_sample_one": one["ms_per_sample"], "ms_per_sample_many": many["ms_per_sample"],
                     "clean_acc_one": one["clean_acc"], "clean_acc_many": many["clean_acc"],
                     "max_weight_difference": difference, "device": many["device"]})
        print(json.dumps(rows[-1]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=2))


if __name__ == "__main__":
    main()
