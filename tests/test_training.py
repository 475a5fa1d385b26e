"""The training loop: config validation, resume == uninterrupted, callbacks, fine-tuning."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from taser_engine.callbacks import RecordingCallbacks
from taser_engine.checkpoints import load_model
from taser_engine.training import FinetuneConfig, TrainConfig, finetune, format_errors, train
from taser_engine.training.loop import RunMismatchError, fit_gaussian_score


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**overrides) -> TrainConfig:
    fields = dict(dataset="digits", method="trades-awp", taser=True, epochs=2, batch_size=32,
                  max_train_samples=64, max_test_samples=64, width=4, num_steps=1, awp_warmup=1,
                  device="cpu", log_every_steps=1, taser_lambda=0.1)
    fields.update(overrides)
    return TrainConfig(**fields)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("fields, named", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 1, "dataset": "imagenet"}, "dataset"),
    ({"epochs": 1, "method": "fgsm"}, "method"),
    ({"epochs": 1, "dataset": "cifar10"}, "data_root"),
    ({"epochs": 1, "batch_size": 1}, "batch_size"),
    ({"epochs": 1, "penalty": {"num_probes": 0}}, "penalty.num_probes"),
    ({"epochs": 1, "penalty": {"centering": "global"}}, "penalty.center"),
])
def test_bad_config_names_the_field(fields, named):
    with pytest.raises(ValidationError) as info:
        TrainConfig(**fields)
    assert named in format_errors(info.value)


def test_missing_local_inputs_are_named_when_the_run_starts(tmp_path):
    """Checked at start, not at validation: a queued job may name a run that has not finished."""
    config = FinetuneConfig(source=str(tmp_path), epochs=1)
    with pytest.raises(ValueError, match="source"):
        config.check_inputs_exist()
    with pytest.raises(ValueError, match="source"):
        finetune(config, run_dir=tmp_path / "ft")
    scored = TrainConfig(epochs=1, taser=True, score_model="/no/such/dir")
    with pytest.raises(ValueError, match="score_model"):
        train(scored, run_dir=tmp_path / "tr")
    TrainConfig(epochs=1, taser=True, score_model="google/ddpm-cifar10-32").check_inputs_exist()  # hub id


def test_resume_after_interruption_gives_the_same_weights(tmp_path):
    config = tiny()
    whole = train(config, RecordingCallbacks(), tmp_path / "whole")
    steps = whole["steps"]
    assert steps == 4 and not whole["stopped"]

    cut = RecordingCallbacks(stop_after_steps=3)  # stops mid-way through the second epoch
    partial = train(config, cut, tmp_path / "cut")
    assert partial["stopped"] and partial["steps"] == 3
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = train(config, RecordingCallbacks(), tmp_path / "cut")
    assert not resumed["stopped"] and resumed["steps"] == steps
    assert resumed["history"][-1]["clean_acc"] == whole["history"][-1]["clean_acc"]

    a, b = load_model(tmp_path / "whole"), load_model(tmp_path / "cut")
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name


def _cut_run(config, run_dir, steps: int) -> tuple[dict, dict]:
    """A run stopped after `steps` steps; (latest, previous) checkpoint state files' contents."""
    train(config, RecordingCallbacks(stop_after_steps=steps), run_dir)
    ckpt = run_dir / "checkpoint"
    return (json.loads((ckpt / "state.json").read_text()),
            json.loads((ckpt / "state.previous.json").read_text()))


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    config = tiny(method="standard", taser=False, checkpoint_every_steps=1)
    train(config, None, tmp_path / "whole")
    latest, previous = _cut_run(config, tmp_path / "cut", steps=3)
    ckpt = tmp_path / "cut" / "checkpoint"
    assert (latest["step"], previous["step"]) == (3, 2)  # the last two are kept, no more
    assert sorted(path.name for path in ckpt.glob("ckpt-*")) == [previous["tensors"], latest["tensors"]]
    damaged = ckpt / latest["tensors"]
    damaged.write_bytes(damaged.read_bytes()[:200])  # a copy cut short
    with caplog.at_level("WARNING"):
        resumed = train(config, RecordingCallbacks(), tmp_path / "cut")
    assert str(damaged) in caplog.text and "resuming from the previous checkpoint" in caplog.text
    assert "step 2" in caplog.text and resumed["steps"] == 4
    a, b = load_model(tmp_path / "whole"), load_model(tmp_path / "cut")
    for name, value in a.state_dict().items():  # one step repeated, the same weights in the end
        assert torch.equal(value, b.state_dict()[name]), name


