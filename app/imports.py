"""Importing a model a user uploads: size-limited, validated, never unpickled beyond tensors.

An upload is a weights file (`.safetensors`, or a PyTorch state dict `.pt`/`.pth` read with
`weights_only=True`) plus its `model.json` (a `ModelSpec`). Both are checked before anything is
recorded: sizes, the spec's fields, and a real load of the weights into the architecture. The
model then lives in its own run folder under the artifact root, as a succeeded `import` run that
`evaluate` and `finetune` jobs take by id like any trained run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from taser_engine.checkpoints import SPEC_FILE, CheckpointError, atomic_write_json, load_model, save_model
from taser_engine.datasets import DATASETS
from taser_engine.models import ModelSpec

MAX_WEIGHTS_BYTES = 512 * 1024**2
MAX_SPEC_BYTES = 64 * 1024
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


class ImportRejected(ValueError):
    """An upload that is too large, of the wrong kind, or not a loadable model."""


def _check_upload(name: str, weights: bytes, spec: bytes) -> ModelSpec:
    suffix = Path(name).suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise ImportRejected(f"weights must be one of {', '.join(WEIGHT_SUFFIXES)}, got {name!r}")
    if len(weights) > MAX_WEIGHTS_BYTES:
        raise ImportRejected(f"weights file is {len(weights) / 1024**2:.0f} MiB; the limit is "
                             f"{MAX_WEIGHTS_BYTES // 1024**2} MiB")
    if len(spec) > MAX_SPEC_BYTES:
        raise ImportRejected(f"model.json is over {MAX_SPEC_BYTES // 1024} KiB")
    try:
        return ModelSpec.model_validate_json(spec)
    except ValueError as exc:
        raise ImportRejected(f"model.json is not a valid model description: {exc}") from None


def import_model(name: str, weights: bytes, spec: bytes, dataset: str, method: str = "imported",
                 taser: bool = False, label: str | None = None) -> int:
    """Validate the upload and record it as a succeeded `import` run; returns the run id."""
    from app.paths import run_dir_for
    from db import queue

    if dataset not in DATASETS:
        raise ImportRejected(f"unknown dataset {dataset!r}; choose one of {', '.join(sorted(DATASETS))}")
    model_spec = _check_upload(name, weights, spec)
    with tempfile.TemporaryDirectory() as scratch:
        upload = Path(scratch) / f"upload{Path(name).suffix.lower()}"
        upload.write_bytes(weights)
        (Path(scratch) / SPEC_FILE).write_text(model_spec.model_dump_json())
        try:
            model = load_model(upload)
        except CheckpointError as exc:
            raise ImportRejected(str(exc).replace(str(upload), name)) from None
    config = {"dataset": dataset, "method": method, "taser": taser, "file": Path(name).name,
              "spec": model_spec.model_dump()}
    run_id = queue.record_finished_run("import", config, {"imported": Path(name).name},
                                       name=label or f"import {Path(name).name}", tags=["import"])
    folder = run_dir_for(run_id)
    try:
        save_model(folder, model)  # re-saved as safetensors: the original bytes are not kept
        atomic_write_json(folder / "config.json", config)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return run_id
