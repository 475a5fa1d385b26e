"""Model files: safetensors weights plus the `ModelSpec` that rebuilds the architecture.

A run directory holds `model.safetensors` and `model.json`; every reader in the product goes
through `load_model`, which also takes a weights file directly (`.safetensors`, or a PyTorch
`.pt`/`.pth` state dict read with `weights_only=True`) with its `model.json` beside it. No pickle
that could run code is ever executed: such a file is refused with a `CheckpointError`.
Writes are atomic (atomic_files.py), so a failed write — a full disk, say — leaves
the previous file intact.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import torch

from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors
from torch import nn

from taser_engine.atomic_files import atomic_write_bytes, atomic_write_json  # noqa: F401 (also imported from here)
from taser_engine.models import ModelSpec, build_model

WEIGHTS_FILE = "model.safetensors"
SPEC_FILE = "model.json"


class CheckpointError(Exception):
    """A model file that is missing, corrupted, truncated or not in a safe format."""


def save_model(run_dir: Path, model: nn.Module) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(run_dir / WEIGHTS_FILE, save_tensors(state))
    atomic_write_json(run_dir / SPEC_FILE, model.spec.model_dump())
    return run_dir / WEIGHTS_FILE


TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def _locate(path: Path) -> tuple[Path, Path]:
    """(weights file, model.json) for a run directory or a weights file."""
    if path.is_dir():
        return path / WEIGHTS_FILE, path / SPEC_FILE
    return path, path.parent / SPEC_FILE


def read_state_dict(weights: Path, map_location: str = "cpu") -> dict:
    """Tensors from a safetensors file, or from a PyTorch file with `weights_only=True`."""
    if weights.suffix in TORCH_SUFFIXES:
        try:
            state = torch.load(weights, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            raise CheckpointError(
                f"refused to load {weights}: it is a pickle that holds more than tensors (it could run "
                f"code when loaded). Re-save the state dict as safetensors or with plain tensors only.") from exc
        except (RuntimeError, EOFError, OSError, ValueError, struct.error, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{weights} is corrupted or truncated: {exc}") from exc
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{weights} does not hold a state dict of tensors")
        return state
    try:
        return load_file(str(weights), device=map_location)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is corrupted or truncated (expected safetensors): {exc}") from exc


def load_model(path: Path, map_location: str = "cpu") -> nn.Module:
    """The model in a run directory, or in a weights file with `model.json` beside it, in eval mode."""
    weights, spec_path = _locate(Path(path))
    for required in (weights, spec_path):
        if not required.is_file():
            raise CheckpointError(f"{required} is missing; a run directory holds {WEIGHTS_FILE} and {SPEC_FILE}")
    try:
        spec = ModelSpec.model_validate_json(spec_path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"{spec_path} is not a valid model description: {exc}") from exc
    state = read_state_dict(weights, map_location)
    model = build_model(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights} does not match the architecture in {spec_path}: {exc}") from exc
    return model.eval()
