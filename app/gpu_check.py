"""`make gpu-check`: everything the CPU never exercises, in one command on a machine with CUDA.

Steps (each timed; a failing step is recorded and the next one still runs):
1. the `gpu`-marked tests;
2. the whole-step benchmark (`taser bench train-step`) on CUDA;
3. the penalty overhead benchmark on CUDA with BatchNorm in train and frozen mode;
4. a 2-epoch ResNet-18 TASER + TRADES training on a synthetic CIFAR-10 written in torchvision's
   on-disk layout (so the real loader reads it), with a diffusion score model of the
   `google/ddpm-cifar10-32` architecture and the score cache built on the GPU;
5. AutoAttack on 200 test points of that model.
Every step's JSON goes under `GPU_CHECK_OUT` (default `var/gpu-check`), with `summary.json` and a
one-page `summary.md`.

The lent GPU machines are bare and offline: their own Python and PyTorch, without pydantic,
diffusers or pyautoattack. `make gpu-wheels` downloads those wheels here (`var/gpu-wheels`, carried
with the working tree); `install_missing_wheels` installs the ones whose module is missing, with
`pip --no-index --no-deps`. The database, the dashboard and the worker are not needed: the steps call
the engine directly.

`--smoke` shrinks every step to seconds on the CPU; the test suite runs it so this file cannot rot.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

WHEEL_DIR = Path("var/gpu-wheels")
# module -> distribution, for what the engine imports and a bare CUDA machine may lack
NEEDED_MODULES = {"pydantic": "pydantic", "pydantic_core": "pydantic_core", "annotated_types": "annotated_types",
                  "typing_inspection": "typing_inspection", "typing_extensions": "typing_extensions",
                  "diffusers": "diffusers", "importlib_metadata": "importlib_metadata", "zipp": "zipp",
                  "regex": "regex", "filelock": "filelock", "requests": "requests", "PIL": "pillow",
                  "pyautoattack": "pyautoattack", "certifi": "certifi", "idna": "idna", "urllib3": "urllib3",
                  "charset_normalizer": "charset_normalizer"}


def install_missing_wheels(wheel_dir: Path = WHEEL_DIR) -> list[str]:
    """pip-install, from `wheel_dir` only, the distributions whose module cannot be imported."""
    missing = sorted({dist for module, dist in NEEDED_MODULES.items() if importlib.util.find_spec(module) is None})
    if not missing:
        return []
    wheels = [str(w) for w in sorted(wheel_dir.glob("*.whl"))
              if w.name.split("-")[0].lower().replace("-", "_") in {m.lower() for m in missing}]
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", *wheels],
                       check=True)
    importlib.invalidate_caches()
    return missing


# Files of a wheel that the check never imports and that would not fit the 64 MiB carried to the
# machine: pyautoattack ships a 45 MB example model.
WHEEL_EXTRAS = {"pyautoattack": ("pyautoattack/examples/",)}


def slim_wheels(wheel_dir: Path = WHEEL_DIR) -> None:
    """Rewrite the wheels listed in WHEEL_EXTRAS without those files (RECORD rewritten to match)."""
    import base64
    import hashlib
    import zipfile

    for wheel in wheel_dir.glob("*.whl"):
        drop = WHEEL_EXTRAS.get(wheel.name.split("-")[0].lower())
        if not drop:
            continue
        with zipfile.ZipFile(wheel) as source:
            kept = {i.filename: source.read(i) for i in source.infolist() if not i.filename.startswith(drop)}
        if len(kept) == len(zipfile.ZipFile(wheel).namelist()):
            continue
        record_name = next(n for n in kept if n.endswith(".dist-info/RECORD"))
        rows = []
        for name, data in kept.items():
            if name == record_name:
                continue
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={digest},{len(data)}")
        kept[record_name] = ("\n".join(rows + [f"{record_name},,"]) + "\n").encode()
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as target:
            for name, data in kept.items():
                target.writestr(name, data)


def write_synthetic_cifar10(root: Path, train_per_batch: int, test: int, seed: int = 0) -> Path:
    """CIFAR-10 in torchvision's layout (`cifar-10-batches-py/data_batch_1..5`, `test_batch`).

    Images are class-dependent colour blobs plus noise, so a classifier has something to learn;
    written as the original pickles (dicts of uint8 `data` (N, 3072) and `labels`).
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = rng.uniform(0, 255, size=(10, 3))

    def batch(n: int) -> dict:
        labels = rng.integers(0, 10, size=n)
        base = palette[labels][:, :, None, None] * np.ones((n, 3, 32, 32))
        images = np.clip(base + rng.normal(0, 40, size=base.shape), 0, 255).astype(np.uint8)
        return {"data": images.reshape(n, 3072), "labels": labels.tolist(), "batch_label": "synthetic"}

    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(train_per_batch)))
    (folder / "test_batch").write_bytes(pickle.dumps(batch(test)))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class {i}" for i in range(10)]}))
    return root


