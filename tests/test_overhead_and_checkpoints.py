"""The overhead benchmark's contract and the safe model-file round trip."""

import json
import math

import pytest
import torch

from app.cli import main
from taser_engine.checkpoints import CheckpointError, load_model, save_model
from taser_engine.models import ModelSpec, build_model

REQUIRED_ROW_KEYS = {"model", "device", "method", "laplacian", "num_probes", "ms_per_sample",
                     "plain_ms_per_sample", "ratio", "rel_error", "ms_per_sample_min", "ms_per_sample_max",
                     "plain_ms_per_sample_min", "plain_ms_per_sample_max", "ratio_min", "ratio_max", "repeats"}


def test_bench_overhead_cli_writes_the_contract(tmp_path):
    out = tmp_path / "overhead.json"
    code = main(["bench", "overhead", "--models", "small_cnn", "--activations", "relu,silu", "--batchnorm", "train,frozen",
                 "--methods", "autograd,jvp", "--laplacians", "none,hutchinson", "--repeats", "1", "--batch-size", "8",
                 "--json", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    assert {(r["activation"], r["batchnorm"], r["method"], r["laplacian"]) for r in rows} == {
        (a, bn, m, lap) for a in ("relu", "silu") for bn in ("train", "frozen") for m in ("autograd", "jvp")
        for lap in ("none", "hutchinson")}
    for row in rows:
        assert REQUIRED_ROW_KEYS <= set(row)
        assert row["ms_per_sample"] > 0 and math.isfinite(row["ratio"])
        for field in ("ms_per_sample", "plain_ms_per_sample"):  # the spread over repeats brackets the median
            assert row[f"{field}_min"] <= row[field] <= row[f"{field}_max"]
        assert row["ratio_min"] <= row["ratio_max"] and row["repeats"] == 1
        # exact estimators agree with the float64 double-backward reference to float32 precision
        assert row["rel_error"] < 1e-4 and row["grad_rel_error"] < 1e-3


def test_bench_rejects_bad_settings(capsys):
    assert main(["bench", "overhead", "--models", "vgg"]) == 2
    assert "models" in capsys.readouterr().err


def test_model_round_trip_through_safetensors(tmp_path):
    model = build_model(ModelSpec(arch="small_cnn", width=4, activation="silu"))
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert loaded.spec == model.spec and not loaded.piecewise_linear


def test_truncated_or_missing_checkpoint_is_reported(tmp_path):
    save_model(tmp_path, build_model(ModelSpec(width=4)))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "nowhere")
