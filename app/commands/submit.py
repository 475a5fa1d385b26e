"""`taser submit KIND [--config FILE]`: validate a job config and queue it; prints the job id."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import UserError
from app.commands._input import INT32_MAX, INT64_MAX, bounded_int, read_json_object


def register(subparsers) -> None:
    from app.jobs import kind_names

    p = subparsers.add_parser("submit", help="queue a job; prints its id")
    p.add_argument("kind", help=f"job kind: {', '.join(kind_names())}")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="JSON file with the kind's config (default: the kind's defaults)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    p.add_argument("--parent", type=bounded_int(1, INT64_MAX), metavar="RUN_ID", help="parent run (fine-tune / evaluation of); the job waits for it to succeed")
    p.add_argument("--priority", type=bounded_int(-INT32_MAX, INT32_MAX), default=0, help="higher runs first (default 0)")
    p.add_argument("--max-attempts", type=bounded_int(1, 1000), default=3,
                   help="attempts before a job whose worker keeps dying is failed (default 3)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write {job_id, run_id, kind, config}")
    p.set_defaults(handler=run)


def run(args) -> int:
    from app.jobs import JobConfigError, normalized_config, referenced_run, referenced_runs
    from db import queue

    raw = _read_config(args.config)
    try:
        config = normalized_config(args.kind, raw)
    except JobConfigError as exc:
        raise UserError(str(exc)) from None
    if args.max_attempts < 1:
        raise UserError("--max-attempts must be at least 1")
    try:
        job_id = queue.submit_job(args.kind, config, name=args.name,
                                  parent_run_id=args.parent or referenced_run(config),
                                  depends_on=referenced_runs(config), tags=args.tag,
                                  priority=args.priority, max_attempts=args.max_attempts)
    except queue.QueueError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        job = queue.get_job(job_id)
        args.json.write_text(json.dumps(
            {"job_id": job_id, "run_id": job.run_id, "kind": args.kind, "config": config}, indent=2))
    print(job_id)
    return 0


def _read_config(path: Path | None) -> dict:
    return {} if path is None else read_json_object(path)