def save_score_model(directory: Path, smoke: bool) -> Path:
    """A random-weight UNet of the ddpm-cifar10-32 architecture (smaller under --smoke), saved as
    diffusers saves one, so the product's loader reads it."""
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    from taser_engine.train_step_bench import DDPM_CIFAR10_UNET

    torch.manual_seed(0)
    arch = dict(DDPM_CIFAR10_UNET, block_out_channels=(32, 32, 32, 32), norm_num_groups=8) if smoke else DDPM_CIFAR10_UNET
    UNet2DModel(**arch).save_pretrained(directory)
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(directory)
    return directory


class _Steps:
    def __init__(self, out: Path):
        self.out = out
        self.records: list[dict] = []

    def run(self, name: str, fn) -> object:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            value = fn()
            record = {"step": name, "ok": True, "wall_s": time.perf_counter() - started}
        except Exception as exc:  # noqa: BLE001 - a failed step is reported, the others still run
            traceback.print_exc()
            value, record = None, {"step": name, "ok": False, "wall_s": time.perf_counter() - started,
                                   "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        self.records.append(record)
        return value


def _write(path: Path, payload: dict) -> dict:
    path.write_text(json.dumps(payload, indent=2, default=str))
    return payload


def _gpu_tests(out: Path) -> dict:
    report = out / "gpu-tests.txt"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests/test_gpu.py"],
                          capture_output=True, text=True)
    report.write_text(proc.stdout + proc.stderr)
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or [""]
    if proc.returncode not in (0, 5):  # 5: no test collected (no gpu tests selected)
        raise RuntimeError(f"gpu tests failed: {tail[0]}")
    return _write(out / "gpu-tests.json", {"returncode": proc.returncode, "summary": tail[0]})


def _train_step_bench(out: Path, device: str, smoke: bool) -> dict:
    from taser_engine.train_step_bench import TrainStepBenchConfig, run_train_step_bench

    config = (TrainStepBenchConfig(models=["small_cnn"], methods=["standard"], devices=[device],
                                   laplacians=["none"], repeats=1, warmup=0, digits_batch_size=16) if smoke
              else TrainStepBenchConfig(devices=[device], methods=["standard", "pgd", "trades", "mart", "trades-awp"]))
    return _write(out / "train-step.json", run_train_step_bench(config))


def _overhead_bench(out: Path, device: str, smoke: bool) -> dict:
    from taser_engine.overhead import OverheadConfig, run_overhead

    config = (OverheadConfig(models=["small_cnn"], devices=[device], methods=["jvp"], laplacians=["none"],
                             batchnorm=["train", "frozen"], repeats=1, warmup=0) if smoke
              else OverheadConfig(devices=[device], batchnorm=["train", "frozen"]))
    return _write(out / "overhead.json", run_overhead(config))


def _train(out: Path, device: str, smoke: bool, data_root: Path, score_dir: Path) -> dict:
    from taser_engine.penalty import SteinPenaltyConfig
    from taser_engine.training.config import TrainConfig
    from taser_engine.training.loop import train

    config = TrainConfig(dataset="cifar10", data_root=str(data_root), arch="resnet18", width=8 if smoke else 64,
                         method="trades", num_steps=1 if smoke else 10, taser=True, score_model=str(score_dir),
                         taser_lambda=0.03, penalty=SteinPenaltyConfig(laplacian="none"), epochs=2,
                         batch_size=16 if smoke else 128, device=device, seed=0,
                         max_train_samples=32 if smoke else None, max_test_samples=16 if smoke else None)
    return _write(out / "train.json", train(config, run_dir=out / "train-run"))


