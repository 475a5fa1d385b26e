"""Importing what a user uploads: a model (size-limited, validated, never unpickled beyond
tensors) or an evaluation made elsewhere (`taser evaluate --json`).

An upload is a weights file (`.safetensors`, or a PyTorch state dict `.pt`/`.pth` read with
`weights_only=True`) plus its `model.json` (a `ModelSpec`). Both are checked before anything is
recorded: sizes, the spec's fields, and a real load of the weights into the architecture. The
model then lives in its own run folder under the artifact root, as a succeeded `import` run that
`evaluate` and `finetune` jobs take by id like any trained run.

An evaluation is checked against the evaluate job's Result and recorded as a succeeded
`evaluate` run with its per-attack evaluation rows, exactly as an evaluate job stores it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from pydantic import ValidationError

from db.store import RUN_NAME_LENGTH
from taser_engine.checkpoints import SPEC_FILE, CheckpointError, atomic_write_json, load_model, save_model
from taser_engine.datasets import DATASETS
from taser_engine.fields import MAX_TEXT, format_errors
from taser_engine.models import ModelSpec

MAX_WEIGHTS_BYTES = 512 * 1024**2
MAX_SPEC_BYTES = 64 * 1024
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


class ImportRejected(ValueError):
    """An upload that is too large, of the wrong kind, or not a loadable model."""


def _check_upload(name: str, weights: bytes, spec: bytes) -> ModelSpec:
    suffix = Path(name).suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise ImportRejected(f"weights must be one of {', '.join(WEIGHT_SUFFIXES)}, got {name[:80]!r}")
    if len(weights) > MAX_WEIGHTS_BYTES:
        raise ImportRejected(f"weights file is {len(weights) / 1024**2:.0f} MiB; the limit is "
                             f"{MAX_WEIGHTS_BYTES // 1024**2} MiB")
    if len(spec) > MAX_SPEC_BYTES:
        raise ImportRejected(f"model.json is over {MAX_SPEC_BYTES // 1024} KiB")
    try:
        return ModelSpec.model_validate_json(spec)
    except ValidationError as exc:
        raise ImportRejected(f"model.json is not a valid model description: {format_errors(exc)}") from None


def import_model(name: str, weights: bytes, spec: bytes, dataset: str, method: str = "imported",
                 taser: bool = False, label: str | None = None) -> int:
    """Validate the upload and record it as a succeeded `import` run; returns the run id."""
    from app.paths import run_dir_for
    from app.submission import run_options
    from db import store

    if dataset not in DATASETS:
        raise ImportRejected(f"unknown dataset {dataset[:40]!r}; choose one of {', '.join(sorted(DATASETS))}")
    file_name = Path(name).name
    if len(method) > MAX_TEXT:
        raise ImportRejected(f"the method label is over {MAX_TEXT} characters")
    try:
        options = run_options(name=label or f"import {file_name}"[:RUN_NAME_LENGTH], tags=["import"])
    except ValueError as exc:
        raise ImportRejected(str(exc)) from None
    model_spec = _check_upload(name, weights, spec)
    with tempfile.TemporaryDirectory() as scratch:
        upload = Path(scratch) / f"upload{Path(name).suffix.lower()}"
        upload.write_bytes(weights)
        (Path(scratch) / SPEC_FILE).write_text(model_spec.model_dump_json())
        try:
            model = load_model(upload)
        except CheckpointError as exc:
            reason = _without_scratch(str(exc), upload, file_name)
            raise ImportRejected(reason if file_name in reason else f"{file_name}: {reason}") from None
        except Exception as exc:  # noqa: BLE001 - whatever a parser of untrusted bytes raises, it is a bad file
            reason = _without_scratch(f"{type(exc).__name__}: {exc}", upload, file_name)
            raise ImportRejected(f"{file_name} is corrupted or truncated ({reason})") from None
    config = {"dataset": dataset, "method": method, "taser": taser, "file": file_name,
              "spec": model_spec.model_dump()}
    run_id = store.record_finished_run("import", config, {"imported": file_name},
                                       name=options.name, tags=options.tags)
    folder = run_dir_for(run_id)
    try:
        save_model(folder, model)  # re-saved as safetensors: the original bytes are not kept
        atomic_write_json(folder / "config.json", config)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return run_id


MAX_EVALUATION_BYTES = 64 * 1024**2  # per-sample vectors of a whole test set stay far below


def import_evaluation(name: str, payload: bytes, label: str | None = None) -> int:
    """Validate an evaluation JSON and record it as a succeeded `evaluate` run with its
    evaluation rows; returns the run id."""
    from app.jobs import JobResultError, validate_result
    from app.submission import run_options
    from db import store

    file_name = Path(name).name
    if len(payload) > MAX_EVALUATION_BYTES:
        raise ImportRejected(f"{file_name[:80]} is over {MAX_EVALUATION_BYTES // 1024**2} MiB")
    try:
        raw = json.loads(payload)
    except ValueError as exc:
        raise ImportRejected(f"{file_name[:80]} is not JSON ({exc})") from None
    try:
        result = validate_result("evaluate", raw if isinstance(raw, dict) else {"clean_acc": raw})
    except JobResultError as exc:
        raise ImportRejected(f"{file_name[:80]}: {exc}") from None
    if result is None or not result.is_evaluation or not result.robust:
        raise ImportRejected(f"{file_name[:80]} is not a `taser evaluate --json` result (no clean_acc / robust)")
    try:
        options = run_options(name=label or f"import {file_name}"[:RUN_NAME_LENGTH], tags=["import"])
    except ValueError as exc:
        raise ImportRejected(str(exc)) from None
    # the run and its rows in one transaction: an import is never half stored
    return store.record_finished_run("evaluate", {"imported": file_name}, result.stored(), name=options.name,
                                     tags=options.tags, evaluations=result.evaluation_rows())


def _without_scratch(message: str, upload: Path, file_name: str) -> str:
    """The loader's reason with the temporary folder gone: the upload by its own name, files beside it by theirs."""
    scratch = upload.parent
    for folder in {str(scratch), str(scratch.resolve())}:
        message = message.replace(str(Path(folder) / upload.name), file_name).replace(folder + os.sep, "")
    return message
