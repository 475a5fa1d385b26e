"""`taser train` / `taser finetune` end to end on digits (CPU)."""

from __future__ import annotations

import json

import pytest

import app.cli
from taser_engine.checkpoints import load_model
from taser_engine.objectives import METHODS


pytestmark = pytest.mark.usefixtures("one_thread")


def run_cli(*argv: str) -> int:
    return app.cli.main(list(argv))


QUICK = ("--epochs", "1", "--max-train-samples", "128", "--max-test-samples", "100", "--quiet")


def check_run(run_dir, json_path, epochs: int) -> dict:
    result = json.loads(json_path.read_text())
    assert 0.0 <= result["clean_acc"] <= 1.0
    assert result["ms_per_sample"] > 0 and result["epochs"] == epochs
    for name in ("model.safetensors", "model.json", "config.json"):
        assert (run_dir / name).is_file()
    load_model(run_dir)
    return result


def test_train_with_taser_then_finetune(tmp_path):
    run = tmp_path / "pgd"
    assert run_cli("train", "--dataset", "digits", "--method", "pgd", "--taser", "--score-model", "gaussian",
                   *QUICK, "--out", str(run), "--json", str(tmp_path / "pgd.json")) == 0
    result = check_run(run, tmp_path / "pgd.json", 1)
    assert result["taser"] and result["ms_per_sample"] > result["ms_per_sample_without_penalty"]
    assert json.loads((run / "config.json").read_text())["penalty"]["probe"] == "margin"

    ft = tmp_path / "ft"
    assert run_cli("finetune", "--from", str(run), "--adv-lite", "2", *QUICK, "--out", str(ft),
                   "--json", str(tmp_path / "ft.json")) == 0
    tuned = check_run(ft, tmp_path / "ft.json", 1)
    assert tuned["kind"] == "finetune" and tuned["taser"]
    tuned_config = json.loads((ft / "config.json").read_text())
    assert tuned_config["dataset"] == "digits" and tuned_config["method"] == "pgd"  # the source's


def test_standard_without_taser(tmp_path):
    run = tmp_path / "std"
    assert run_cli("train", "--method", "standard", *QUICK, "--out", str(run), "--json", str(tmp_path / "s.json")) == 0
    result = check_run(run, tmp_path / "s.json", 1)
    assert not result["taser"] and result["penalty_ms_per_sample"] == 0.0


def test_penalty_on_part_of_the_batch(tmp_path):
    run = tmp_path / "half"
    assert run_cli("train", "--taser", "--penalty-fraction", "0.5", "--laplacian", "hutchinson", "--freeze-batchnorm", *QUICK,
                   "--out", str(run), "--json", str(tmp_path / "h.json")) == 0
    check_run(run, tmp_path / "h.json", 1)
    penalty = json.loads((run / "config.json").read_text())["penalty"]
    assert penalty["fraction"] == 0.5 and penalty["laplacian"] == "hutchinson"
    assert json.loads((run / "config.json").read_text())["freeze_batchnorm"] is True


def test_bad_values_are_one_line_errors_naming_the_field(tmp_path, capsys):
    assert run_cli("train", "--epochs", "0", "--out", str(tmp_path / "x")) == 2
    assert "epochs" in capsys.readouterr().err
    assert run_cli("train", "--epochs", "1", "--dataset", "cifar10", "--out", str(tmp_path / "x")) == 2
    assert "data_root" in capsys.readouterr().err
    assert run_cli("train", "--epochs", "1", "--taser", "--penalty-fraction", "0", "--out", str(tmp_path / "x")) == 2
    assert "penalty.fraction" in capsys.readouterr().err
    assert run_cli("finetune", "--from", str(tmp_path / "nothing"), "--epochs", "1", "--out", str(tmp_path / "y")) == 2
    assert "source" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("taser", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_from_the_cli_on_digits(tmp_path, method, taser):
    """The digits-cpu preset, full length: every base method ± TASER learns (well above chance)."""
    run, out = tmp_path / "run", tmp_path / "r.json"
    argv = ["train", "--dataset", "digits", "--method", method, "--out", str(run), "--json", str(out), "--quiet"]
    if taser:
        argv += ["--taser", "--score-model", "gaussian"]
    assert run_cli(*argv) == 0
    result = check_run(run, out, 10)
    assert result["clean_acc"] > 0.5
