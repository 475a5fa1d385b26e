"""Hostile input: bounded configs, inputs only under the data roots, one-line CLI errors.

Configs (issue 15, item 4): every field that sizes work or memory has an upper bound, floats are
finite, and local paths lie under the artifact root or `TASER_DATA_ROOTS`, refused with the same
message whether they exist or not. The CLI (item 5) answers hostile arguments and config files
with exit code 2 and one line. Most CLI cases call `app.cli.main` in-process (the same parser and
handlers as `taser`); two run the real command to show no traceback reaches the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.jobs import JobConfigError, validate_config
from taser_engine.fields import MAX_BATCH, MAX_WIDTH

ROOT = Path(__file__).resolve().parent.parent
HUGE = 10**30


@pytest.fixture(autouse=True)
def _roots(tmp_path, monkeypatch):
    """Artifact root and one data root under tmp_path; everything else is outside."""
    (tmp_path / "artifacts" / "runs" / "1").mkdir(parents=True)
    (tmp_path / "data" / "cifar").mkdir(parents=True)
    monkeypatch.setenv("TASER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("TASER_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("TASER_DATABASE_URL", f"sqlite:///{tmp_path / 'taser.db'}")
    from db.session import dispose_engines

    dispose_engines()
    yield
    dispose_engines()


# ---------------------------------------------------------------- bounds on every kind's config

OVERSIZE = [
    ("train", {"width": 10**9}, "width"),
    ("train", {"eval_batch_size": 10**9}, "eval_batch_size"),
    ("train", {"batch_size": MAX_BATCH + 1}, "batch_size"),
    ("train", {"lr": 1e308}, "lr"),
    ("train", {"epochs": HUGE}, "epochs"),
    ("train", {"gpus": 1000}, "gpus"),
    ("train", {"seed": 2**63}, "seed"),
    ("train", {"taser_lambda": 1e300}, "taser_lambda"),
    ("train", {"penalty": {"num_probes": 10**6}}, "num_probes"),
    ("train", {"max_train_samples": HUGE}, "max_train_samples"),
    ("train", {"device": "cuda:" + "9" * 100_000}, "device"),
    ("train", {"score_model_run": 2**63}, "score_model_run"),
    ("finetune", {"source_run": 1, "alpha": 1e200}, "alpha"),
    ("finetune", {"source_run": 1, "eta_max": 1e308}, "eta_max"),
    ("finetune", {"source_run": HUGE}, "source_run"),
    ("evaluate", {"model_run": 1, "n_eval": HUGE}, "n_eval"),
    ("evaluate", {"model_run": 1, "batch_size": 10**9}, "batch_size"),
    ("evaluate", {"model_run": 1, "spsa_nb_sample": 10**9}, "spsa_nb_sample"),
    ("evaluate", {"model_run": 1, "iteration_check": [1, HUGE]}, "iteration_check"),
    ("evaluate", {"model_run": 1, "attacks": ["spsa"] * 100_000}, "attacks"),
    ("score-model", {"epochs": HUGE}, "epochs"),
    ("score-model", {"batch_size": 10**9}, "batch_size"),
    ("score-model", {"block_out_channels": [10**6]}, "block_out_channels"),
    ("score-model", {"device": "x" * 1000}, "device"),
    ("toy1d", {"lambdas": [1e30]}, "lambdas"),
    ("toy1d", {"grid_max": 1e300}, "grid_max"),
    ("bench-overhead", {"batch_size": 10**9}, "batch_size"),
    ("bench-overhead", {"repeats": 10**9}, "repeats"),
    ("bench-overhead", {"models": ["small_cnn"] * 10_000}, "models"),
    ("alignment", {"model_run": 1, "n": 10**9}, "n"),
    ("alignment", {"model_run": 1, "seed": -1}, "seed"),
    ("count", {"x0": 1e200}, "x0"),
    ("count", {"steps": HUGE}, "steps"),
    ("noop", {"tag": "x" * 10 * 1024**2}, "tag"),
]


@pytest.mark.parametrize("kind, raw, field", OVERSIZE, ids=[f"{k}-{f}" for k, _, f in OVERSIZE])
def test_oversize_values_are_refused_naming_the_field(kind, raw, field):
    with pytest.raises(JobConfigError, match=field) as info:
        validate_config(kind, raw)
    assert len(str(info.value)) < 1000  # the message does not echo a 10 MB value


def test_real_gpu_work_stays_valid(tmp_path):
    cifar = str(tmp_path / "data" / "cifar")
    train = validate_config("train", {"dataset": "cifar10", "data_root": cifar, "arch": "resnet18",
                                      "batch_size": 512, "epochs": 200, "eval_batch_size": 1024, "gpus": 8,
                                      "method": "trades-awp", "taser": True})
    assert train.data_root == cifar and train.width is None
    evaluation = validate_config("evaluate", {"model_run": 1, "n_eval": 10_000, "batch_size": 500,
                                              "attacks": ["autoattack", "spsa"]})
    assert evaluation.n_eval == 10_000
    validate_config("score-model", {"dataset": "cifar10", "data_root": cifar, "epochs": 500,
                                    "batch_size": 128, "block_out_channels": [128, 256, 256, 256]})
    validate_config("bench-overhead", {"models": ["resnet18"], "batch_size": 512, "repeats": 20})
    validate_config("train", {"arch": "resnet18", "width": MAX_WIDTH})


def test_an_uploaded_model_description_is_bounded_too():
    from pydantic import ValidationError

    from taser_engine.models import ModelSpec

    for oversize in ({"width": 10**9}, {"image_size": 10**6}, {"num_classes": 10**9}, {"mean": [0.5] * 10**5}):
        with pytest.raises(ValidationError):
            ModelSpec(**oversize)


# ---------------------------------------------------------------- input paths under the roots

def _path_error(kind: str, raw: dict) -> str:
    with pytest.raises(JobConfigError) as info:
        validate_config(kind, raw)
    return str(info.value)


@pytest.mark.parametrize("kind, field, extra", [
    ("train", "data_root", {}), ("train", "score_model", {"taser": True}),
    ("score-model", "data_root", {}), ("alignment", "score_model", {"model_run": 1, "score": "diffusion"}),
    ("alignment", "data_root", {"model_run": 1}),
])
def test_paths_outside_the_roots_are_refused_alike_whether_they_exist_or_not(tmp_path, kind, field, extra):
    (tmp_path / "secret").mkdir()
    (tmp_path / "artifacts" / "runs" / "1" / "out").symlink_to(tmp_path / "secret")
    escapes = [str(tmp_path / "secret"), "/etc", "../../../../etc", str(tmp_path / "data" / ".." / "secret"),
               str(tmp_path / "artifacts" / "runs" / "1" / "out"), "a/../..", "/"]
    if field == "data_root":  # only a score model may be a hub id or 'gaussian': here they are relative paths
        escapes += ["etc/ssl", "gaussian"]
    missing = [str(tmp_path / "no-such-dir"), "/etc/no-such-dir", "../../../../no-such-dir"]
    messages = {_path_error(kind, {**extra, field: path}) for path in escapes + missing}
    assert len(messages) == 1, messages  # one message: nothing tells an existing path from a missing one
    (message,) = messages
    assert field in message and "not under an allowed root" in message and "secret" not in message


def test_paths_under_the_roots_hub_ids_and_run_ids_are_accepted(tmp_path):
    data = tmp_path / "data"
    config = validate_config("train", {"data_root": str(data / "cifar" / ".." / "cifar"), "taser": True,
                                       "score_model": "google/ddpm-cifar10-32"})
    assert config.data_root == str(data / "cifar")  # stored resolved, so every worker reads the same
    assert config.score_model == "google/ddpm-cifar10-32"
    (tmp_path / "artifacts" / "runs" / "1" / "model.safetensors").write_bytes(b"")
    tuned = validate_config("finetune", {"source_run": 1, "score_model_run": 1})
    assert tuned.source == tuned.score_model == str(tmp_path / "artifacts" / "runs" / "1")
    (data / "link").symlink_to(data / "cifar")
    assert validate_config("score-model", {"data_root": str(data / "link")}).data_root == str(data / "cifar")


def test_a_score_cache_file_lies_under_a_root_too(tmp_path):
    """The worker writes a missing cache file: outside the roots it would be a write anywhere."""
    for outside in ("/etc/scores.safetensors", str(tmp_path / "secret" / "scores.safetensors"),
                    "../../../../tmp/scores.safetensors"):
        message = _path_error("train", {"taser": True, "score_cache": outside})
        assert "score_cache" in message and "not under an allowed root" in message
    inside = str(tmp_path / "data" / "scores.safetensors")
    assert validate_config("train", {"taser": True, "score_cache": inside}).score_cache == inside
    for word in ("auto", "off"):
        assert validate_config("train", {"taser": True, "score_cache": word}).score_cache == word


# ---------------------------------------------------------------- names, tags, notes, priorities

@pytest.mark.parametrize("values, field", [
    ({"name": "x" * 201}, "name"), ({"tags": ["x" * 65]}, "tags"), ({"tags": [str(i) for i in range(33)]}, "tags"),
    ({"notes": "x" * 10_001}, "notes"), ({"priority": 2**63}, "priority"), ({"priority": -(10**7)}, "priority"),
    ({"max_attempts": 0}, "max_attempts"), ({"max_attempts": HUGE}, "max_attempts"),
    ({"parent_run_id": 2**31}, "parent_run_id"), ({"parent_run_id": -1}, "parent_run_id"),
])
def test_run_options_are_bounded_as_the_database_columns(values, field):
    from app.submission import run_options

    with pytest.raises(ValueError, match=field):
        run_options(**values)


def test_run_options_keep_what_fits():
    from app.submission import run_options

    options = run_options(name="x" * 200, tags=[" a ", "", "b", "a"], priority=-5)
    assert options.name == "x" * 200 and options.tags == ["a", "b"] and options.priority == -5


# ---------------------------------------------------------------- the CLI: exit 2, one line

def _files(tmp_path: Path) -> dict[str, str]:
    files = {"not-utf8.json": b'\xff\xfe{"steps": 1}', "deep.json": b"[" * 200_000 + b"]" * 200_000,
             "deep-object.json": b'{"": ' * 100_000 + b"1" + b"}" * 100_000, "list.json": b"[1, 2]",
             "bad.json": b"{steps: 1", "big.json": b'{"tag": "' + b"x" * (2 * 1024**2) + b'"}',
             "wide.json": json.dumps({"width": 10**9}).encode()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "a-directory").mkdir()
    return {name: str(tmp_path / name) for name in [*files, "a-directory", "missing.json"]}


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


def test_hostile_cli_input_is_exit_2_and_one_line(tmp_path, capsys):
    f = _files(tmp_path)
    out = str(tmp_path / "run")
    cases = [
        *(["submit", "noop", "--config", f[name]] for name in
          ("not-utf8.json", "deep.json", "deep-object.json", "list.json", "bad.json", "big.json",
           "a-directory", "missing.json")),
        *(["train", "--config", f[name], "--out", out] for name in
          ("not-utf8.json", "deep.json", "list.json", "a-directory", "missing.json", "wide.json")),
        ["table", "--runs", f["deep.json"]], ["table", "--runs", f["a-directory"]],
        ["submit", "train", "--config", f["wide.json"]],
        ["submit", "noop", "--priority", "1e30"], ["submit", "noop", "--priority", "2**63"],
        ["submit", "noop", "--priority", str(2**63)], ["submit", "noop", "--max-attempts", "1e30"],
        ["submit", "noop", "--max-attempts", str(10**30)], ["submit", "noop", "--max-attempts", "-1"],
        ["submit", "noop", "--parent", "1e30"], ["submit", "noop", "--parent", str(10**30)],
        ["submit", "noop", "--parent", "-1"], ["submit", "noop", "--name", "x" * 100_000],
        ["submit", "noop", "--tag", "x" * 10 * 1024**2],
        ["jobs", "show", str(10**20)], ["jobs", "cancel", "-1"], ["jobs", "requeue", "1e30"],
        ["jobs", "--limit", "-5"],
        ["worker", "--lease", "inf"], ["worker", "--poll-interval", "nan"], ["worker", "--max-jobs", "0"],
        ["demo", "--timeout", "1e400"],
        ["table", "--paper", "--n-boot", "-1"], ["table", "--paper", "--n-boot", str(10**30)],
        ["report", "--runs", "1-100000000000", "--out", str(tmp_path / "r.html")],
        ["report", "--runs", str(10**30), "--out", str(tmp_path / "r.html")],
        ["toy1d", "--threads", "0"], ["toy1d", "--width", str(10**9)], ["toy1d", "--lambdas", "nan"],
        ["dashboard", "--port", "70000"],
        ["evaluate", "--model", out, "--n", "1e30"], ["evaluate", "--model", out, "--n", str(10**30)],
        ["evaluate", "--model", out, "--train-ms-per-sample", "inf"],
        ["train", "--width", str(10**9), "--epochs", "1", "--out", out],
        ["train", "--lr", "1e308", "--epochs", "1", "--out", out],
        ["train", "--epochs", "-1", "--out", out],
        ["score-model", "train", "--epochs", str(10**30), "--out", out],
        ["score-model", "check", out, "--timestep", str(10**30)],
        ["score-model", "calibrate", out, "--timesteps", "1,99999999999999999999"],
        ["bench", "overhead", "--batch-size", str(10**9)], ["bench", "overhead", "--fractions", "nan"],
    ]
    for argv in cases:
        code, err = _cli(argv, capsys)
        shown = " ".join(arg[:60] for arg in argv)
        assert code == 2, (shown, code, err[-500:])
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (shown, err[-500:])
        assert len(err) < 2000, shown  # one readable line, not the hostile value echoed back


def test_nothing_hostile_was_queued(tmp_path, capsys):
    from db.store import list_runs

    f = _files(tmp_path)
    for argv in (["submit", "train", "--config", f["wide.json"]], ["submit", "noop", "--name", "x" * 201],
                 ["submit", "train", "--config", _write(tmp_path, {"data_root": "/etc"})]):
        assert _cli(argv, capsys)[0] == 2
    assert main(["submit", "noop", "--name", "x" * 200, "--priority", "-3"]) == 0
    assert [run["name"] for run in list_runs(light=True)] == ["x" * 200]


def _write(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize("argv", [
    ["submit", "noop", "--config", "deep.json"],
    ["submit", "noop", "--priority", str(2**63)],
])
def test_the_real_command_prints_one_line_and_no_traceback(tmp_path, argv):
    (tmp_path / "deep.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    argv = [str(tmp_path / arg) if arg.endswith(".json") else arg for arg in argv]
    done = subprocess.run([sys.executable, "-m", "app.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


# ---------------------------------------------------------------- the Launch form, same configs

def test_the_launch_form_shows_each_refusal_under_its_field_and_queues_nothing(tmp_path):
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    from db.store import list_runs
    from tests.dashboard_support import MAIN

    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page("screens/launch.py").run()
    at.selectbox(key="launch.kind").set_value("train").run()
    from app.dashboard.presets import DEFAULTS

    prefix = f"launch.train.{DEFAULTS}"
    at.text_input(key=f"{prefix}.data_root").set_value(str(tmp_path / "secret"))
    at.text_input(key=f"{prefix}.width").set_value(str(10**9))
    at.number_input(key=f"{prefix}.eval_batch_size").set_value(10**9)
    at.text_input(key="launch.train.name").set_value("x" * 201)
    next(button for button in at.button if button.label == "Queue this run").click().run()
    assert not at.exception
    errors = [item.value for item in at.error]
    summary = next(text for text in errors if "Nothing was queued" in text)
    for field in ("data_root", "width", "eval_batch_size", "name"):
        assert field in summary
    assert any(text.startswith("Value error, not under an allowed root") for text in errors)  # under data_root
    assert "Input should be less than or equal to 512" in errors  # under width
    assert "String should have at most 200 characters" in errors  # under the run name
    assert list_runs(light=True) == []
