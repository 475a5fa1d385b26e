"""The training loop: `train` (from scratch, eq. 25) and `finetune` (from a checkpoint, eq. 26).

One step: craft the base objective's adversarial input (eval mode), compute L_base in train mode
(plus α·KL(f_θ0 ‖ f_θ) when fine-tuning), backward; then, with TASER, the penalty on the CLEAN
batch (eval mode, see penalty.py) times λ(t), backward into the same gradients; optimiser step;
the objective's `after_step` (AWP restores its weights). The two backward passes are timed
separately, which gives the wall time per sample with and without the penalty.

Reproducible and resumable: the data order of each epoch is a permutation drawn from the seed
and the epoch; augmentation and attack/probe noise come from two generators whose states are
checkpointed; the learning rate and λ are functions of the step. So a run interrupted (or
cancelled through `should_stop`) and resumed ends with the same weights as one left alone.

Data-parallel (`config.gpus` > 1, run by `torchrun`; see distributed.py): every process takes its
shard of the same global batch; the base-loss forward goes through the DDP wrapper, the penalty
through the bare module (see `steppers.DataParallelStepper`); process 0 alone writes checkpoints,
the model and result.json, and reports progress and metrics (averaged over the processes).
The TASER penalty is computed per process on its shard: with batch centring, r̄ is the SHARD's
mean residual, and the global batch's penalty is the size-weighted mean of the shards' penalties
(with N processes, the same as one process taking the penalty on N sub-batches).
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import ValidationError
import torch
from torch import Tensor, nn

from taser_engine.callbacks import Callbacks
from taser_engine.atomic_files import atomic_write_json
from taser_engine.checkpoints import load_model, save_model
from taser_engine.datasets import dataset_info, load_dataset
from taser_engine.models import build_model
from taser_engine.objectives import Objective, build_objective
from taser_engine.schedules import warmup_cosine_lr
from taser_engine.training import distributed
from taser_engine.training.config import FinetuneConfig, TrainConfig, _RunConfig
from taser_engine.training.distributed import Ranks
from taser_engine.training.scores import RunScores, build_run_scores, fit_gaussian_score  # noqa: F401
from taser_engine.training.state import (TrainingState, has_checkpoint, read_checkpoint,
                                         restore_checkpoint, save_checkpoint)
from taser_engine.training.steppers import NonFiniteLossError, Stepper, build_stepper

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"


class RunMismatchError(ValueError):
    """The run directory holds a checkpoint of a different configuration."""


@dataclass
class _Setup:
    config: _RunConfig
    model: nn.Module
    teacher: nn.Module | None
    optimizer: torch.optim.Optimizer
    lr_at: Callable[[int, int], float]  # (step, total steps) -> learning rate
    objective: Objective
    scores: RunScores
    data: dict[str, Tensor]
    device: torch.device
    ranks: Ranks | None = None  # set when data-parallel
    ddp: nn.Module | None = None  # the DistributedDataParallel wrapper of `model`


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} asked for but CUDA is not available")
    return torch.device(name)


def _tensors(config: _RunConfig, split: str, limit: int | None) -> tuple[Tensor, Tensor]:
    x, y = load_dataset(config.dataset, split, config.data_root, config.download).tensors
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def load_data(config: _RunConfig) -> dict[str, Tensor]:
    """The run's train and test tensors, on the CPU (the score cache is keyed on these)."""
    train_x, train_y = _tensors(config, "train", config.max_train_samples)
    test_x, test_y = _tensors(config, "test", config.max_test_samples)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _to(data: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device) for k, v in data.items()}


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, processes: int = 1) -> list[Tensor]:
    """The epoch's global batches of indices; a last batch too small to give each of the
    `processes` at least 2 samples is dropped (BatchNorm, the penalty's variance)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    chunks = torch.randperm(n, generator=generator).split(batch_size)
    return [c for c in chunks if c.numel() >= 2 * processes]


@torch.no_grad()
def clean_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start:start + batch_size])
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum().item()
    model.train(was_training)
    return correct / max(1, x.shape[0])


def _as_floats(metrics: dict[str, Tensor | float]) -> dict[str, float]:
    """Host values of metrics (a device sync when some are CUDA tensors: call it rarely)."""
    keys = [k for k, v in metrics.items() if isinstance(v, Tensor)]
    values = torch.stack([metrics[k].detach().float().reshape(()) for k in keys]).tolist() if keys else []
    out = {k: float(v) for k, v in metrics.items() if not isinstance(v, Tensor)}
    out.update(zip(keys, values))
    return {k: out[k] for k in metrics}


def _accumulate(sums: dict, metrics: dict[str, Tensor | float]) -> None:
    """Add a step's metrics to the epoch's running sums (device tensors stay on the device)."""
    for key, value in metrics.items():
        value = value.detach() if isinstance(value, Tensor) else value
        sums[key] = sums.get(key, 0.0) + value
    sums["_count"] = sums.get("_count", 0.0) + 1


def _normalised(config_class: type[_RunConfig], stored: dict) -> dict:
    """A stored config as the current config class reads it: a field added since the run began
    (e.g. `method_params`) takes its default, so an old run still resumes under the same settings.
    A stored config the class rejects (a field removed since) is compared as stored, and the
    mismatch then names the fields that differ."""
    try:
        return config_class.model_validate(stored).model_dump(mode="json")
    except ValidationError:
        return stored


def _start_or_resume(setup: _Setup, run_dir: Path, resume: bool,
                     generators: dict[str, torch.Generator]) -> TrainingState:
    config_dump = setup.config.model_dump(mode="json")
    if resume and has_checkpoint(run_dir):
        checkpoint = read_checkpoint(run_dir)  # the newest readable one
        stored = _normalised(type(setup.config), checkpoint.config)
        if stored != config_dump:
            changed = sorted(k for k in set(stored) | set(config_dump) if stored.get(k) != config_dump.get(k))
            raise RunMismatchError(f"{run_dir} holds a run with a different config ({', '.join(changed)}); "
                                   "use another output directory or resume=False")
        suffix = setup.ranks.rng_suffix if setup.ranks else ""
        return restore_checkpoint(checkpoint, setup.model, setup.optimizer, generators, suffix)
    if setup.ranks is None or setup.ranks.is_main:
        atomic_write_json(run_dir / CONFIG_FILE, config_dump)
    return TrainingState()


class _OnlyStop(Callbacks):
    """What processes other than 0 of a data-parallel run tell their driver: nothing; they
    only listen for a stop request."""

    def __init__(self, inner: Callbacks):
        self.inner = inner

    def should_stop(self) -> bool:
        return self.inner.should_stop()


def _stop_requested(callbacks: Callbacks, ranks: Ranks | None) -> bool:
    """`should_stop`, agreed by all processes of a data-parallel run (so all stop at one step)."""
    asked = callbacks.should_stop()
    return asked if ranks is None else distributed.any_rank(asked, ranks)


def _epoch_summary(state: TrainingState, setup: _Setup, epoch: int) -> dict[str, float]:
    sums = _as_floats(state.epoch_sums)
    count = max(1.0, sums.get("_count", 0.0))
    summary = {k: v / count for k, v in sums.items() if not k.startswith("_")}
    data = setup.data
    summary["clean_acc"] = clean_accuracy(setup.model, data["test_x"], data["test_y"],
                                          setup.config.eval_batch_size)
    summary["epoch"] = float(epoch + 1)
    return summary


def make_generators(config: _RunConfig, device: torch.device, stream: int = 0) -> dict[str, torch.Generator]:
    """The run's augmentation and attack/probe-noise generators, on its device (CPU for `meta`,
    which has none), seeded from the config; `stream` separates data-parallel processes."""
    where = torch.device("cpu") if device.type == "meta" else device
    return {"augment": torch.Generator(where).manual_seed(config.seed + 1 + stream),
            "noise": torch.Generator(where).manual_seed(config.seed + 2 + stream)}


@contextlib.contextmanager
def _cpu_threads(config: _RunConfig, device: torch.device):
    """Tiny models on a shared CPU run faster on one thread than fighting over several."""
    if device.type != "cpu" or config.cpu_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(config.cpu_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit(setup: _Setup, callbacks: Callbacks | None, run_dir: Path, resume: bool) -> dict:
    with _cpu_threads(setup.config, setup.device):
        return _fit_loop(setup, callbacks, run_dir, resume)


def _fit_loop(setup: _Setup, callbacks: Callbacks | None, run_dir: Path, resume: bool) -> dict:
    callbacks = callbacks or Callbacks()
    ranks = setup.ranks
    if ranks is not None and not ranks.is_main:
        callbacks = _OnlyStop(callbacks)
    cfg, run_dir = setup.config, Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stream = 0 if ranks is None else ranks.rank * 10_007  # each process its own random stream
    generators = make_generators(cfg, setup.device, stream)
    n = setup.data["train_x"].shape[0]
    steps_per_epoch = len(epoch_batches(n, cfg.batch_size, cfg.seed, 0, cfg.gpus))
    total_steps = cfg.epochs * steps_per_epoch
    state = _start_or_resume(setup, run_dir, resume, generators)
    distributed.barrier(ranks)  # nobody starts before every process has read the checkpoint
    stepper = build_stepper(setup, total_steps, generators)
    config_dump = cfg.model_dump(mode="json")
    mark = time.perf_counter()
    saved_at = {"step": state.step if has_checkpoint(run_dir) else None}

    def checkpoint() -> None:
        nonlocal mark
        now = time.perf_counter()
        state.timing["wall_s"] = state.timing.get("wall_s", 0.0) + now - mark
        mark = now
        stepper.check_finite(state.step, state.epoch)
        if not all(torch.isfinite(p).all() for p in setup.model.parameters()):
            raise NonFiniteLossError(f"weights became non-finite by step {state.step}")
        stepper.flush_timing(state.timing)
        state.epoch_sums = _as_floats(state.epoch_sums)
        saved_at["step"] = state.step
        states = generators if ranks is None else distributed.gather_states(generators, ranks)
        if ranks is None or ranks.is_main:
            path = save_checkpoint(run_dir, setup.model, setup.optimizer, states, state, config_dump)
            callbacks.on_checkpoint(path, state.step)

    try:
        stopped = _epochs(setup, cfg, state, stepper, callbacks, checkpoint, n, total_steps)
    except NonFiniteLossError as exc:
        kept = (f"last good checkpoint (step {saved_at['step']}) kept in {run_dir}"
                if saved_at["step"] is not None else "no checkpoint had been written yet")
        raise NonFiniteLossError(f"{exc}; {kept}") from None
    return _result(setup, run_dir, state, stopped, total_steps, stepper)


def _epochs(setup: _Setup, cfg, state: TrainingState, stepper: Stepper, callbacks: Callbacks,
            checkpoint: Callable[[], None], n: int, total_steps: int) -> bool:
    """Run the remaining epochs; True when stopped early by `should_stop`."""
    stopped = False
    while state.epoch < cfg.epochs and not stopped:
        epoch = state.epoch
        batches = on_device(epoch_batches(n, cfg.batch_size, cfg.seed, epoch, cfg.gpus), setup.device)
        for b in range(state.batch_in_epoch, len(batches)):
            if _stop_requested(callbacks, setup.ranks):
                stopped = True
                checkpoint()
                break
            x, y, score = stepper.batch(batches[b])
            metrics = stepper(x, y, epoch, state.step, score)
            state.step += 1
            state.batch_in_epoch = b + 1
            _accumulate(state.epoch_sums, metrics)
            callbacks.on_progress(state.step, total_steps, f"epoch {epoch + 1}/{cfg.epochs}")
            if state.step % cfg.log_every_steps == 0 or b == len(batches) - 1:
                stepper.check_finite(state.step, epoch)  # the one host read of these steps
                stepper.flush_timing(state.timing)
                callbacks.on_metrics(state.step, _as_floats(metrics), "step")
            if cfg.checkpoint_every_steps and state.step % cfg.checkpoint_every_steps == 0:
                checkpoint()
        if stopped:
            break
        summary = _epoch_summary(state, setup, epoch)
        state.history.append(summary)
        state.epoch, state.batch_in_epoch, state.epoch_sums = epoch + 1, 0, {}
        callbacks.on_metrics(state.step, summary, "epoch")
        checkpoint()
    return stopped


def on_device(batches: list[Tensor], device: torch.device) -> list[Tensor]:
    """An epoch's index batches moved to the device in one copy (not one per step)."""
    if not batches:
        return batches
    return list(torch.cat(batches).to(device).split([b.numel() for b in batches]))


