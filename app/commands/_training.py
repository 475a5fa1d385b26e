"""Shared pieces of `taser train` and `taser finetune`: flags, the console callbacks, errors."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from taser_engine.callbacks import Callbacks
from taser_engine.checkpoints import CheckpointError, atomic_write_json
from taser_engine.datasets import DATASETS
from taser_engine.objectives import METHODS
from taser_engine.penalty import SteinPenaltyConfig
from taser_engine.training import PRESETS, RunMismatchError, format_errors

# flag dest -> config field, for flags whose names differ from the field
FIELD_OF = {"lambda_": "taser_lambda", "steps": "num_steps"}
PENALTY_FLAGS = {"probe": "probe", "laplacian": "laplacian", "penalty_method": "method",
                 "num_probes": "num_probes", "penalty_fraction": "fraction"}


def add_common_flags(p) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="starting values (default: digits-cpu for digits/mnist, paper-cifar10 for cifar10)")
    p.add_argument("--config", type=Path, help="a JSON config file; flags given override it")
    p.add_argument("--dataset", choices=sorted(DATASETS))
    p.add_argument("--data-root", help="local CIFAR-10/MNIST root in torchvision's layout")
    p.add_argument("--download", action="store_true", default=None, help="fetch the dataset (online machines)")
    p.add_argument("--method", choices=METHODS, help="base objective")
    p.add_argument("--score-model", help="'gaussian' (fitted to the training set) or a diffusers score-model directory")
    p.add_argument("--score-timestep", type=int, help="diffusion timestep τ (default 50)")
    p.add_argument("--score-cache", metavar="auto|off|PATH",
                   help="diffusion scores: 'auto' (default: computed once, kept beside the score model, "
                        "reused), 'off' (live at every step) or a .safetensors cache file")
    p.add_argument("--lambda", dest="lambda_", type=float, help="λ_max of the TASER penalty (default 1)")
    p.add_argument("--probe", choices=["margin", "logit", "softmax"])
    p.add_argument("--laplacian", choices=["none", "hutchinson", "exact"])
    p.add_argument("--penalty-method", choices=["jvp", "autograd", "fd"])
    p.add_argument("--num-probes", type=int)
    p.add_argument("--penalty-fraction", type=float, metavar="F",
                   help="share of each batch the penalty uses (default 1; 0.5 halves its cost)")
    p.add_argument("--freeze-batchnorm", action="store_true", default=None,
                   help="BatchNorm keeps its running statistics (usual for fine-tuning); with a standard "
                        "base loss the penalty's forward then serves it too")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epsilon", type=float, help="L∞ budget (default: the dataset's)")
    p.add_argument("--steps", type=int, help="PGD steps of the inner attack (default 10)")
    p.add_argument("--step-size", type=float, help="PGD step (default ε/4)")
    p.add_argument("--beta", type=float, help="TRADES β (default 6)")
    p.add_argument("--trades-forwards", choices=["official", "two"],
                   help="TRADES/TRADES-AWP: 'official' (default; three train-mode forwards, the official "
                        "BatchNorm statistics) or 'two' (one forward cheaper)")
    p.add_argument("--lambda-mart", type=float, help="MART λ (default 5)")
    p.add_argument("--awp-gamma", type=float, help="AWP γ (default 0.005)")
    p.add_argument("--awp-warmup", type=int, help="first epoch with AWP (default 10)")
    p.add_argument("--max-train-samples", type=int)
    p.add_argument("--max-test-samples", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--amp", action="store_true", default=None, help="bfloat16 autocast on CUDA")
    p.add_argument("--cpu-threads", type=int, help="torch threads on the CPU (digits-cpu preset: 1)")
    p.add_argument("--checkpoint-every-steps", type=int)
    p.add_argument("--gpus", type=int, help="data-parallel processes through torchrun (GPUs on CUDA, "
                                            "CPU processes otherwise; default 1)")
    p.add_argument("--out", required=True, type=Path, help="run directory")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--no-resume", action="store_true", help="start over even if RUN_DIR holds a checkpoint")
    p.add_argument("--quiet", action="store_true")


def overrides_from(args, own_fields: tuple[str, ...]) -> dict:
    """Config fields from the flags that were given (None = not given)."""
    names = ("dataset", "data_root", "download", "method", "score_model", "score_timestep", "score_cache", "lambda_",
             "epochs", "batch_size", "epsilon", "steps", "step_size", "beta", "trades_forwards", "lambda_mart", "awp_gamma",
             "awp_warmup", "max_train_samples", "max_test_samples", "seed", "device", "amp",
             "cpu_threads", "checkpoint_every_steps", "gpus", "freeze_batchnorm") + own_fields
    values = {FIELD_OF.get(n, n): getattr(args, n) for n in names}
    if args.config is not None:
        from app.commands._args import read_json_object

        values = {**read_json_object(args.config), **{k: v for k, v in values.items() if v is not None}}
    penalty = {field: getattr(args, flag) for flag, field in PENALTY_FLAGS.items() if getattr(args, flag) is not None}
    if penalty:
        base = values.get("penalty") or SteinPenaltyConfig().model_dump()
        values["penalty"] = {**base, **penalty}
    return {k: v for k, v in values.items() if v is not None}


def default_preset(args, dataset: str | None) -> str:
    if args.preset:
        return args.preset
    return "paper-cifar10" if dataset == "cifar10" else "digits-cpu"


def _user_error(message: str) -> Exception:
    from app.cli import UserError

    return UserError(message)


def build_config(factory, preset: str, overrides: dict):
    try:
        config = factory(preset, **overrides)
        config.check_inputs_exist()
        return config
    except ValidationError as exc:
        raise _user_error(format_errors(exc)) from exc
    except ValueError as exc:
        raise _user_error(str(exc)) from exc


def run_engine(fn, config, args) -> int:
    console = ConsoleCallbacks(quiet=args.quiet)
    try:
        with stop_on_sigint(console):
            result = _run_here_or_data_parallel(fn, config, console, args)
    except (RunMismatchError, CheckpointError, FileNotFoundError) as exc:
        raise _user_error(str(exc)) from exc
    except ValueError as exc:
        raise _user_error(str(exc)) from exc
    if args.json:
        atomic_write_json(args.json, result)
    if result["stopped"]:
        print(f"stopped at step {result['steps']}/{result['steps_planned']}; run the same command to resume",
              file=sys.stderr)
        return 130
    if not args.quiet:
        print(f"clean_acc {result['clean_acc']:.4f}  {result['ms_per_sample']:.3f} ms/sample "
              f"({result['ms_per_sample_without_penalty']:.3f} without the penalty)  -> {args.out}")
    return 0


def _run_here_or_data_parallel(fn, config, console: Callbacks, args) -> dict:
    if config.gpus == 1:
        return fn(config, console, args.out, resume=not args.no_resume)
    from app.distributed_train import launch
    from app.jobs import JobError

    if args.no_resume:
        raise _user_error("--no-resume is not supported with --gpus > 1; use a new --out directory")
    try:
        return launch(config.kind, config, console, args.out)
    except JobError as exc:
        raise _user_error(str(exc)) from exc


class ConsoleCallbacks(Callbacks):
    """Epoch lines on stderr; Ctrl-C asks the loop to checkpoint and stop (a second one kills)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.interrupted = False

    def on_metrics(self, step: int, metrics: dict[str, float], scope: str = "step") -> None:
        if scope != "epoch" or self.quiet:
            return
        keys = ("loss/base", "loss/kl", "loss/taser", "train_acc", "clean_acc")
        shown = "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics)
        print(f"epoch {int(metrics['epoch'])}  step {step}  {shown}", file=sys.stderr, flush=True)

    def should_stop(self) -> bool:
        return self.interrupted


@contextlib.contextmanager
def stop_on_sigint(console: ConsoleCallbacks):
    """First Ctrl-C: ask the loop to checkpoint and stop; second: the usual KeyboardInterrupt."""
    def on_sigint(signum, frame):
        if console.interrupted:
            raise KeyboardInterrupt
        console.interrupted = True
        print("interrupt: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: leave SIGINT alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
