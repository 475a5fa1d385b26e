"""Every base method with and without TASER on digits with the `digits-cpu` preset: wall time,
ms per training sample (with / without the penalty) and clean test accuracy.

    PYTHONPATH=. python benchmarks/train_digits.py --json benchmarks/results/train_digits.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from taser_engine.objectives import METHODS
from taser_engine.training import train, train_preset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for method in args.methods.split(","):
        for taser in (False, True):
            config = train_preset("digits-cpu", method=method, taser=taser, device=args.device)
            with tempfile.TemporaryDirectory() as run_dir:
                start = time.perf_counter()
                result = train(config, None, run_dir, resume=False)
                wall = time.perf_counter() - start
            rows.append({"method": method, "taser": taser, "wall_s": wall, "clean_acc": result["clean_acc"],
                         "ms_per_sample": result["ms_per_sample"],
                         "ms_per_sample_without_penalty": result["ms_per_sample_without_penalty"],
                         "epochs": result["epochs"], "device": result["device"]})
            print(json.dumps(rows[-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"preset": "digits-cpu", "threads": args.threads, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
