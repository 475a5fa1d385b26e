"""The `taser` command: a thin dispatcher over one module per subcommand.

Each module in `app.commands` exposes `register(subparsers)`, which adds its parser and sets
`handler` to a function taking the parsed arguments and returning an exit code. Every module is
imported when the parser is built (its flags and help are needed for `taser --help`), so a module
that fails to import fails every subcommand; modules keep heavy imports inside their handlers where
they can, to keep `taser --help` quick.
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
    "runs",
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


def _exit_code(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def main(argv: list[str] | None = None) -> int:
    show_engine_log()
    from app.plugins import PluginError, load_plugins

    try:  # before the parser: a plug-in's names are choices of the commands' flags
        load_plugins()
    except PluginError as exc:
        print(f"taser: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    # Commands whose flags depend on an argument (`taser submit KIND --field ...`) read the rest
    # themselves; for any other command an unknown flag is argparse's usual one-line error.
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "takes_config_flags", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse printed its one-line error (or the help): its code is ours
        return _exit_code(exc)
    args.extra = extra
    try:
        return int(args.handler(args) or 0)
    except SystemExit as exc:  # a command's own argparse step (`taser submit KIND --bad-flag`)
        return _exit_code(exc)
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
