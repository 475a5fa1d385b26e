"""What a job uses of the machine, stored as the run's `system/...` metrics.

The worker samples the job's process tree (the job's process and every process below it, e.g.
data-loader workers) from /proc, from outside the job, so a job that hangs in C code is still
measured: CPU % (100 = one core busy) and resident memory now and at its peak. The job's own
process adds what only it can see, the CUDA memory of its process and the device's utilisation
(`gpu_usage`), when it uses CUDA. Where /proc is missing (not Linux) nothing is sampled;
psutil is not needed.

A sample's step is whole seconds since the job first started (attempts after a resume go on
counting from there), as system curves are read against time, not training steps.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PREFIX = "system/"
MB = 1024 * 1024
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; the command name may hold spaces and parentheses."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """`root` and its descendants that are alive now (root first); [] when root is gone."""
    children: dict[int, list[int]] = {}
    try:
        entries = [entry.name for entry in PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        fields = _stat_fields(int(name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    if _stat_fields(root) is None:
        return []
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _cpu_ticks(fields: list[str]) -> int:
    # utime, stime, and the children's that have ended and been waited for (cutime, cstime):
    # a data-loader that exited still counts.
    return sum(int(value) for value in fields[11:15])


def _rss_bytes(pid: int) -> int:
    try:
        return int((PROC / str(pid) / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of one process's resident memory (VmHWM)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _uptime_s() -> float:
    return float((PROC / "uptime").read_text().split()[0])


class TreeSampler:
    """Samples the process tree under one pid; each `sample()` is the use since the one before
    (the first: since the root process started)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ticks_per_s = os.sysconf("SC_CLK_TCK")
        self._last: tuple[float, int] | None = None  # (uptime, CPU ticks) at the last sample
        self.peak_rss = 0

    def sample(self) -> dict[str, float]:
        """{"system/cpu_percent", "system/rss_mb", "system/peak_rss_mb"}; {} when the process
        is gone or /proc cannot be read."""
        try:
            now = _uptime_s()
        except (OSError, ValueError, IndexError):
            return {}
        stats = {pid: fields for pid in process_tree(self.pid) if (fields := _stat_fields(pid))}
        if self.pid not in stats:
            return {}
        ticks = sum(_cpu_ticks(fields) for fields in stats.values())
        since, before = self._last or (int(stats[self.pid][19]) / self.ticks_per_s, 0)
        self._last = (now, ticks)
        rss = sum(_rss_bytes(pid) for pid in stats)
        self.peak_rss = max(self.peak_rss, rss, _peak_rss_bytes(self.pid))
        elapsed = now - since
        metrics = {f"{PREFIX}rss_mb": rss / MB, f"{PREFIX}peak_rss_mb": self.peak_rss / MB}
        if elapsed > 0:
            metrics[f"{PREFIX}cpu_percent"] = max(0.0, (ticks - before) / self.ticks_per_s / elapsed * 100)
        return metrics


def gpu_usage() -> dict[str, float]:
    """The calling process's CUDA memory, now, reserved and at its peak, and the device's
    utilisation where NVML answers; {} unless this process has started using CUDA (torch is
    never imported for it, and a machine without a GPU gives {})."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return {}
        device = torch.cuda.current_device()
        usage = {f"{PREFIX}gpu_memory_mb": torch.cuda.memory_allocated(device) / MB,
                 f"{PREFIX}gpu_reserved_mb": torch.cuda.memory_reserved(device) / MB,
                 f"{PREFIX}gpu_peak_memory_mb": torch.cuda.max_memory_allocated(device) / MB}
    except Exception:  # noqa: BLE001 - a driver in a bad state must not fail the job
        return {}
    try:
        usage[f"{PREFIX}gpu_utilization_percent"] = float(torch.cuda.utilization(device))
    except Exception:  # noqa: BLE001 - NVML (pynvml) missing or unsupported: memory only
        pass
    return usage