def _autoattack(out: Path, device: str, smoke: bool, data_root: Path) -> dict:
    import torch

    from taser_engine.checkpoints import load_model
    from taser_engine.evaluation.config import EvaluationConfig
    from taser_engine.evaluation.runner import evaluate_model
    from taser_engine.evaluation.subset import evaluation_subset

    model = load_model(out / "train-run").to(torch.device(device))
    n = 8 if smoke else 200
    config = EvaluationConfig(dataset="cifar10", n_eval=n, attacks=["apgd_ce"] if smoke else ["autoattack"],
                              apgd_n_iter=2 if smoke else 100)
    result = evaluate_model(model, config, subset=evaluation_subset("cifar10", n, root=str(data_root)))
    return _write(out / "autoattack.json", {"clean_acc": result.clean_acc, "robust": result.robust,
                                            "n": n, "wall_s": result.wall_s})


def summary_markdown(records: list[dict], results: dict) -> str:
    """One page: each step's outcome and time, then the figures a reader looks for."""
    lines = ["# TASER Studio GPU check", "", f"device: {results.get('device', '?')}", "",
             "| step | ok | wall s | note |", "|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['step']} | {'yes' if r['ok'] else 'NO'} | {r['wall_s']:.1f} | {r.get('error', '')} |")
    bench = results.get("train-step")
    if bench:
        lines += ["", "## Whole training step, ratio to the same method without TASER (median, min–max)", "",
                  "| model | method | score | laplacian | ms/sample | ratio | paper |", "|---|---|---|---|---|---|---|"]
        for row in bench["rows"]:
            if row["score"] == "none":
                continue
            paper = f"×{row['paper_ratio']:.2f}" if row.get("paper_ratio") else ""
            lines.append(f"| {row['model']} | {row['method']} | {row['score']} | {row['laplacian']} | "
                         f"{row['ms_per_sample']:.4f} | ×{row['ratio']:.2f} ({row['ratio_min']:.2f}–{row['ratio_max']:.2f}) | {paper} |")
    trained = results.get("train")
    if trained:
        score = trained.get("score", {})
        lines += ["", "## ResNet-18 TASER + TRADES, 2 epochs, synthetic CIFAR-10", "",
                  f"clean acc {trained['clean_acc']:.3f}; {trained['ms_per_sample']:.4f} ms/sample "
                  f"({trained['ms_per_sample_without_penalty']:.4f} without the penalty); "
                  f"score cache {score.get('cache')} (built in {score.get('cache_build_wall_s') or 0:.1f} s, "
                  f"float16 error max {score.get('cache_fp16_rel_error_max', float('nan')):.2e})"]
    attacked = results.get("autoattack")
    if attacked:
        lines += ["", f"AutoAttack on {attacked['n']} points: clean {attacked['clean_acc']:.3f}, "
                      f"robust {json.dumps(attacked['robust'])}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("GPU_CHECK_OUT", "var/gpu-check")))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="every step in seconds (CPU test of this script)")
    parser.add_argument("--skip-tests", action="store_true", help="leave out the gpu-marked tests")
    parser.add_argument("--slim-wheels", action="store_true", help="only strip WHEEL_EXTRAS from var/gpu-wheels")
    args = parser.parse_args(argv)
    if args.slim_wheels:
        slim_wheels()
        return 0
    started = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    missing = install_missing_wheels()
    if missing:
        print(f"installed from {WHEEL_DIR}: {', '.join(missing)}", flush=True)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-check: CUDA is not available on this machine", file=sys.stderr)
        return 2
    steps, results = _Steps(out), {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
                                   "torch": torch.__version__}
    if not args.skip_tests:
        steps.run("gpu tests", lambda: _gpu_tests(out))
    results["train-step"] = steps.run("bench train-step", lambda: _train_step_bench(out, args.device, args.smoke))
    results["overhead"] = steps.run("bench overhead", lambda: _overhead_bench(out, args.device, args.smoke))
    data_root = write_synthetic_cifar10(out / "cifar10", 8 if args.smoke else 1000, 16 if args.smoke else 1000)
    score_dir = save_score_model(out / "score-model", args.smoke)
    results["train"] = steps.run("train resnet18 trades+taser", lambda: _train(out, args.device, args.smoke,
                                                                              data_root, score_dir))
    if results["train"] is not None:
        results["autoattack"] = steps.run("autoattack", lambda: _autoattack(out, args.device, args.smoke, data_root))
    results["wall_s"] = time.perf_counter() - started
    _write(out / "summary.json", {"steps": steps.records, "device": results["device"], "torch": results["torch"],
                                  "wall_s": results["wall_s"]})
    (out / "summary.md").write_text(summary_markdown(steps.records, results))
    print((out / "summary.md").read_text())
    return 0 if all(r["ok"] for r in steps.records) else 1


if __name__ == "__main__":
    sys.exit(main())
