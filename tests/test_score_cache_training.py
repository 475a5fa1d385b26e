"""TASER training with a diffusion score model uses the score cache by default.

`taser train --taser --score-model DIR` builds the cache once beside the score model, a second run
reuses it (and says so), a retrained model gets a new cache, and the cached run matches a run that
scores every batch live up to the float16 rounding of the stored scores.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from app.cli import main
from scores_oracle import ddpm_scheduler, tiny_unet
from taser_engine.training.config import TrainConfig
from taser_engine.training.loop import train
from taser_engine.training.scores import CACHE_DIR

pytestmark = pytest.mark.usefixtures("one_thread")


def _score_model(directory, seed: int = 0):
    tiny_unet(seed).save_pretrained(directory)
    ddpm_scheduler().save_pretrained(directory)
    return directory


def _train_cli(tmp_path, name: str, score_model, *extra: str) -> dict:
    out = tmp_path / name
    code = main(["train", "--dataset", "digits", "--taser", "--score-model", str(score_model), "--epochs", "1",
                 "--max-train-samples", "96", "--max-test-samples", "32", "--batch-size", "32",
                 "--out", str(out), "--json", str(out / "out.json"), "--quiet", *extra])
    assert code == 0
    return json.loads((out / "out.json").read_text())


def test_the_cache_is_built_once_reused_by_the_next_run_and_renewed_for_a_retrained_model(tmp_path, capsys):
    model_dir = _score_model(tmp_path / "score-model")
    first = _train_cli(tmp_path, "a", model_dir)
    log_first = capsys.readouterr().err
    second = _train_cli(tmp_path, "b", model_dir, "--seed", "1")
    log_second = capsys.readouterr().err
    assert "score cache: building" in log_first and "score cache: reusing" in log_second
    assert first["score"]["cache_reused"] is False and second["score"]["cache_reused"] is True
    assert first["score"]["cache"] == second["score"]["cache"]
    caches = list((model_dir / CACHE_DIR).glob("*.safetensors"))
    assert len(caches) == 1 and load_file(str(caches[0]))["scores"].dtype == torch.float16
    assert first["score"]["cache_fp16_rel_error_max"] < 1e-3  # float16: 2^-11 relative per entry

    _score_model(model_dir, seed=1)  # retrained in place: other weights, same directory
    third = _train_cli(tmp_path, "c", model_dir)
    assert third["score"]["cache_reused"] is False and third["score"]["cache"] != first["score"]["cache"]


def _config(score_model, **fields) -> TrainConfig:
    base = dict(dataset="digits", epochs=2, batch_size=32, max_train_samples=96, max_test_samples=32,
                taser=True, taser_lambda=0.5, score_model=str(score_model), cpu_threads=1)
    return TrainConfig(**{**base, **fields})


def test_cached_scores_train_as_live_scores_do_up_to_float16_rounding(tmp_path):
    model_dir = _score_model(tmp_path / "score-model")
    cached = train(_config(model_dir), run_dir=tmp_path / "cached")
    live = train(_config(model_dir, score_cache="off"), run_dir=tmp_path / "live")
    assert live["score"]["cache"] == "off" and cached["score"]["cache"].endswith(".safetensors")
    weights = {name: load_file(str(tmp_path / name / "model.safetensors")) for name in ("cached", "live")}
    gaps = [((weights["cached"][k] - weights["live"][k]).norm() / weights["live"][k].norm().clamp_min(1e-12)).item()
            for k in weights["live"] if weights["live"][k].is_floating_point()]
    # The scores differ by float16 rounding (≤ 2^-11 relative); 6 Adam steps carry it to the weights.
    assert max(gaps) < 1e-2, max(gaps)
    for a, b in zip(cached["history"], live["history"]):
        assert a["loss/taser"] == pytest.approx(b["loss/taser"], rel=1e-2)


def test_a_cache_file_of_other_data_is_refused(tmp_path):
    model_dir = _score_model(tmp_path / "score-model")
    path = tmp_path / "scores.safetensors"
    train(_config(model_dir, score_cache=str(path), epochs=1), run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="score_cache"):
        train(_config(model_dir, score_cache=str(path), epochs=1, max_train_samples=64), run_dir=tmp_path / "b")


def test_score_cache_values_are_validated():
    with pytest.raises(ValueError, match="score_cache"):
        TrainConfig(epochs=1, score_cache="scores.npy")
