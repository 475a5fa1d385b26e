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
from taser_engine.callbacks import Callbacks
from taser_engine.experiments.toy1d import Toy1DConfig, run_study
from taser_engine.experiments.toy1d_problems import DISTRIBUTIONS, TARGETS
from taser_engine.fields import MAX_THREADS

_DEFAULTS = Toy1DConfig()


def register(subparsers) -> None:
    p = subparsers.add_parser("toy1d", help="1D extrapolation study: L2 vs Stein over a λ grid (paper Table 1, Fig. 2)")
    p.add_argument("--json", metavar="PATH", help="write the study (settings, rows, curves) as JSON")
    p.add_argument("--html", metavar="PATH", help="write the Figure-2-like plot as standalone HTML")
    p.add_argument("--png", metavar="PATH", help="write the Figure-2-like plot as PNG")
    p.add_argument("--seeds", type=int, default=_DEFAULTS.seeds, help="number of seeds (default %(default)s)")
    p.add_argument("--base-seed", type=int, default=_DEFAULTS.base_seed)
    p.add_argument("--lambdas", type=float, nargs="+", default=_DEFAULTS.lambdas, metavar="λ",
                   help="λ grid (default: the paper's 0 1e-4 1e-3 1e-2 1e-1)")
    p.add_argument("--regularisers", nargs="+", default=_DEFAULTS.regularisers, choices=["l2", "stein"])
    p.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="full-batch Adam steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr)
    p.add_argument("--width", type=int, default=_DEFAULTS.width)
    p.add_argument("--depth", type=int, default=_DEFAULTS.depth, help="hidden layers (default %(default)s)")
    p.add_argument("--activation", default=_DEFAULTS.activation, choices=["tanh", "softplus", "silu", "gelu", "relu"])
    p.add_argument("--target", default=_DEFAULTS.target, choices=list(TARGETS))
    p.add_argument("--distribution", default=_DEFAULTS.distribution, choices=list(DISTRIBUTIONS))
    p.add_argument("--n-train", type=int, default=_DEFAULTS.n_train)
    p.add_argument("--n-test", type=int, default=_DEFAULTS.n_test)
    p.add_argument("--stein-centering", default=_DEFAULTS.stein_centering, choices=["none", "batch"])
    p.add_argument("--grid-min", type=float, default=_DEFAULTS.grid_min)
    p.add_argument("--grid-max", type=float, default=_DEFAULTS.grid_max)
    p.add_argument("--grid-points", type=int, default=_DEFAULTS.grid_points)
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="torch intra-op threads (default: torch's; 1 is fastest for these tiny networks on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=run)


class _StderrProgress(Callbacks):
    def on_progress(self, done: int, total: int, message: str = "") -> None:
        print(f"\r{message} [{100 * done / max(total, 1):5.1f}%]", end="", file=sys.stderr, flush=True)


def config_from_args(args) -> Toy1DConfig:
    from app.cli import UserError

    fields = dict(seeds=args.seeds, base_seed=args.base_seed, lambdas=args.lambdas,
                  regularisers=args.regularisers, epochs=args.epochs, lr=args.lr, width=args.width,
                  depth=args.depth, activation=args.activation, target=args.target,
                  distribution=args.distribution, n_train=args.n_train, n_test=args.n_test,
                  stein_centering=args.stein_centering, grid_min=args.grid_min,
                  grid_max=args.grid_max, grid_points=args.grid_points)
    try:
        return Toy1DConfig(**fields)
    except ValidationError as exc:
        raise UserError("; ".join(_flag_message(err) for err in exc.errors())) from None


def _flag_message(err: dict) -> str:
    """A validation error named by the command-line flag it came from."""
    field = str(err["loc"][0]) if err["loc"] else ""
    prefix = f"--{field.replace('_', '-')}: " if field else ""
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
