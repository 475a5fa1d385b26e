"""Model files: safetensors weights plus the `ModelSpec` that rebuilds the architecture.

A run directory holds `model.safetensors` and `model.json`; every reader in the product goes
through `load_model`, so no pickle is ever executed. Writes are atomic (temporary file, fsync,
rename), so an interrupted write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from taser_engine.models import ModelSpec, build_model

WEIGHTS_FILE = "model.safetensors"
SPEC_FILE = "model.json"


class CheckpointError(Exception):
    """A model file that is missing, corrupted, truncated or not in a safe format."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, json.dumps(payload, indent=2, sort_keys=True).encode())


def save_model(run_dir: Path, model: nn.Module) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".model.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp)
        os.replace(tmp, run_dir / WEIGHTS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_json(run_dir / SPEC_FILE, model.spec.model_dump())
    return run_dir / WEIGHTS_FILE


def load_model(run_dir: Path, map_location: str = "cpu") -> nn.Module:
    run_dir = Path(run_dir)
    weights, spec_path = run_dir / WEIGHTS_FILE, run_dir / SPEC_FILE
    for required in (weights, spec_path):
        if not required.is_file():
            raise CheckpointError(f"{required} is missing; a run directory holds {WEIGHTS_FILE} and {SPEC_FILE}")
    try:
        spec = ModelSpec.model_validate_json(spec_path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"{spec_path} is not a valid model description: {exc}") from exc
    try:
        state = load_file(str(weights), device=map_location)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is corrupted or truncated: {exc}") from exc
    model = build_model(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights} does not match the architecture in {spec_path}: {exc}") from exc
    return model.eval()
