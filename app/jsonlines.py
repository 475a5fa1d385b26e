"""Append-only JSON-lines files that one process writes and another follows.

Used where records must pass between processes without being lost when either one dies: a
job's process journals its metric points beside its checkpoints (the worker copies them into
the database when it can), and process 0 of a data-parallel run reports to its launcher.

Each record is appended with a single `write` of one whole line, so a reader that consumes
complete lines only never sees half a record. A writer killed mid-line leaves a fragment; the
next writer ends that line first, and readers skip a line that does not parse. Light on
purpose (no SQL, no torch): job processes import it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonLinesWriter:
    """Appends records to `path`, opened on the first append."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def append(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if _ends_mid_line(self.path):
                os.write(self._fd, b"\n")
        os.write(self._fd, (json.dumps(record) + "\n").encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JsonLinesTail:
    """Follows `path` from `offset`: `peek` the complete records after it, `advance` past them
    once they are dealt with (so a record whose handling failed is offered again)."""

    def __init__(self, path: str | Path, offset: int = 0) -> None:
        self.path, self.offset = Path(path), offset

    def has_more(self) -> bool:
        """Is there a complete line after the offset? (Cheap when there is nothing new.)"""
        try:
            if self.path.stat().st_size <= self.offset:
                return False
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                return b"\n" in handle.read()
        except FileNotFoundError:
            return False

    def peek(self, max_records: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """(records, offset after the last of them); at most `max_records` records."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return [], self.offset
        records: list[dict[str, Any]] = []
        position = self.offset
        start = 0
        while max_records is None or len(records) < max_records:
            end = data.find(b"\n", start)
            if end < 0:
                break
            line = data[start:end].strip()
            start = end + 1
            position = self.offset + start
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except ValueError:  # the fragment a killed writer left
                continue
        return records, position

    def advance(self, offset: int) -> None:
        self.offset = offset

    def read(self) -> list[dict[str, Any]]:
        """Every complete record since the last call, consumed."""
        records, self.offset = self.peek()
        return records


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
