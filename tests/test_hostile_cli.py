"""Hostile or broken CLI input ends in exit code 2 and one readable line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.cli import main

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def _config_files(tmp_path):
    (tmp_path / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "folder").mkdir()
    return {"not UTF-8": "latin1.json", "nested too deeply": "deep.json", "JSON object": "list.json",
            "not valid JSON": "broken.json", "is a directory": "folder", "no such file": "missing.json"}


@pytest.mark.parametrize("command", [["train", "--out", "OUT"], ["submit", "noop"]], ids=["train", "submit"])
def test_bad_config_files_are_one_line_errors(tmp_path, capsys, command, queue_db):
    for reason, name in _config_files(tmp_path).items():
        argv = [a.replace("OUT", str(tmp_path / "run")) for a in command] + ["--config", str(tmp_path / name)]
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert reason in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("flags", [["--priority", "1e30"], ["--priority", str(2**63)], ["--max-attempts", "1e30"],
                                   ["--max-attempts", "0"], ["--parent", "1e30"], ["--parent", "-1"]])
def test_out_of_range_numbers_are_refused_by_the_parser(flags, capsys):
    with pytest.raises(SystemExit) as info:
        main(["submit", "noop", *flags])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flags[0] in err and "Traceback" not in err


def test_a_real_process_prints_no_traceback(tmp_path):
    (tmp_path / "deep.json").write_text("{\"a\": " * 100_000 + "1" + "}" * 100_000)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "train", "--out", str(tmp_path / "run"),
                           "--config", str(tmp_path / "deep.json")], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "nested too deeply" in proc.stderr
