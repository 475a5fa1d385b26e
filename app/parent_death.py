"""Processes that must not outlive the process that started them (Linux's PR_SET_PDEATHSIG).

A job child outliving its worker would keep writing checkpoints for a job the queue has given to
another worker; a torchrun process outliving its launcher would hold the GPUs. Elsewhere than Linux
this is a no-op: the worker's lease and the launcher's own clean-up remain the only guards.
"""

from __future__ import annotations

import os
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(signum: int, parent_pid: int | None = None) -> None:
    """Get `signum` when the parent dies; with `parent_pid`, exit now if it has died already.

    The check covers the parent dying before prctl took effect (the signal is then never sent).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    except OSError:
        pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
