"""The job-kind registry, config validation messages, failure reasons, and import weight."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.jobs import JOB_KINDS, JobConfigError, JobError, get_kind, normalized_config, validate_config
from app.jobs.runner import failure_reason
from tests.queue_support import REPO_ROOT


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_every_registered_kind_has_valid_defaults(kind):
    """`taser submit KIND` without a config works, except where the job must name a run to read."""
    from app.jobs import RUN_REFERENCE_FIELDS

    job_kind = get_kind(kind)
    assert callable(job_kind.run)
    try:
        config = normalized_config(kind, None)
    except JobConfigError as exc:
        required = [name for name, field in job_kind.config_class.model_fields.items() if field.is_required()]
        assert required and set(required) <= set(RUN_REFERENCE_FIELDS), exc
        assert all(name in str(exc) for name in required)
        return
    assert validate_config(kind, config).model_dump(mode="json") == config  # round-trips


def test_config_errors_name_every_bad_field():
    with pytest.raises(JobConfigError) as error:
        validate_config("count", {"steps": 0, "lr": "fast", "stpes": 3})
    message = str(error.value)
    assert "'steps'" in message and "'lr'" in message and "'stpes'" in message
    with pytest.raises(JobConfigError, match="known kinds: .*count.*noop"):
        get_kind("no-such-kind")


def test_failure_reasons_are_readable():
    assert failure_reason(JobConfigError("invalid count config: field 'steps'")).startswith("bad config")
    assert failure_reason(JobError("dataset digits has no split 'dev'")) == "dataset digits has no split 'dev'"
    missing = FileNotFoundError(2, "No such file or directory", "/data/cifar-10-batches-py")
    assert failure_reason(missing) == "missing file or dataset: /data/cifar-10-batches-py"
    assert failure_reason(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")).startswith(
        "out of memory")
    assert failure_reason(MemoryError()).startswith("out of memory")
    assert failure_reason(FloatingPointError("loss is nan")).startswith("NaN loss")
    assert failure_reason(ValueError("something else")) == "ValueError: something else"


def test_allocation_and_storage_failures_are_named():
    import errno

    import torch

    with pytest.raises(RuntimeError) as too_big:  # a real allocator failure: 32 TiB
        torch.empty(2**45, dtype=torch.uint8)
    reason = failure_reason(too_big.value)
    assert reason.startswith("out of memory: DefaultCPUAllocator: can't allocate memory"), reason
    assert failure_reason(OSError(errno.ENOMEM, "Cannot allocate memory")).startswith("out of memory")
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/7/checkpoint/.ckpt.tmp")
    assert failure_reason(full) == "disk full: /runs/7/checkpoint/.ckpt.tmp"
    assert failure_reason(PermissionError(errno.EACCES, "Permission denied", "/data")) == "permission denied: /data"
    assert failure_reason(OSError(errno.EROFS, "Read-only file system", "/mnt/a")) == "read-only file system: /mnt/a"


def test_job_process_modules_do_not_import_torch():
    """The per-job child must not pay for torch unless its kind needs it."""
    code = ("import sys, app.cli, app.jobs.runner, app.jobs.noop, app.jobs.count, "
            "taser_engine.callbacks; print('torch' in sys.modules, 'sqlalchemy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_corrupted_count_checkpoint_is_a_readable_failure(tmp_path):
    from types import SimpleNamespace

    from app.jobs import count

    damaged = tmp_path / count.STATE_FILE
    damaged.write_text('{"step": 3, "x"')  # cut short
    with pytest.raises(JobError) as info:
        count.run(count.Config(steps=5, step_s=0.0), SimpleNamespace(resume_checkpoint=damaged, run_dir=tmp_path))
    reason = failure_reason(info.value)
    assert reason.startswith(f"checkpoint {damaged} is corrupted (JSONDecodeError") and "delete it" in reason