def _result(setup: _Setup, run_dir: Path, state: TrainingState, stopped: bool, total_steps: int,
            stepper: Stepper) -> dict:
    cfg, timing = setup.config, state.timing
    samples = max(1.0, timing.get("samples", 0.0))
    base_ms = 1000 * timing.get("base_s", 0.0) / samples
    penalty_ms = 1000 * timing.get("penalty_s", 0.0) / samples
    base_step = ("split from the shared step by rows (too few steps to time the base step apart)"
                 if stepper.base_probe_every else "timed within each step")
    if timing.get("probe_samples"):  # a shared forward: the base step was timed on its own beside it
        whole_ms = base_ms + penalty_ms
        # its forward and backward timed apart, plus the update the shared step timed (the same work)
        base_ms = 1000 * (timing["probe_base_s"] / timing["probe_samples"] + timing.get("finish_s", 0.0) / samples)
        penalty_ms = whole_ms - base_ms
        base_step = (f"forward and backward timed alone every {stepper.base_probe_every} steps, "
                     "plus the step's own update")
    last = state.history[-1] if state.history else {}
    result = {
        "kind": cfg.kind, "dataset": cfg.dataset, "method": cfg.method,
        "base_method": getattr(cfg, "base_method", cfg.method), "taser": cfg.taser,
        "score_model": cfg.score_model if cfg.taser else None, "score": setup.scores.summary,
        "epochs": state.epoch, "epochs_planned": cfg.epochs, "steps": state.step, "steps_planned": total_steps,
        "clean_acc": last.get("clean_acc"), "train_acc": last.get("train_acc"),
        "ms_per_sample": base_ms + penalty_ms, "ms_per_sample_without_penalty": base_ms,
        "penalty_ms_per_sample": penalty_ms, "base_step_timing": base_step, "wall_s": timing.get("wall_s", 0.0),
        "device": str(setup.device), "processes": setup.ranks.world_size if setup.ranks else 1,
        "stopped": stopped, "run_dir": str(run_dir), "history": state.history,
    }
    if not stopped and (setup.ranks is None or setup.ranks.is_main):
        save_model(run_dir, setup.model)
        atomic_write_json(run_dir / RESULT_FILE, result)
    return result


