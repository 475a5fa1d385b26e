"""`taser demo [--quick] [--wait]`: queue the demo jobs (see app/demo.py) on the bundled data."""

from __future__ import annotations

import json
import time
from pathlib import Path

from app.cli import UserError
from app.commands._args import float_in


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="queue the demo runs on the bundled data (then open the dashboard)")
    p.add_argument("--quick", action="store_true", help="the quick preset (minutes on a CPU) instead of the full one")
    p.add_argument("--wait", action="store_true", help="return when every queued demo job has finished")
    p.add_argument("--timeout", type=float_in(0.0, 30 * 86_400.0), default=3600.0, metavar="S", help="give up waiting after S seconds")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the queued jobs and their final states")
    p.set_defaults(handler=run)


def run(args) -> int:
    from app.demo import queue_demo

    queued, notes = queue_demo(quick=args.quick)
    for note in notes:
        print(f"note: {note}")
    if not queued:
        raise UserError("nothing to queue: none of the demo's job kinds is installed")
    for item in queued:
        print(f"queued {item['kind']:<15} job {item['job_id']:>5}  run {item['run_id']:>5}  ({item['key']})")
    result = {"preset": "quick" if args.quick else "full", "jobs": queued, "skipped": notes}
    status = 0
    if args.wait:
        states = wait_for([item["job_id"] for item in queued], args.timeout)
        for item in queued:
            item["status"] = states[item["job_id"]]
        failed = [item for item in queued if item["status"] != "succeeded"]
        print(f"demo finished: {len(queued) - len(failed)} succeeded, {len(failed)} not "
              + (f"({', '.join(item['key'] + ': ' + item['status'] for item in failed)})" if failed else ""))
        status = 1 if failed else 0
    else:
        print("run `taser dashboard` (it starts a worker) or `taser worker` to execute them")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return status


def wait_for(job_ids: list[int], timeout_s: float, poll_s: float = 2.0) -> dict[int, str]:
    from db import store

    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {job_id: store.get_job(job_id) for job_id in job_ids}
        states = {job_id: job.status for job_id, job in jobs.items()}
        if all(store.is_finished(job) for job in jobs.values()):
            return states
        if time.monotonic() > deadline:
            raise UserError(f"demo not finished after {timeout_s:g} s: "
                            + ", ".join(f"job {j} {s}" for j, s in states.items() if s in ("queued", "running")))
        time.sleep(poll_s)
