"""The `taser` command: a thin dispatcher over one module per subcommand.

Each module in `app.commands` exposes `register(subparsers)`, which adds its parser and sets
`handler` to a function taking the parsed arguments and returning an exit code. Modules are
imported lazily by name so that `taser --help` stays fast and one broken optional dependency
cannot take down every subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Subcommand modules under app.commands, in the order `taser --help` lists them.
COMMAND_MODULES = (
    "dashboard",
    "bench",
    "evaluate",
    "table",
    "train",
    "finetune",
    "worker",
    "submit",
    "jobs",
    "toy1d",
    "score_model",
    "demo",
    "study",
    "report",
)


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (the usage itself is one `--help` away); exit code 2 as argparse's."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="taser",
        description="TASER Studio: Task-Aware Stein Regularisation experiments, queue and dashboard.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"app.commands.{name}").register(subparsers)
    return parser


class UserError(Exception):
    """An error caused by the user's input: printed as one line, no traceback."""


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (redirected in job processes and tests)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def show_engine_log() -> None:
    """The engine's `taser.*` log lines (e.g. "score cache: reusing …") on stderr, once."""
    logger = logging.getLogger("taser")
    if not any(isinstance(h, _CurrentStderr) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


EXIT_DATABASE_UNAVAILABLE = 3


def database_unavailable(exc: BaseException) -> str | None:
    """A one-line account of `exc` when it says the database is away, else None.

    Looked at only after a failure, and only when SQLAlchemy is loaded already, so that commands
    that never touch the database (and `taser --help`) do not import it.
    """
    if "sqlalchemy" not in sys.modules:
        return None
    from db.session import DatabaseUnavailableError, database_url, describe, first_line, is_unavailable

    if isinstance(exc, DatabaseUnavailableError):
        return str(exc)
    if not is_unavailable(exc):
        return None
    return (f"the database at {describe(database_url())} is unavailable: {first_line(exc)} "
            "(is it running? TASER_DATABASE_URL names it)")


def main(argv: list[str] | None = None) -> int:
    show_engine_log()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"taser {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"taser {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a database that is away is not a bug: no traceback
        reason = database_unavailable(exc)
        if reason is None:
            raise
        print(f"taser {args.command}: error: {reason}", file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE


if __name__ == "__main__":
    # Run the package module's main, not this __main__ copy: subcommands raise app.cli.UserError,
    # which is a different class from __main__.UserError.
    from app.cli import main as package_main

    sys.exit(package_main())