def _devices(config: _RunConfig) -> tuple[torch.device, Ranks | None]:
    """This process's device, and its ranks when it is one of `config.gpus` data-parallel processes."""
    device = resolve_device(config.device)
    ranks = distributed.current_ranks(device)
    processes = ranks.world_size if ranks else 1
    if processes != config.gpus:
        raise ValueError(f"gpus: the config asks for {config.gpus} processes but this one runs in a group of "
                         f"{processes}; launch gpus > 1 through torchrun (the worker and `taser train` do)")
    return (ranks.device if ranks else device), ranks


def _optimizer(config: _RunConfig, model: nn.Module, kind: str, lr: float, momentum: float) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(momentum, 0.999), weight_decay=config.weight_decay)


def _run_scores(config: _RunConfig, data: dict[str, Tensor], device: torch.device, ranks: Ranks | None,
                callbacks: Callbacks | None) -> RunScores:
    """The run's scores; with several processes, process 0 builds a missing cache and the others
    wait for it, then load it (instead of every process building the same file)."""
    if ranks is not None and not ranks.is_main:
        distributed.barrier(ranks)
    scores = build_run_scores(config, data["train_x"], device, callbacks)
    if ranks is not None and ranks.is_main:
        distributed.barrier(ranks)
    return scores


def build_train_setup(config: TrainConfig, callbacks: Callbacks | None = None, device: torch.device | None = None,
                      data: dict[str, Tensor] | None = None, scores: RunScores | None = None) -> _Setup:
    """Everything a training run steps with, on its device. `device`, `data` (CPU tensors) and
    `scores` override what the config names, for benchmarks (which share one score model between
    setups) and the placement test; runs take them from the config."""
    config.check_inputs_exist()
    device, ranks = (device, None) if device is not None else _devices(config)
    torch.manual_seed(config.seed)
    model = build_model(config.model_spec()).to(device)
    ddp = distributed.wrap(model, ranks) if ranks else None
    data = data if data is not None else load_data(config)
    scores = scores if scores is not None else _run_scores(config, data, device, ranks, callbacks)
    optimizer = _optimizer(config, model, config.optimizer, config.lr, config.momentum)

    def lr_at(step: int, total: int) -> float:
        if config.lr_schedule == "constant":
            return config.lr
        return warmup_cosine_lr(step, total, config.lr, config.lr_min, 0)
    return _Setup(config, model, None, optimizer, lr_at, build_objective(config.method, **config.objective_params()),
                  scores, _to(data, device), device, ranks, ddp)


