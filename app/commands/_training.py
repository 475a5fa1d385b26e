"""Shared pieces of `taser train` and `taser finetune`: the command flags beside the config's,
the console callbacks, errors."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from app.commands._flags import ConfigFlags
from taser_engine.callbacks import Callbacks
from taser_engine.checkpoints import CheckpointError, atomic_write_json
from taser_engine.datasets import DATASETS
from taser_engine.training import PRESETS, RunMismatchError, TrainConfig, format_errors

def add_common_flags(p, config_flags: ConfigFlags) -> None:
    """The config's own flags (one per field, from the config) and the command's flags."""
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="starting values (default: the dataset's own preset: digits-cpu for digits/mnist, "
                        "paper-cifar10 for cifar10)")
    p.add_argument("--config", type=Path, help="a JSON config file; flags given override it")
    config_flags.add_to(p)
    p.add_argument("--out", required=True, type=Path, help="run directory")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--no-resume", action="store_true", help="start over even if RUN_DIR holds a checkpoint")
    p.add_argument("--quiet", action="store_true")


def overrides_from(args, config_flags: ConfigFlags) -> dict:
    """Config fields from the config file and the flags that were given (flags win)."""
    base = {}
    if args.config is not None:
        from app.commands._args import read_json_object

        base = read_json_object(args.config)
    return {k: v for k, v in config_flags.overrides(args, base).items() if v is not None}


def default_preset(args, dataset: str | None) -> str:
    """The preset given, else the dataset's own (`DatasetInfo.default_preset`). Without a
    dataset, or with an unknown one (the config's validation then names it), the configs' default
    dataset's."""
    if args.preset:
        return args.preset
    if dataset not in DATASETS:
        dataset = TrainConfig.model_fields["dataset"].default
    return DATASETS.get(dataset).default_preset


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
