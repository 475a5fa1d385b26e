"""Untrusted model files are never executed, and a failed write never loses the previous file."""

import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

from taser_engine.checkpoints import CheckpointError, load_model, save_model
from taser_engine.models import ModelSpec, build_model


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # creating the marker file proves the code ran


def _code_running_pickle(folder):
    """(evil.pt, marker): a pickle that would create `marker` if loaded, beside a model.json."""
    save_model(folder, build_model(ModelSpec(width=4)))  # model.json beside the file
    marker = folder / "pwned"
    evil = folder / "evil.pt"
    with open(evil, "wb") as handle:
        pickle.dump({"weight": _RunsCode(str(marker))}, handle, protocol=2)
    return evil, marker


def test_pickle_that_would_run_code_is_refused(tmp_path):
    evil, marker = _code_running_pickle(tmp_path)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(evil)
    assert not marker.exists()


def test_plain_torch_state_dict_file_is_accepted(tmp_path):
    model = build_model(ModelSpec(width=4))
    save_model(tmp_path, model)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = load_model(tmp_path / "weights.pt")
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path):
    """A write that the OS refuses (file-size limit, as on a full disk) keeps the old file."""
    small = build_model(ModelSpec(width=4))
    save_model(tmp_path, small)
    before = (tmp_path / "model.safetensors").read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from taser_engine.checkpoints import save_model
        from taser_engine.models import ModelSpec, build_model
        big = build_model(ModelSpec(width=64))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        try:
            save_model({str(tmp_path)!r}, big)
        except OSError as exc:
            print("write failed:", exc.strerror)
            sys.exit(3)
        sys.exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    load_model(tmp_path)


@pytest.mark.parametrize("command", ["evaluate", "finetune"])
def test_cli_refuses_a_code_running_pickle_with_a_clear_message(tmp_path, capsys, command):
    from app.cli import main

    evil, marker = _code_running_pickle(tmp_path)
    argv = (["evaluate", "--model", str(evil), "--n", "5", "--attacks", "spsa", "--quiet"]
            if command == "evaluate" else
            ["finetune", "--from", str(evil), "--epochs", "1", "--out", str(tmp_path / "ft"), "--quiet"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.parametrize("junk", [bytes(range(64)), b"PK\x03\x04" + bytes(60), b"", b"\x00" * 7],
                         ids=["random", "zip-header", "empty", "zeros"])
def test_a_junk_pytorch_file_is_a_checkpoint_error_not_a_crash(tmp_path, junk):
    from taser_engine.checkpoints import CheckpointError, read_state_dict

    path = tmp_path / "junk.pt"
    path.write_bytes(junk)
    with pytest.raises(CheckpointError, match="junk.pt"):
        read_state_dict(path)