def build_finetune_setup(config: FinetuneConfig, callbacks: Callbacks | None = None,
                         device: torch.device | None = None, data: dict[str, Tensor] | None = None) -> _Setup:
    """As `build_train_setup`, for TASER fine-tuning of `config.source` (eq. 26)."""
    config.check_inputs_exist()
    device, ranks = (device, None) if device is not None else _devices(config)
    torch.manual_seed(config.seed)
    model = load_model(Path(config.source)).to(device)
    info = dataset_info(config.dataset)
    if (model.spec.in_channels, model.spec.image_size) != (info.in_channels, info.image_size):
        raise ValueError(f"dataset: {config.dataset!r} images are {info.in_channels}×{info.image_size}², "
                         f"the model in {config.source} takes {model.spec.in_channels}×{model.spec.image_size}²")
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    ddp = distributed.wrap(model, ranks) if ranks else None
    data = data if data is not None else load_data(config)
    scores = _run_scores(config, data, device, ranks, callbacks)
    optimizer = _optimizer(config, model, "adam", config.eta_max, 0.9)

    def lr_at(step: int, total: int) -> float:
        warm = round(config.lr_warmup_fraction * total)
        return warmup_cosine_lr(step, total, config.eta_max, config.eta_min, warm)
    return _Setup(config, model, teacher, optimizer, lr_at,
                  build_objective(config.base_method, **config.objective_params()),
                  scores, _to(data, device), device, ranks, ddp)


def train(config: TrainConfig, callbacks: Callbacks | None = None, run_dir: str | Path = "run",
          resume: bool = True) -> dict:
    """Train from scratch with `config.method` (+ TASER when `config.taser`); returns the result dict.

    `run_dir` receives config.json, checkpoint/ (resumable), and at the end model.safetensors,
    model.json and result.json.
    """
    return _fit(build_train_setup(config, callbacks), callbacks, Path(run_dir), resume)


def finetune(config: FinetuneConfig, callbacks: Callbacks | None = None, run_dir: str | Path = "run",
             resume: bool = True) -> dict:
    """TASER fine-tuning of `config.source` (eq. 26); returns the result dict like `train`."""
    return _fit(build_finetune_setup(config, callbacks), callbacks, Path(run_dir), resume)
