"""`taser worker`: run queued jobs, one at a time, each in its own process."""

from __future__ import annotations

from app.commands._args import float_in, int_in

DAY_S = 86_400.0  # no interval of a worker is meant to be longer


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="run queued jobs (start several for parallelism)")
    p.add_argument("--once", action="store_true", help="exit as soon as the queue is empty")
    p.add_argument("--max-jobs", type=int_in(1, 10**9), default=None, metavar="N", help="exit after N jobs")
    p.add_argument("--poll-interval", type=float_in(0.001, DAY_S), default=1.0, metavar="S",
                   help="seconds between queue polls when idle (default 1)")
    p.add_argument("--lease", type=float_in(0.001, DAY_S), default=60.0, metavar="S",
                   help="seconds without a heartbeat after which a job is re-queued (default 60)")
    p.add_argument("--grace", type=float_in(0.0, DAY_S), default=10.0, metavar="S",
                   help="seconds a cancelled job gets to stop before it is terminated (default 10)")
    p.add_argument("--db-outage-s", type=float, default=300.0, metavar="S",
                   help="how long the database may be away (at start-up, or while a job runs: the "
                        "job goes on, its reports wait) before the worker stops its job and exits "
                        "with code 3 (default 300)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from app.worker import Worker, WorkerOptions

    if args.lease <= 0 or args.poll_interval <= 0 or args.grace < 0 or not args.db_outage_s >= 0:
        raise UserError("--lease and --poll-interval must be positive, --grace and --db-outage-s "
                        "non-negative")
    if args.max_jobs is not None and args.max_jobs < 1:
        raise UserError("--max-jobs must be at least 1")
    worker = Worker(WorkerOptions(lease_s=args.lease, poll_interval_s=args.poll_interval,
                                  grace_s=args.grace, max_jobs=args.max_jobs, once=args.once,
                                  db_outage_s=args.db_outage_s))
    worker.install_signal_handlers()
    print(f"worker {worker.worker_id} started", flush=True)
    done = worker.run()
    print(f"worker {worker.worker_id} stopped after {done} job(s)", flush=True)
    return 0
