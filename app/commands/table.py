"""`taser table`: the paper's Table 2 or Table 3 from `taser evaluate` results (or the paper's own).

Runs are paired by their training method; each JSON says whether TASER was used. Output goes to
stdout as CSV, Markdown or LaTeX; `--json` writes the rows (accuracies as fractions, CIs included).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands._args import int_in, read_json_object
from taser_engine.checkpoints import atomic_write_json
from taser_engine.evaluation.bootstrap import BOOTSTRAP_SEED, N_BOOTSTRAP
from taser_engine.fields import MAX_SEED
from taser_engine.evaluation.tables import (
    FORMATS, LAYOUTS, RunEval, TableError, build_table, paper_table, render,
)


MAX_RESULT_BYTES = 256 * 1024**2  # an evaluation of 10,000 points with every attack is a few MiB


def register(subparsers) -> None:
    p = subparsers.add_parser("table", help="paper-style robustness tables (Table 2 / Table 3) with bootstrap CIs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", type=Path, default=[], help="`taser evaluate --json` results")
    p.add_argument("--layout", choices=LAYOUTS, default="table2")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("--paper", action="store_true", help="print the paper's own table instead of --runs")
    # at least 100 resamples for a 95% interval; each resample is a pass over every point
    p.add_argument("--n-boot", type=int_in(100, 1_000_000), default=N_BOOTSTRAP, help="bootstrap resamples")
    p.add_argument("--bootstrap-seed", type=int_in(0, MAX_SEED), default=BOOTSTRAP_SEED)
    p.add_argument("--json", type=Path, help="write the table rows here")
    p.set_defaults(handler=run)


def _load(path: Path) -> RunEval:
    from app.cli import UserError

    payload = read_json_object(path, "--runs", max_bytes=MAX_RESULT_BYTES)
    try:
        return RunEval.from_json(payload, str(path))
    except ValueError as exc:  # includes TableError
        raise UserError(f"{path}: {exc}" if not isinstance(exc, TableError) else str(exc)) from None


def run(args) -> int:
    from app.cli import UserError

    if args.paper == bool(args.runs):
        raise UserError("give either --runs FILE... or --paper")
    try:
        table = (paper_table(args.layout) if args.paper else
                 build_table(args.layout, [_load(p) for p in args.runs], n_boot=args.n_boot,
                             seed=args.bootstrap_seed))
    except TableError as exc:
        raise UserError(str(exc)) from None
    print(render(table, args.format), end="")
    if args.json:
        atomic_write_json(args.json, {**table.to_json(), "runs": [str(p) for p in args.runs]})
    return 0