def test_no_readable_checkpoint_names_the_files_and_what_to_do(tmp_path):
    from app.jobs.runner import failure_reason
    from taser_engine.checkpoints import CheckpointError

    config = tiny(method="standard", taser=False, checkpoint_every_steps=1)
    _, previous = _cut_run(config, tmp_path, steps=2)
    ckpt = tmp_path / "checkpoint"
    (ckpt / "state.json").write_text('{"tensors": "ckpt-0')  # JSONDecodeError
    (ckpt / previous["tensors"]).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{")  # no metadata
    with pytest.raises(CheckpointError) as info:
        train(config, None, tmp_path)
    message = str(info.value)
    assert str(ckpt / "state.json") in message and str(ckpt / previous["tensors"]) in message
    assert f"Delete {ckpt} to start this run again" in message
    assert failure_reason(info.value) == message  # the job's reason, as is


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    config = tiny(method="pgd", epochs=1)
    train(config, None, tmp_path / "a")
    train(config, None, tmp_path / "b")
    train(config.model_copy(update={"seed": 1}), None, tmp_path / "c")
    a, b, c = (load_model(tmp_path / n).state_dict() for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_refuses_a_different_config(tmp_path):
    train(tiny(method="standard", epochs=1), None, tmp_path / "run")
    with pytest.raises(RunMismatchError, match="method"):
        train(tiny(method="pgd", epochs=1), None, tmp_path / "run")


def test_a_run_stored_before_a_field_existed_resumes_with_its_default(tmp_path):
    """A run begun before `method_params` existed stored no such key: it resumes (the stored
    config is read with the field's default), while a real difference is still refused."""
    config = tiny(method="standard", taser=False, checkpoint_every_steps=1)
    whole = train(config, None, tmp_path / "whole")
    _cut_run(config, tmp_path / "cut", steps=3)
    for path in [tmp_path / "cut" / "config.json", *(tmp_path / "cut" / "checkpoint").glob("state*.json")]:
        stored = json.loads(path.read_text())
        config_of = stored.get("config", stored)
        assert config_of.pop("method_params") == {}
        path.write_text(json.dumps(stored))
    with pytest.raises(RunMismatchError, match="seed"):
        train(config.model_copy(update={"seed": 1}), None, tmp_path / "cut")
    resumed = train(config, None, tmp_path / "cut")
    assert resumed["steps"] == whole["steps"]
    a, b = load_model(tmp_path / "whole"), load_model(tmp_path / "cut")
    assert all(torch.equal(value, b.state_dict()[name]) for name, value in a.state_dict().items())


def test_callbacks_see_progress_metrics_and_checkpoints(tmp_path):
    cb = RecordingCallbacks()
    result = train(tiny(method="mart", epochs=2, lambda_warmup_fraction=0.5), cb, tmp_path / "run")
    assert cb.progress[-1][:2] == (result["steps"], result["steps_planned"])
    step_metrics = [m for _, scope, m in cb.metrics if scope == "step"]
    assert len(step_metrics) == result["steps"]
    for key in ("loss/base", "loss/taser", "lambda", "lr", "stein_r_var", "stein_r_mean", "loss/total"):
        assert key in step_metrics[-1]
    assert step_metrics[0]["lambda"] == 0.0 < step_metrics[-1]["lambda"]  # λ ramps up from 0
    epoch_metrics = [m for _, scope, m in cb.metrics if scope == "epoch"]
    assert 0.0 <= epoch_metrics[-1]["clean_acc"] <= 1.0
    assert cb.checkpoints and cb.checkpoints[-1][1] == result["steps"]
    assert result["ms_per_sample"] > result["ms_per_sample_without_penalty"] > 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert TrainConfig(**saved) == tiny(method="mart", epochs=2, lambda_warmup_fraction=0.5)


def test_finetune_starts_from_the_source_with_a_teacher(tmp_path):
    train(tiny(method="standard", arch="mlp", epochs=1, taser=False), None, tmp_path / "base")
    config = FinetuneConfig(source=str(tmp_path / "base"), dataset="digits", epochs=2, batch_size=32,
                            max_train_samples=96, max_test_samples=64, device="cpu", log_every_steps=1,
                            adversarial_lite_steps=2, taser_lambda=0.1)
    cb = RecordingCallbacks()
    result = finetune(config, cb, tmp_path / "ft")
    steps = [m for _, scope, m in cb.metrics if scope == "step"]
    # warm-up from 0 to η_max over 10% of T, then cosine down towards η_min
    assert steps[0]["lr"] == 0.0 and max(s["lr"] for s in steps) == pytest.approx(1e-3)
    assert steps[-1]["lr"] < 1e-3
    # at the first step the student is the teacher (an MLP has no train/eval difference)
    assert steps[0]["loss/kl"] == pytest.approx(0.0, abs=1e-6)
    assert steps[-1]["loss/kl"] > 0
    assert "loss/ce_adv" in steps[0]  # adversarial-lite: PGD base loss for a standard source
    assert result["kind"] == "finetune" and load_model(tmp_path / "ft") is not None


def test_gaussian_score_points_back_to_the_mean():
    x = torch.rand(50, 1, 4, 4)
    score = fit_gaussian_score(x)
    s = score(x)
    assert s.shape == x.shape
    assert ((s.flatten(1) * (x.flatten(1) - x.flatten(1).mean(0))).sum(1) < 0).all()


def test_non_finite_loss_fails_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    from safetensors.torch import load_file

    from taser_engine.training.loop import NonFiniteLossError

    config = TrainConfig(dataset="digits", epochs=2, batch_size=64, max_train_samples=256,
                         optimizer="sgd", lr_schedule="constant", momentum=0.0, checkpoint_every_steps=1)
    # a learning rate far past the config's bound (model_copy does not validate): the loop's own
    # guard is what is tested, for whatever makes a loss non-finite
    config = config.model_copy(update={"lr": 1e12})
    with pytest.raises(NonFiniteLossError) as info:
        train(config, run_dir=tmp_path)
    message = str(info.value)
    assert "non-finite" in message and "step" in message
    kept_step = int(message.split("last good checkpoint (step ")[1].split(")")[0])
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["step"] == kept_step
    weights = load_file(str(tmp_path / "checkpoint" / state["tensors"]))
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def _batchnorm_statistics(model) -> torch.Tensor:
    return torch.cat([m.running_mean for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)])


@pytest.mark.parametrize("frozen", [False, True])
def test_frozen_batchnorm_keeps_its_running_statistics(tmp_path, frozen):
    config = tiny(method="standard", arch="small_cnn", epochs=1, taser=False, freeze_batchnorm=frozen)
    train(config, None, tmp_path / "run")
    statistics = _batchnorm_statistics(load_model(tmp_path / "run"))
    assert (statistics.abs().max() == 0) == frozen  # BatchNorm starts with running mean 0


def test_frozen_batchnorm_shares_the_penalty_forward_with_the_base_loss(tmp_path, monkeypatch):
    """One forward for both gives the same training as separate forwards (SGD, so updates are
    proportional to the gradients and comparable), and really skips the base loss's forward."""
    from taser_engine.objectives.standard import Standard

    forwards = []
    original = Standard.loss_from
    monkeypatch.setattr(Standard, "loss_from", lambda self, *a: forwards.append(1) or original(self, *a))
    results, final = {}, {}
    for method in ("jvp", "autograd"):  # autograd runs no tangent batch: the base loss runs its own forward
        forwards.clear()
        config = tiny(method="standard", arch="small_cnn", epochs=1, freeze_batchnorm=True, optimizer="sgd",
                      lr=0.05, taser_lambda=1.0, lambda_warmup_fraction=0.0, penalty={"method": method})
        cb = RecordingCallbacks()
        results[method] = train(config, cb, tmp_path / method)
        final[method] = weights(load_model(tmp_path / method))
        steps = [m for _, scope, m in cb.metrics if scope == "step"]
        assert steps and all(s["loss/taser"] > 0 and "loss/ce" in s for s in steps)
        assert len(forwards) == (0 if method == "jvp" else len(steps))
    for key, value in final["autograd"].items():
        torch.testing.assert_close(final["jvp"][key], value, rtol=1e-4, atol=1e-6)
    assert results["jvp"]["penalty_ms_per_sample"] > 0
