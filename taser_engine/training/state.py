"""Resumable training checkpoints: one safetensors file of tensors plus a JSON state file.

`RUN_DIR/checkpoint/` holds `ckpt-<step>.safetensors` (model weights under `model.`, optimiser
tensors under `optim.`, generator states under `rng.`) and `state.json` (epoch, step, position in
the epoch, optimiser hyper-parameters, metric history, the config it belongs to, and the name of
the tensor file). The tensor file is written first, then `state.json` atomically; only then are
older tensor files deleted — so `state.json` always names a complete file, whatever the moment
of an interruption. Nothing is unpickled on load.

The last two checkpoints are kept (`state.json` and `state.previous.json`, each with its tensor
file): a latest checkpoint that cannot be read (a disk that lied, a truncated copy) falls back to
the previous one, with a warning; with neither readable the error names the corrupt file and what
to do.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from taser_engine.checkpoints import CheckpointError, atomic_write_json

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
PREVIOUS_STATE_FILE = "state.previous.json"
log = logging.getLogger("taser.training")


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
    fd, tmp = tempfile.mkstemp(dir=ckpt_dir, prefix=".ckpt.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.replace(tmp, ckpt_dir / tensor_name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    payload = {"tensors": tensor_name, "epoch": state.epoch, "batch_in_epoch": state.batch_in_epoch,
               "step": state.step, "history": state.history, "timing": state.timing,
               "epoch_sums": state.epoch_sums,
               "optimizer": optim_meta, "config": config}
    latest = ckpt_dir / STATE_FILE
    if latest.is_file() and _tensor_name(latest) != tensor_name:  # the same step again is no older one
        os.replace(latest, ckpt_dir / PREVIOUS_STATE_FILE)
    atomic_write_json(latest, payload)
    keep = {tensor_name, _tensor_name(ckpt_dir / PREVIOUS_STATE_FILE)}
    for old in ckpt_dir.glob("ckpt-*.safetensors"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return latest


def _tensor_name(state_file: Path) -> str | None:
    try:
        return json.loads(state_file.read_text())["tensors"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def has_checkpoint(run_dir: Path) -> bool:
    ckpt_dir = Path(run_dir) / CHECKPOINT_DIR
    return (ckpt_dir / STATE_FILE).is_file() or (ckpt_dir / PREVIOUS_STATE_FILE).is_file()


def _read(run_dir: Path) -> tuple[dict, dict[str, Tensor]]:
    """(state payload, tensors) of the newest readable checkpoint (module docstring)."""
    ckpt_dir = Path(run_dir) / CHECKPOINT_DIR
    failures = []
    for name in (STATE_FILE, PREVIOUS_STATE_FILE):
        state_file = ckpt_dir / name
        if not state_file.is_file():
            continue
        try:
            payload = json.loads(state_file.read_text())
            tensors = load_file(str(ckpt_dir / payload["tensors"]))
        except Exception as exc:  # noqa: BLE001 - JSON, safetensors and OS errors alike mean unreadable
            failures.append(f"{state_file.name} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        if failures:
            log.warning("checkpoint: %s unreadable; resuming from the previous checkpoint (step %s)",
                        failures[0], payload.get("step"))
        return payload, tensors
    detail = "; ".join(failures) or "no state.json"
    raise CheckpointError(f"{ckpt_dir} holds no readable checkpoint: {detail}. Delete {ckpt_dir} to start "
                          "the run over, or restore the files from a backup")


def read_checkpoint_config(run_dir: Path) -> dict:
    return _read(run_dir)[0]["config"]


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generators: dict[str, torch.Generator], rng_suffix: str = "") -> TrainingState:
    """Load weights, optimiser and `generators` (from `rng.<name><rng_suffix>`: one process's
    own states in a data-parallel run) in place; returns where the run was."""
    payload, tensors = _read(run_dir)
    device = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    model.to(device)
    optimizer.load_state_dict(_optimizer_from_flat(tensors, payload["optimizer"]))
    for name, generator in generators.items():
        generator.set_state(tensors.get(f"rng.{name}{rng_suffix}", tensors[f"rng.{name}"]))
    return TrainingState(epoch=payload["epoch"], batch_in_epoch=payload["batch_in_epoch"],
                         step=payload["step"], history=payload["history"], timing=payload["timing"],
                         epoch_sums=payload.get("epoch_sums", {}))
