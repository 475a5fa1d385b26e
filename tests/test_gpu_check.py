"""`make gpu-check` cannot rot unseen: its synthetic CIFAR-10 is read by the real loader, and the
whole script runs end to end on the CPU at smoke scale, writing every JSON and the summary."""

from __future__ import annotations

import json

import pytest

from app.gpu_check import main, write_synthetic_cifar10
from taser_engine.datasets import load_dataset


def test_the_synthetic_cifar10_is_read_by_the_real_loader(tmp_path):
    write_synthetic_cifar10(tmp_path, train_per_batch=6, test=4)
    train_x, train_y = load_dataset("cifar10", "train", tmp_path).tensors
    test_x, _ = load_dataset("cifar10", "test", tmp_path).tensors
    assert tuple(train_x.shape) == (30, 3, 32, 32) and tuple(test_x.shape) == (4, 3, 32, 32)
    assert 0.0 <= float(train_x.min()) and float(train_x.max()) <= 1.0 and int(train_y.max()) < 10


@pytest.mark.usefixtures("one_thread")
def test_the_gpu_check_runs_end_to_end_at_smoke_scale(tmp_path):
    out = tmp_path / "gpu-check"
    assert main(["--smoke", "--device", "cpu", "--skip-tests", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["bench train-step", "bench overhead",
                                                   "train resnet18 trades+taser", "autoattack"]
    assert all(s["ok"] for s in summary["steps"])
    for name in ("train-step", "overhead", "train", "autoattack"):
        assert json.loads((out / f"{name}.json").read_text())
    page = (out / "summary.md").read_text()
    assert "ResNet-18 TASER + TRADES" in page and "diffusion-cached" in page
    trained = json.loads((out / "train.json").read_text())
    assert trained["score"]["cache"].endswith(".safetensors")
