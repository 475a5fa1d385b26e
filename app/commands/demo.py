"""`taser demo [--quick] [--wait]`: queue the demo jobs (see app/demo.py) on the bundled data."""

from __future__ import annotations

import json
import time
from pathlib import Path

from app.cli import UserError
from app.commands._args import float_in

# Measured, not hoped for (issue 18): the quick plan took 27 min on a 2-core machine, and 53 min
# on one shared with other test runs (load 5-17): 1D study 2.5, overhead 2.4, score model 10.5,
# trainings 0.1-0.7 min each, and its four evaluations (AutoAttack standard + SPSA on 100 digits)
# 24, 8, 2.7 and 0.6 min as that load fell. The full plan (every method, 10 epochs, 300 digits
# evaluated) was not timed; by the same rates it takes hours.
QUICK_TAKES = "about half an hour on 2 CPU cores, up to an hour on a busy machine; mostly its evaluations"
FULL_TAKES = "hours on 2 CPU cores"

# `--wait` starts no worker (a worker is its own process: `taser worker`, or the one `taser
# dashboard` starts); after this long with the demo's jobs still queued and no worker heartbeating,
# say so once instead of waiting in silence.
NO_WORKER_AFTER_S = 10.0
NO_WORKER_MESSAGE = ("no worker is running, so the demo's jobs wait in the queue: start one in another shell "
                     "with `taser worker` (or `taser dashboard`, which starts one); still waiting")


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="queue the demo runs on the bundled data (then open the dashboard)")
    p.add_argument("--quick", action="store_true",
                   help=f"the quick preset (2 methods: {QUICK_TAKES}) instead of the full one ({FULL_TAKES})")
    p.add_argument("--wait", action="store_true", help="return when every queued demo job has finished (it starts "
                   "no worker: run `taser worker` or `taser dashboard` alongside; it says so when none is running)")
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


def wait_for(job_ids: list[int], timeout_s: float, poll_s: float = 2.0,
             no_worker_after_s: float = NO_WORKER_AFTER_S) -> dict[int, str]:
    from db import store

    started = time.monotonic()
    deadline = started + timeout_s
    told = False
    while True:
        jobs = {job_id: store.get_job(job_id) for job_id in job_ids}
        states = {job_id: job.status for job_id, job in jobs.items()}
        if all(store.is_finished(job) for job in jobs.values()):
            return states
        if not told and time.monotonic() - started >= no_worker_after_s and "queued" in states.values() \
                and "running" not in states.values() and not store.active_workers():
            print(f"note: {NO_WORKER_MESSAGE} (at most {timeout_s:g} s, --timeout)", flush=True)
            told = True
        if time.monotonic() > deadline:
            raise UserError(f"demo not finished after {timeout_s:g} s: "
                            + ", ".join(f"job {j} {s}" for j, s in states.items() if s in ("queued", "running")))
        time.sleep(poll_s)
