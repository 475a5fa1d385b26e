"""The last two checkpoints are kept; a corrupted latest one falls back to the previous one."""

from __future__ import annotations

import json
import logging

import pytest
from safetensors.torch import load_file

from taser_engine.checkpoints import CheckpointError
from taser_engine.training.config import TrainConfig
from taser_engine.training.loop import train
from taser_engine.training.state import CHECKPOINT_DIR, PREVIOUS_STATE_FILE, STATE_FILE

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(epochs: int) -> TrainConfig:
    return TrainConfig(dataset="digits", epochs=epochs, batch_size=64, max_train_samples=128, max_test_samples=32,
                       checkpoint_every_steps=1, cpu_threads=1)


def test_two_checkpoints_are_kept_and_a_truncated_latest_resumes_from_the_previous(tmp_path, caplog):
    train(_config(1), run_dir=tmp_path / "run")  # 2 steps, a checkpoint after each (+ one at the epoch end)
    ckpt = tmp_path / "run" / CHECKPOINT_DIR
    latest, previous = (json.loads((ckpt / f).read_text()) for f in (STATE_FILE, PREVIOUS_STATE_FILE))
    assert sorted(p.name for p in ckpt.glob("ckpt-*.safetensors")) == sorted({latest["tensors"], previous["tensors"]})
    (ckpt / latest["tensors"]).write_bytes((ckpt / latest["tensors"]).read_bytes()[:100])  # truncated
    assert previous["step"] == 1 and latest["step"] == 2
    with caplog.at_level(logging.WARNING, logger="taser.training"):
        result = train(_config(1), run_dir=tmp_path / "run")  # resumes: step 2 is taken again
    assert "resuming from the previous checkpoint (step 1)" in caplog.text
    assert result["steps"] == 2
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    reference = train(_config(1), run_dir=tmp_path / "fresh")
    fresh = load_file(str(tmp_path / "fresh" / "model.safetensors"))
    assert reference["steps"] == 2 and all((weights[k] == fresh[k]).all() for k in fresh)


def test_with_no_readable_checkpoint_the_error_names_the_file_and_the_remedy(tmp_path):
    train(_config(1), run_dir=tmp_path / "run")
    ckpt = tmp_path / "run" / CHECKPOINT_DIR
    (ckpt / STATE_FILE).write_text("{not json")
    (ckpt / PREVIOUS_STATE_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="state.json.*Delete"):
        train(_config(1), run_dir=tmp_path / "run")
