"""Resumable training checkpoints: one safetensors file of tensors plus a JSON state file.

`RUN_DIR/checkpoint/` holds `ckpt-<step>.safetensors` (model weights under `model.`, optimiser
tensors under `optim.`, generator states under `rng.`) and `state.json` (epoch, step, position in
the epoch, optimiser hyper-parameters, metric history, the config it belongs to, and the name of
the tensor file). The tensor file is written first, then `state.json` atomically; only then are
older tensor files deleted — so `state.json` always names a complete file, whatever the moment
of an interruption. Nothing is unpickled on load.

The last two checkpoints are kept: before a new `state.json` is written, the current one becomes
`state.previous.json` (with its tensor file). A file damaged after the fact (a disk fault, a
copy cut short, a hand edit) then costs one checkpoint interval, not the run: `read_checkpoint`
falls back to the previous checkpoint, saying so in the log, and only when neither is readable
fails with a `CheckpointError` that names the damaged files and what to do.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from taser_engine.atomic_files import atomic_path, atomic_write_json
from taser_engine.checkpoints import CheckpointError

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
PREVIOUS_STATE_FILE = "state.previous.json"
STATE_KEYS = ("tensors", "epoch", "batch_in_epoch", "step", "history", "timing", "optimizer", "config")

log = logging.getLogger(__name__)


@dataclass
class TrainingState:
    """Where a run is: everything besides the tensors that resuming needs."""

    epoch: int = 0  # current epoch (from 0)
    batch_in_epoch: int = 0  # batches of `epoch` already done
    step: int = 0  # optimiser steps done
    history: list[dict] = field(default_factory=list)  # per-epoch summaries
    timing: dict[str, float] = field(default_factory=dict)  # accumulated seconds and samples
    epoch_sums: dict[str, float] = field(default_factory=dict)  # running sums of the current epoch


def _optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, slots in sd["state"].items():
        for name, value in slots.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_flat(tensors: dict[str, Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generators: dict[str, torch.Generator | Tensor], state: TrainingState, config: dict) -> Path:
    """Write a checkpoint; `generators` maps names to generators or to generator states
    (data-parallel runs pass the other processes' states, gathered, as tensors)."""
    ckpt_dir = Path(run_dir) / CHECKPOINT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_tensors, optim_meta = _optimizer_to_flat(optimizer)
    tensors.update(optim_tensors)
    tensors.update({f"rng.{name}": (g if isinstance(g, Tensor) else g.get_state()).cpu()
                    for name, g in generators.items()})
    tensor_name = f"ckpt-{state.step:09d}.safetensors"
    with atomic_path(ckpt_dir / tensor_name) as tmp:
        save_file(tensors, tmp)
    payload = {"tensors": tensor_name, "epoch": state.epoch, "batch_in_epoch": state.batch_in_epoch,
               "step": state.step, "history": state.history, "timing": state.timing,
               "epoch_sums": state.epoch_sums,
               "optimizer": optim_meta, "config": config}
    _keep_as_previous(ckpt_dir, tensor_name)
    atomic_write_json(ckpt_dir / STATE_FILE, payload)
    _delete_unreferenced_tensors(ckpt_dir)
    return ckpt_dir / STATE_FILE


def _keep_as_previous(ckpt_dir: Path, new_tensor_name: str) -> None:
    """The current state.json becomes state.previous.json, unless it names the same tensor
    file (a second checkpoint at the same step replaces the first)."""
    current = ckpt_dir / STATE_FILE
    if not current.is_file() or _tensor_name(current) in (None, new_tensor_name):
        return
    os.replace(current, ckpt_dir / PREVIOUS_STATE_FILE)


def _tensor_name(state_file: Path) -> str | None:
    try:
        return json.loads(state_file.read_text())["tensors"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _delete_unreferenced_tensors(ckpt_dir: Path) -> None:
    kept = {_tensor_name(ckpt_dir / name) for name in (STATE_FILE, PREVIOUS_STATE_FILE)}
    for old in ckpt_dir.glob("ckpt-*.safetensors"):
        if old.name not in kept:
            old.unlink(missing_ok=True)


def has_checkpoint(run_dir: Path) -> bool:
    ckpt_dir = Path(run_dir) / CHECKPOINT_DIR
    return any((ckpt_dir / name).is_file() for name in (STATE_FILE, PREVIOUS_STATE_FILE))


@dataclass
class Checkpoint:
    """A checkpoint read from disk and checked: its state file, its contents and tensors."""

    path: Path
    payload: dict
    tensors: dict[str, Tensor]

    @property
    def config(self) -> dict:
        return self.payload["config"]

    @property
    def step(self) -> int:
        return self.payload["step"]


def read_checkpoint(run_dir: Path) -> Checkpoint:
    """The newest readable checkpoint in `run_dir`, falling back to the previous one (logged).

    Raises CheckpointError, naming every damaged file, when there is none that reads.
    """
    ckpt_dir = Path(run_dir) / CHECKPOINT_DIR
    problems: list[str] = []
    for name in (STATE_FILE, PREVIOUS_STATE_FILE):
        if not (ckpt_dir / name).is_file():
            continue
        try:
            checkpoint = _read_one(ckpt_dir / name)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        if problems:
            log.warning("%s; resuming from the previous checkpoint instead (%s, step %d)",
                        "; ".join(problems), checkpoint.path, checkpoint.step)
        return checkpoint
    raise CheckpointError(
        f"no readable checkpoint in {ckpt_dir}: {'; '.join(problems) or 'it is empty'}. Delete "
        f"{ckpt_dir} to start this run again from the beginning (or put back a copy of it)")


def _read_one(state_file: Path) -> Checkpoint:
    """One checkpoint, or CheckpointError saying which of its files is damaged and how."""
    try:
        payload = json.loads(state_file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {state_file} is corrupted: {exc}") from exc
    missing = [key for key in STATE_KEYS if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {state_file} is incomplete (no {', '.join(missing)})")
    tensor_file = state_file.parent / str(payload["tensors"])
    try:
        tensors = load_file(str(tensor_file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {tensor_file} is corrupted or truncated: {exc}") from exc
    return Checkpoint(state_file, payload, tensors)


def restore_checkpoint(checkpoint: Checkpoint, model: nn.Module, optimizer: torch.optim.Optimizer,
                       generators: dict[str, torch.Generator], rng_suffix: str = "") -> TrainingState:
    """Load weights, optimiser and `generators` (from `rng.<name><rng_suffix>`: one process's
    own states in a data-parallel run) in place; returns where the run was."""
    tensors, payload = checkpoint.tensors, checkpoint.payload
    device = next(model.parameters()).device
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        model.to(device)
        optimizer.load_state_dict(_optimizer_from_flat(tensors, payload["optimizer"]))
        for name, generator in generators.items():
            generator.set_state(tensors.get(f"rng.{name}{rng_suffix}", tensors[f"rng.{name}"]))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {checkpoint.path} does not fit this run: {exc}") from exc
    return TrainingState(epoch=payload["epoch"], batch_in_epoch=payload["batch_in_epoch"],
                         step=payload["step"], history=payload["history"], timing=payload["timing"],
                         epoch_sums=payload.get("epoch_sums", {}))
