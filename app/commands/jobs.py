"""`taser jobs`: list the queue, show one job, cancel or re-queue jobs."""

from __future__ import annotations

import json
import sys

from app.cli import UserError
from app.commands._args import int_in
from app.jobs._runs import MAX_ROW_ID

JOB_ID = int_in(1, MAX_ROW_ID)
MAX_LISTED = 100_000  # rows one listing reads and prints


def register(subparsers) -> None:
    p = subparsers.add_parser("jobs", help="list, show, cancel or re-queue jobs")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the list as JSON to PATH (no PATH: to stdout)")
    p.add_argument("--status", action="append", help="only jobs in this state (repeatable)")
    p.add_argument("--kind", help="only jobs of this kind")
    p.add_argument("--limit", type=int_in(1, MAX_LISTED), default=100, help="at most this many, newest first")
    p.set_defaults(handler=list_jobs)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="everything about one job, with its log tail")
    show.add_argument("job_id", type=JOB_ID)
    show.add_argument("--json", nargs="?", const="-", metavar="PATH")
    show.set_defaults(handler=show_job)
    for name, handler, text in (("cancel", cancel_job, "cancel a queued or running job"),
                                ("requeue", requeue_job, "queue a failed or cancelled job again")):
        action = actions.add_parser(name, help=text)
        action.add_argument("job_id", type=JOB_ID)
        action.set_defaults(handler=handler)


def list_jobs(args) -> int:
    from db import store

    jobs = [job.to_dict() for job in
            store.list_jobs(status=args.status, kind=args.kind, limit=args.limit)]
    for job in jobs:
        del job["config"]
    if args.json:
        _write_json(jobs, args.json)
        return 0
    print(f"{'id':>6}  {'kind':<12} {'status':<10} {'progress':>8}  {'eta':>7}  error / message")
    for job in jobs:
        eta = f"{job['eta_s']:.0f}s" if job["eta_s"] else "-"
        note = job["error"] or job["progress_message"]
        print(f"{job['id']:>6}  {job['kind']:<12} {job['status']:<10} {job['progress']:>7.0%}  {eta:>7}  {note}")
    return 0


def show_job(args) -> int:
    from db import store

    job = store.get_job(args.job_id)
    if job is None:
        raise UserError(f"no job with id {args.job_id}")
    details = job.to_dict()
    details["log_tail"] = job.log_tail
    details["run"] = store.get_run(job.run_id).to_dict()
    if args.json:
        _write_json(details, args.json)
        return 0
    for key in ("id", "run_id", "kind", "status", "progress", "progress_message", "eta_s",
                "attempts", "max_attempts", "worker_id", "error", "checkpoint_path",
                "created_at", "started_at", "finished_at"):
        print(f"{key:>17}: {details[key]}")
    waits_for = ", ".join(f"#{d['run_id']} ({d['status']})" for d in details["run"]["dependencies"])
    print(f"{'waits for':>17}: {waits_for or '-'}")
    print(f"{'config':>17}: {json.dumps(details['config'])}")
    print(f"{'metrics':>17}: {', '.join(details['run']['metric_keys']) or '-'}")
    print("--- log tail ---")
    print(job.log_tail.rstrip())
    return 0


def cancel_job(args) -> int:
    from db import store

    before = store.get_job(args.job_id)
    if before is not None and store.is_finished(before):
        print(f"job {args.job_id}: already {before.status}, nothing to cancel")
        return 0
    try:
        status = store.request_cancel(args.job_id)
    except store.QueueError as exc:
        raise UserError(str(exc)) from None
    message = {"cancelled": "cancelled", "running": "cancel requested; it stops at its next step"}
    print(f"job {args.job_id}: {message.get(status, f'already {status}, nothing to cancel')}")
    return 0


def requeue_job(args) -> int:
    from db import store

    try:
        store.requeue(args.job_id)
    except store.QueueError as exc:
        raise UserError(str(exc)) from None
    print(f"job {args.job_id}: queued again (resumes from its last checkpoint)")
    return 0


def _write_json(data, destination: str) -> None:
    text = json.dumps(data, indent=2)
    if destination == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(destination, "w") as handle:
            handle.write(text + "\n")
