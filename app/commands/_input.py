"""What every command reads from the user, checked once: config files and bounded integer flags.

Hostile or broken input (a directory as --config, bytes that are not UTF-8, JSON nested deeper
than Python's parser recurses, numbers beyond what the database stores) ends in one readable
line and exit code 2 (`UserError`), never a traceback.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

INT32_MAX = 2**31 - 1  # the queue's integer columns (priority, attempts) on every backend
INT64_MAX = 2**63 - 1  # ids


def read_json_object(path: Path, flag: str = "--config") -> dict:
    """The JSON object in `path`, or UserError saying in one line why it cannot be read."""
    from app.cli import UserError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{flag} {path}: is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise UserError(f"{flag} {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{flag} {path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise UserError(f"{flag} {path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise UserError(f"{flag} {path}: must hold a JSON object, not {type(data).__name__}")
    return data


def bounded_int(low: int, high: int):
    """An argparse type: a decimal integer in [low, high] (argparse reports anything else, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high}]")
        return value
    parse.__name__ = "integer"
    return parse
