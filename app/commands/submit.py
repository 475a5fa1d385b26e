"""`taser submit KIND [--config FILE]`: validate a job config and queue it; prints the job id."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import UserError
from app.commands._args import read_json_object


def register(subparsers) -> None:
    from app.jobs import kind_names

    p = subparsers.add_parser("submit", help="queue a job; prints its id")
    p.add_argument("kind", help=f"job kind: {', '.join(kind_names())}")
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
    p.set_defaults(handler=run)


def run(args) -> int:
    from app.jobs import JobConfigError, normalized_config, referenced_run, referenced_runs
    from app.submission import run_options
    from db import store

    raw = read_json_object(args.config) if args.config is not None else {}
    try:
        config = normalized_config(args.kind, raw)
        options = run_options(name=args.name, tags=args.tag, priority=args.priority,
                              max_attempts=args.max_attempts, parent_run_id=args.parent)
    except (JobConfigError, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        job_id = store.submit_job(args.kind, config, name=options.name,
                                  parent_run_id=options.parent_run_id or referenced_run(config),
                                  depends_on=referenced_runs(config), tags=options.tags,
                                  priority=options.priority, max_attempts=options.max_attempts)
    except store.QueueError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        job = store.get_job(job_id)
        args.json.write_text(json.dumps(
            {"job_id": job_id, "run_id": job.run_id, "kind": args.kind, "config": config}, indent=2))
    print(job_id)
    return 0
