"""`taser score-model`: train, calibrate, check and cache diffusion score models (paper C.4).

    taser score-model train --dataset digits --epochs N --out DIR [--json PATH]
    taser score-model calibrate DIR --dataset digits [--timesteps 25,50,100]
    taser score-model check DIR --dataset digits [--classifier RUN_DIR] [--json PATH]
    taser score-model toy [--density mixture2d|gaussian2d] [--json PATH]
    taser score-model cache DIR --dataset digits --out FILE.safetensors [--json PATH]

DIR is a diffusers directory (UNet2DModel + DDPMScheduler side by side, or a pipeline with unet/
and scheduler/), or for `check`/`cache` also a hub id such as google/ddpm-cifar10-32.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.commands._args import int_in
from app.commands._flags import ConfigFlags
from taser_engine.callbacks import Callbacks
from taser_engine.fields import MAX_SAMPLES, MAX_SEED, MAX_TIMESTEPS, format_errors
from taser_engine.scores.train_config import ScoreData, ScoreModelTrainConfig

TIMESTEP = int_in(0, MAX_TIMESTEPS)
SAMPLES = int_in(1, MAX_SAMPLES)
SEED = int_in(0, MAX_SEED)
TRAIN_FLAGS = ConfigFlags(ScoreModelTrainConfig)
DATA_FLAGS = ConfigFlags(ScoreData)


# Each action declares its own flags: the parsers are alike in shape only (as in bench.py), and a
# shared builder would hide which command takes which flag.
def register(subparsers) -> None:
    p = subparsers.add_parser("score-model", help="train, calibrate, check and cache diffusion score models")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    t = sub.add_parser("train", help="train a UNet2DModel + DDPMScheduler score model with EMA")
    TRAIN_FLAGS.add_to(t)
    t.add_argument("--out", required=True, help="output directory (diffusers format)")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    t.add_argument("--calibrate-timesteps", default="10,25,50,100,150",
                   help="timesteps whose score std is recorded for normalisation ('' to skip)")
    t.add_argument("--json", default=None)
    t.set_defaults(handler=train)

    c = sub.add_parser("calibrate", help="estimate the score-normalisation constants c_t and record them in DIR")
    c.add_argument("model")
    DATA_FLAGS.add_to(c)
    c.add_argument("--timesteps", default="10,25,50,100,150")
    c.add_argument("--num-samples", type=SAMPLES, default=512)
    c.add_argument("--json", default=None)
    c.set_defaults(handler=calibrate)

    k = sub.add_parser("check", help="quality checks: held-out loss, Stein identity, flip equivariance, alignment")
    k.add_argument("model")
    DATA_FLAGS.add_to(k)
    k.add_argument("--timestep", type=TIMESTEP, default=50)
    k.add_argument("--num-samples", type=SAMPLES, default=256)
    k.add_argument("--classifier", default=None, help="run directory of a classifier for alignment diagnostics")
    k.add_argument("--seed", type=SEED, default=0)
    k.add_argument("--json", default=None)
    k.set_defaults(handler=check)

    y = sub.add_parser("toy", help="train on a known 2D density and compare with its analytic score")
    y.add_argument("--density", choices=("mixture2d", "gaussian2d"), default="mixture2d")
    y.add_argument("--epochs", type=int, default=60)
    y.add_argument("--timestep", type=TIMESTEP, default=50)
    y.add_argument("--seed", type=SEED, default=0)
    y.add_argument("--json", default=None)
    y.set_defaults(handler=toy)

    a = sub.add_parser("cache", help="precompute the scores of a dataset split (float16 safetensors)")
    a.add_argument("model")
    DATA_FLAGS.add_to(a)
    a.add_argument("--split", choices=("train", "test"), default="train")
    a.add_argument("--out", required=True, help="cache file (.safetensors)")
    a.add_argument("--timestep", type=TIMESTEP, default=50)
    a.add_argument("--normalise", action="store_true", help="apply c_t (needs calibrated constants)")
    a.add_argument("--flip-symmetrise", action="store_true",
                   help="store ½(s(x) + F s(Fx)) so flipped lookups are exact (2× build cost)")
    a.add_argument("--crop-padding", type=int_in(0, 64), default=0, help="also measure the error of shifted lookups")
    a.add_argument("--json", default=None)
    a.set_defaults(handler=cache)


# -- helpers ---------------------------------------------------------------------------------

def _user_error(message: str):
    from app.cli import UserError

    return UserError(message)


def _integers(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise _user_error(f"expected comma-separated integers, got {text[:40]!r}") from None
    if len(values) > 64:  # a handful of timesteps or UNet levels
        raise _user_error(f"expected at most 64 integers, got {len(values)}")
    return values


def _timesteps(text: str) -> list[int]:
    values = _integers(text)
    if any(not 0 <= t <= MAX_TIMESTEPS for t in values):
        raise _user_error(f"timesteps run from 0 to {MAX_TIMESTEPS}, got {text[:40]!r}")
    return values


def _data(args) -> ScoreData:
    try:
        return ScoreData(**DATA_FLAGS.overrides(args))
    except ValidationError as exc:
        raise _user_error(format_errors(exc)) from None


def _images(dataset: str, split: str, root: str | None):
    from taser_engine.datasets import load_dataset

    try:
        return load_dataset(dataset, split, root).tensors
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise _user_error(str(exc)) from None


def _load_source(model: str, timestep: int, **kwargs):
    from taser_engine.scores import ScoreModelError, load_score_source

    try:
        return load_score_source(model, timestep, **kwargs)
    except ScoreModelError as exc:
        raise _user_error(str(exc)) from None


def _write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True, default=float))
        print(f"wrote {path}")


class _PrintProgress(Callbacks):
    """Callbacks printing one line per epoch to stderr."""

    def on_metrics(self, step, metrics):
        if "epoch" in metrics:
            print(f"epoch {int(metrics['epoch'])}: train_loss {metrics['train_loss']:.4f} "
                  f"lr {metrics['lr']:.2e} ({metrics['wall_s']:.0f} s)", file=sys.stderr, flush=True)


# -- actions ---------------------------------------------------------------------------------

def train(args) -> int:
    from taser_engine.scores.diffusion import calibrate_normalisation, load_score_source
    from taser_engine.scores.training import train_score_model

    try:
        config = ScoreModelTrainConfig(**TRAIN_FLAGS.overrides(args))
    except ValidationError as exc:
        raise _user_error(format_errors(exc)) from None
    try:
        result = train_score_model(config, args.out, _PrintProgress(), resume=args.resume)
    except ValueError as exc:
        raise _user_error(str(exc)) from None
    payload: dict[str, Any] = {"out": args.out, "dataset": config.dataset, "epochs": result.epochs_done,
                               "heldout_loss_timesteps": [0, config.max_train_timestep],
                               "steps": result.steps, "stopped_early": result.stopped_early, **result.metrics}
    steps = [t for t in _timesteps(args.calibrate_timesteps) if t < config.num_train_timesteps]
    if steps:
        images, _ = _images(config.dataset, "train", config.data_root)
        source = load_score_source(args.out, device=config.device)
        normalisation = calibrate_normalisation(source, images[:512], steps,
                                                description={"dataset": config.dataset, "split": "train"})
        normalisation.save(args.out)
        payload["score_std"] = normalisation.to_json()["score_std"]
    print(f"saved {args.out}: heldout_loss {payload['heldout_loss']:.4f}, "
          f"heldout_loss_t{config.heldout_timestep} {payload[f'heldout_loss_t{config.heldout_timestep}']:.4f}, "
          f"{payload['wall_s']:.0f} s")
    _write_json(args.json, payload)
    return 0


def calibrate(args) -> int:
    from taser_engine.scores.diffusion import calibrate_normalisation

    source = _load_source(args.model, 50)
    if not Path(args.model).is_dir():
        raise _user_error("calibrate writes its constants into the model directory; pass a local directory")
    data = _data(args)
    images, _ = _images(data.dataset, "train", data.data_root)
    normalisation = calibrate_normalisation(source, images[: args.num_samples], _timesteps(args.timesteps),
                                            description={"dataset": data.dataset, "split": "train"})
    path = normalisation.save(args.model)
    for t, std in sorted(normalisation.score_std.items()):
        print(f"t={t:4d}  score std {std:9.4f}  c_t {normalisation.factor(t):.4f}")
    print(f"wrote {path}")
    _write_json(args.json, normalisation.to_json())
    return 0


def check(args) -> int:
    from taser_engine.scores import quality

    source = _load_source(args.model, args.timestep)
    data = _data(args)
    images, labels = _images(data.dataset, "test", data.data_root)
    images, labels = images[: args.num_samples], labels[: args.num_samples]
    record = Path(args.model) / "taser_training.json"
    max_t = json.loads(record.read_text())["config"].get("max_train_timestep") if record.is_file() else None
    payload: dict[str, Any] = {"model": args.model, "dataset": data.dataset, "timestep": args.timestep,
                               "num_samples": int(images.shape[0]), **source.describe()}
    payload.update(quality.heldout_denoising_loss(source, images, max_t, args.seed))
    train_images, _ = _images(data.dataset, "train", data.data_root)
    payload[f"heldout_loss_t{args.timestep}_linear_baseline"] = quality.gaussian_baseline_loss(
        source, train_images, images, args.seed)
    s = source(images)
    payload["score_rms"] = s.pow(2).mean().sqrt().item()
    if images.dim() == 4:
        payload.update(quality.flip_equivariance_error(source, images))
    payload["stein"] = quality.stein_identity_check(source, images, seed=args.seed)
    if args.classifier:
        from taser_engine.checkpoints import CheckpointError, load_model

        try:
            classifier = load_model(Path(args.classifier))
        except CheckpointError as exc:
            raise _user_error(str(exc)) from None
        report = quality.alignment_report(classifier, images, labels, s)
        payload["alignment"] = report.summary
        payload["alignment_arrays"] = {k: v.tolist() for k, v in report.arrays.items()}
    _print_check(payload)
    _write_json(args.json, payload)
    return 0


def _print_check(payload: dict[str, Any]) -> None:
    t = payload["timestep"]
    print(f"held-out denoising loss {payload['heldout_loss']:.4f} (at t={t}: {payload[f'heldout_loss_t{t}']:.4f}, "
          f"best linear denoiser {payload[f'heldout_loss_t{t}_linear_baseline']:.4f}, zero prediction 1.0); "
          f"score rms {payload['score_rms']:.3f}")
    if "flip_rel_error_mean" in payload:
        print(f"flip equivariance error ‖s(Fx) − F s(x)‖/‖s‖: {payload['flip_rel_error_mean']:.4f} "
              "(small only for flip-invariant data such as CIFAR-10; use `cache --flip-symmetrise` there)")
    for where, results in payload["stein"].items():
        worst = max(results.values(), key=lambda r: abs(r["z"]))
        print(f"Stein identity ({where} inputs): max |z| {abs(worst['z']):.2f}, "
              f"quadratic E[Lf] {results['quadratic']['mean']:.3f} ± {results['quadratic']['stderr']:.3f}")
    if "alignment" in payload:
        a = payload["alignment"]
        print(f"alignment: cosine(s, ∇f) mean {a['cosine_mean']:.3f}, |sᵀ∇f| mean {a['abs_directional_mean']:.3f}, "
              f"‖∇f‖ mean {a['grad_norm_mean']:.3f}")


def toy(args) -> int:
    import torch

    from taser_engine.scores import DiffusionScore, GaussianMixtureScore
    from taser_engine.scores import quality
    from taser_engine.scores.training import train_vector_denoiser

    if args.density == "mixture2d":
        density = quality.default_mixture_2d()
    else:
        density = GaussianMixtureScore(torch.tensor([[0.3, -0.2]]), torch.tensor([[[0.3, 0.1], [0.1, 0.1]]]))
    gen = torch.Generator().manual_seed(args.seed)
    train_x, heldout_x = density.sample(4096, gen).float(), density.sample(1024, gen).float()
    try:
        config = ScoreModelTrainConfig(epochs=args.epochs, batch_size=256, warmup_steps=20, seed=args.seed)
    except ValidationError as exc:
        raise _user_error(format_errors(exc)) from None
    started = time.perf_counter()
    model, scheduler, result = train_vector_denoiser(train_x, heldout_x, config, hidden=128)
    source = DiffusionScore(model, scheduler, args.timestep, data_scale=1.0, data_shift=0.0)
    payload = {"density": args.density, "timestep": args.timestep, "epochs": args.epochs,
               "train_wall_s": time.perf_counter() - started, **result.metrics,
               **quality.analytic_comparison(source, density, 4096, args.seed),
               "stein": quality.stein_identity_check(source, heldout_x[:512], seed=args.seed)}
    print(f"{args.density} at t={args.timestep}: learned score cosine {payload['learned_cosine_mean']:.3f}, "
          f"relative error {payload['learned_relative_error']:.3f} (Gaussian fit: cosine "
          f"{payload['gaussian_fit_cosine_mean']:.3f}, relative error {payload['gaussian_fit_relative_error']:.3f}; "
          f"zero score: 1.000)")
    _write_json(args.json, payload)
    return 0


def cache(args) -> int:
    import torch

    from taser_engine.scores.cache import ScoreCache, augmentation_error, fp16_error, measure_saving

    source = _load_source(args.model, args.timestep, normalise=args.normalise, flip_symmetrise=args.flip_symmetrise)
    data = _data(args)
    images, _ = _images(data.dataset, args.split, data.data_root)
    built = ScoreCache.build(source, images, meta={"model": args.model, "dataset": data.dataset, "split": args.split})
    built.save(args.out)
    probe = torch.arange(min(256, len(built)))
    payload: dict[str, Any] = {"out": args.out, "num_samples": len(built), "build_wall_s": built.meta["build_wall_s"],
                               **fp16_error(source, built, images, probe), **measure_saving(source, built, images)}
    if images.dim() == 4:
        payload["flip"] = augmentation_error(source, built, images, probe, hflip=True)
        if args.crop_padding:
            payload["crop"] = augmentation_error(source, built, images, probe, hflip=False,
                                                 crop_padding=args.crop_padding)
    print(f"cached {len(built)} scores in {args.out} ({built.nbytes / 2**20:.2f} MiB float16, "
          f"built in {payload['build_wall_s']:.1f} s); lookup {payload['cached_ms_per_sample']:.4f} ms/sample vs "
          f"direct {payload['direct_ms_per_sample']:.3f} ms/sample ({payload['speedup']:.0f}×)")
    if "flip" in payload:
        print(f"flipped lookup vs score of flipped image: relative error {payload['flip']['rel_error_mean']:.4f}")
    _write_json(args.json, payload)
    return 0
