"""`taser submit KIND [--config FILE] [--field value ...]`: validate a job config and queue it; prints the job id.

The kind's config fields are flags too (generated from its Config by `ConfigFlags`, as the Launch
page's form is): `taser submit train --epochs 3 --method pgd`. Flags given override the config
file, which overrides the kind's defaults. `taser submit KIND --help` lists the kind's flags.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli import Parser, UserError
from app.commands._args import read_json_object
from app.commands._flags import ConfigFlags

# The options of `taser submit` itself; a config field whose flag is one of these is set through --config.
SUBMIT_OPTIONS = ("--config", "--name", "--tag", "--parent", "--priority", "--max-attempts", "--json")


def register(subparsers) -> None:
    from app.jobs import kind_names

    # allow_abbrev off: a kind's flag (alignment's --n) must not be taken for an abbreviation of --name
    p = subparsers.add_parser("submit", help="queue a job; prints its id", add_help=False, allow_abbrev=False,
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", nargs="?", help=f"job kind: {', '.join(kind_names())}")
    p.add_argument("-h", "--help", action="store_true", help="show this help (with KIND: the kind's flags) and exit")
    add_submit_options(p)
    p.set_defaults(handler=run, takes_config_flags=True, submit_parser=p)


def add_submit_options(p) -> None:
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="JSON file with the kind's config (default: the kind's defaults)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    # numbers are bounded by app.submission.RunOptions, as on the Launch page
    p.add_argument("--parent", type=int, metavar="RUN_ID", help="parent run (fine-tune / evaluation of); the job waits for it to succeed")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    p.add_argument("--max-attempts", type=int, default=3,
                   help="attempts before a job whose worker keeps dying is failed (default 3)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write {job_id, run_id, kind, config}")


def kind_flags(kind: str) -> tuple[ConfigFlags, argparse.ArgumentParser]:
    """The flags of `kind`'s Config and the parser that reads them (it also lists submit's options)."""
    from app.jobs import get_kind

    config_class = get_kind(kind).config_class
    flags = ConfigFlags(config_class, taken=SUBMIT_OPTIONS)
    parser = Parser(prog=f"taser submit {kind}", allow_abbrev=False,
                    description=(config_class.__doc__ or "").strip().splitlines()[0] if config_class.__doc__ else None)
    add_submit_options(parser.add_argument_group("submit options"))
    flags.add_to(parser.add_argument_group(f"{kind} config fields (override --config)"))
    return flags, parser


def run(args) -> int:
    from app.submission import SubmissionError, submit

    if args.kind is None:
        if args.help:
            args.submit_parser.print_help()
            return 0
        args.submit_parser.error("the following arguments are required: kind")
    try:
        flags, parser = kind_flags(args.kind)
    except JobConfigError as exc:
        raise UserError(str(exc)) from None
    given = parser.parse_args([*getattr(args, "extra", []), *(["--help"] if args.help else [])])
    raw = read_json_object(args.config) if args.config is not None else {}
    raw = flags.overrides(given, raw)
    try:
        submitted = submit(args.kind, raw, {"name": args.name, "tags": args.tag, "priority": args.priority,
                                            "max_attempts": args.max_attempts, "parent_run_id": args.parent})
    except SubmissionError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        from app.jobs import normalized_config

        args.json.write_text(json.dumps({"job_id": submitted.job_id, "run_id": submitted.run_id, "kind": args.kind,
                                         "config": normalized_config(args.kind, raw)}, indent=2))
    print(submitted.job_id)
    return 0
