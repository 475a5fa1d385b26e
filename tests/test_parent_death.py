"""`app.parent_death.die_with_parent`: the job child's and the torchrun launcher's one guard against orphans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

CHILD = """
import ctypes, signal, sys
from app.parent_death import die_with_parent
die_with_parent(signal.SIGTERM, int(sys.argv[1]) if len(sys.argv) > 1 else None)
got = ctypes.c_int()
ctypes.CDLL("libc.so.6").prctl(2, ctypes.byref(got))  # PR_GET_PDEATHSIG
print(got.value)
"""


def _child(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_signal_is_set_and_a_living_parent_is_kept():
    import signal

    assert _child().stdout.strip() == str(int(signal.SIGTERM))
    assert _child(str(os.getpid())).stdout.strip() == str(int(signal.SIGTERM))


def test_a_child_whose_parent_is_already_gone_exits_at_once():
    done = _child(str(2**22 + 1))  # not this process: as if the parent had died before prctl took effect
    assert done.returncode == 1 and done.stdout == ""
