"""Argument types and the config-file loader every subcommand shares: hostile input is one line.

Numbers that go straight to the database or the machine (ids, limits, intervals) are bounded
here; numbers that become config fields are bounded by the config (pydantic), which the CLI and
the dashboard share.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Callable

# A job config is a few KB of JSON; past this it is not one (and is not read into memory).
MAX_CONFIG_BYTES = 1024**2


def int_in(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in [low, high] ('1e30', '2**63' and out-of-range values refused)."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text[:40]}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    """argparse type: a finite number in [low, high]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be a number from {low:g} to {high:g}, got {text[:40]}")
        return value

    parse.__name__ = "number"
    return parse


def read_json_object(path: Path, flag: str = "--config", max_bytes: int = MAX_CONFIG_BYTES) -> dict[str, Any]:
    """The JSON object in `path`; UserError with one readable line for anything else."""
    from app.cli import UserError

    where = f"{flag} {path}"
    # Two except chains, reading then parsing: each way the file can be wrong gets its own line.
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{where}: is a directory, not a JSON file") from None
    except OSError as exc:
        raise UserError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise UserError(f"{where}: larger than {max_bytes // 1024} KiB, more than such a file holds")
    try:
        payload = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{where}: not UTF-8 text") from None
    except RecursionError:
        raise UserError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise UserError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise UserError(f"{where}: must hold a JSON object, not {type(payload).__name__}")
    return payload
