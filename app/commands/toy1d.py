"""`taser toy1d`: the 1D extrapolation study (paper section 5.1): Table 1 beside the paper's
numbers, JSON results, and the Figure-2-like plot as HTML/PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from pydantic import ValidationError

from app.commands._args import int_in
from app.table1 import table1_text
from app.commands._flags import ConfigFlags
from taser_engine.callbacks import Callbacks
from taser_engine.experiments.toy1d import Toy1DConfig, run_study
from taser_engine.fields import MAX_THREADS

FLAGS = ConfigFlags(Toy1DConfig)


def register(subparsers) -> None:
    p = subparsers.add_parser("toy1d", help="1D extrapolation study: L2 vs Stein over a λ grid (paper Table 1, Fig. 2)")
    p.add_argument("--json", metavar="PATH", help="write the study (settings, rows, curves) as JSON")
    p.add_argument("--html", metavar="PATH", help="write the Figure-2-like plot as standalone HTML")
    p.add_argument("--png", metavar="PATH", help="write the Figure-2-like plot as PNG")
    FLAGS.add_to(p)
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="torch intra-op threads (default: torch's; 1 is fastest for these tiny networks on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=run)


class _StderrProgress(Callbacks):
    def on_progress(self, done: int, total: int, message: str = "") -> None:
        print(f"\r{message} [{100 * done / max(total, 1):5.1f}%]", end="", file=sys.stderr, flush=True)


def config_from_args(args) -> Toy1DConfig:
    from app.cli import UserError

    try:
        return Toy1DConfig(**FLAGS.overrides(args))
    except ValidationError as exc:
        raise UserError("; ".join(_flag_message(err) for err in exc.errors())) from None


def _flag_message(err: dict) -> str:
    """A validation error named by the command-line flag it came from."""
    field = str(err["loc"][0]) if err["loc"] else ""
    prefix = f"{FLAGS.option_of(field)}: " if field else ""
    return prefix + err["msg"].removeprefix("Value error, ")


def run(args) -> int:
    from app.cli import UserError

    config = config_from_args(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    study = run_study(config, None if args.quiet else _StderrProgress())
    if not args.quiet:
        print(file=sys.stderr)
    if study["settings"]["stopped_early"]:
        raise UserError("the study was stopped before it finished")
    print(table1_text(study))
    print(f"wall_s: {study['wall_s']:.1f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(study))
    if args.html or args.png:
        from app.figures.export import write_html, write_png
        from app.figures.toy1d import study_figure

        fig = study_figure(study)
        if args.html:
            write_html(fig, args.html)
        if args.png:
            write_png(fig, args.png)
    return 0
