"""`taser study run|list|show|table|cancel|retry`: a grid of runs (Table 2 and beyond) in one action.

`run` takes a preset (`--preset`, see app/studies/presets.py) changed by `--seeds N` and
`--set field=v1,v2,…` (one value fixes the field in every config that has it, several sweep it),
plans it, refuses it whole when any job would not validate, and queues it. With `--wait` it also
runs a worker of its own (unless `--no-worker`) and prints progress until the study has finished;
`--json PATH` writes every cell and the study's tables with their intervals.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from app.cli import UserError
from app.commands._args import float_in, int_in

MAX_ID = 2**31 - 1
DAY_S = 86_400.0


def register(subparsers) -> None:
    p = subparsers.add_parser("study", help="run a study: methods × ±TASER × seeds × swept fields, then its tables")
    commands = p.add_subparsers(dest="study_command", metavar="ACTION")
    commands.required = True

    run = commands.add_parser("run", help="plan and queue a study from a preset")
    from app.studies.presets import STUDY_PRESETS

    run.add_argument("--preset", required=True, choices=sorted(STUDY_PRESETS), help="the study to start from")
    run.add_argument("--seeds", type=int_in(1, 100), metavar="N", help="seeds 0 … N−1 (default: the preset's)")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=V1[,V2…]",
                     help="fix a config field (one value) or sweep it (several); repeatable")
    run.add_argument("--name", help="the study's name (default: the preset's)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and queue nothing")
    _wait_flags(run)
    run.set_defaults(handler=run_study)

    commands.add_parser("list", help="every study with its state").set_defaults(handler=list_studies)

    show = commands.add_parser("show", help="a study's cells and their states")
    show.add_argument("study_id", type=int_in(1, MAX_ID), metavar="ID")
    show.add_argument("--json", type=Path, metavar="PATH", help="write the cells and tables as JSON")
    show.set_defaults(handler=show_study)

    table = commands.add_parser("table", help="a study's Table 2 or 3 (one per swept point)")
    table.add_argument("study_id", type=int_in(1, MAX_ID), metavar="ID")
    table.add_argument("--layout", choices=["table2", "table3"], default="table2")
    table.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    table.set_defaults(handler=study_table)

    cancel = commands.add_parser("cancel", help="cancel every queued and running job of a study")
    cancel.add_argument("study_id", type=int_in(1, MAX_ID), metavar="ID")
    cancel.set_defaults(handler=cancel_study)

    retry = commands.add_parser("retry", help="re-queue a study's failed and cancelled jobs (and any not queued)")
    retry.add_argument("study_id", type=int_in(1, MAX_ID), metavar="ID")
    _wait_flags(retry)
    retry.set_defaults(handler=retry_study)


def _wait_flags(p) -> None:
    p.add_argument("--wait", action="store_true", help="return when the study has finished, printing progress")
    p.add_argument("--no-worker", action="store_true",
                   help="with --wait: do not start a worker of its own (workers run elsewhere)")
    p.add_argument("--timeout", type=float_in(1.0, 30 * DAY_S), default=7 * DAY_S, metavar="S",
                   help="with --wait: give up after S seconds (the study goes on)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the cells and tables as JSON (after --wait: final)")


def _spec(args):
    from app.studies.presets import study_preset
    from app.studies.spec import StudySpecError, parse_setting, with_settings

    try:
        settings = dict(parse_setting(item) for item in args.set)
        if args.seeds is not None:
            settings["seeds"] = [args.seeds]
        return with_settings(study_preset(args.preset), settings, study_name=args.name)
    except StudySpecError as exc:
        raise UserError(str(exc)) from None


def run_study(args) -> int:
    from app.studies.service import start_study
    from app.studies.spec import StudySpecError, plan_study

    spec = _spec(args)
    try:
        plan = plan_study(spec)
    except StudySpecError as exc:
        raise UserError(str(exc)) from None
    roles: dict[str, int] = {}
    for job in plan:
        roles[job.role] = roles.get(job.role, 0) + 1
    print(f"study {spec.name!r}: {len(plan)} jobs ({', '.join(f'{n} {r}' for r, n in roles.items())})")
    if args.dry_run:
        for job in plan:
            print(f"  {job.kind:<12} {job.key}")
        return 0
    study_id = start_study(spec, preset=args.preset)
    print(f"queued study {study_id}; follow it with `taser study show {study_id}` or on the dashboard's Studies page")
    return _finish(study_id, args)


def retry_study(args) -> int:
    from app.studies.service import StudyError, retry_study as retry

    try:
        requeued, queued = retry(args.study_id)
    except StudyError as exc:
        raise UserError(str(exc)) from None
    print(f"study {args.study_id}: re-queued {requeued} job(s), queued {queued} new")
    return _finish(args.study_id, args)


def _finish(study_id: int, args) -> int:
    status = 0
    if args.wait:
        state = wait_for_study(study_id, args.timeout, start_worker=not args.no_worker)
        print(f"study {study_id} {state.status}: " + ", ".join(f"{n} {s}" for s, n in sorted(state.counts.items()))
              + (f" in {state.wall_s:.0f} s" if state.wall_s is not None else ""))
        status = 0 if state.status == "succeeded" else 1
    if args.json:
        _write_json(study_id, args.json)
    return status


def _state(study_id: int):
    from app.studies.service import StudyError, study_state

    try:
        return study_state(study_id)
    except StudyError as exc:
        raise UserError(str(exc)) from None


def _write_json(study_id: int, path: Path) -> None:
    from app.studies.tables import study_json

    try:
        path.write_text(json.dumps(study_json(_state(study_id)), indent=2, default=str))
    except OSError as exc:
        raise UserError(f"--json {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}")


def _progress_line(state) -> str:
    counts = state.counts
    return (f"study {state.study.id}: {100 * state.progress:5.1f}%  "
            + "  ".join(f"{counts.get(s, 0)} {s}" for s in ("succeeded", "running", "queued", "failed", "cancelled")
                        if counts.get(s)))


def wait_for_study(study_id: int, timeout_s: float, *, start_worker: bool = True, poll_s: float = 2.0):
    """Poll the study until nothing of it is queued or running; a worker of our own meanwhile."""
    worker = (subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--poll-interval", "0.5"],
                               stdout=subprocess.DEVNULL) if start_worker else None)
    deadline, last = time.monotonic() + timeout_s, None
    try:
        while True:
            state = _state(study_id)
            line = _progress_line(state)
            if line != last:
                print(line, flush=True)
                last = line
            if state.finished:
                return state
            if worker is not None and worker.poll() is not None:
                raise UserError(f"the study's worker exited with code {worker.returncode}; the study goes on "
                                f"with any other worker (`taser worker`); follow it with `taser study show {study_id}`")
            if time.monotonic() > deadline:
                raise UserError(f"study {study_id} not finished after {timeout_s:g} s; it goes on: "
                                f"`taser study show {study_id}`")
            time.sleep(poll_s)
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()


def list_studies(args) -> int:
    from app.studies.service import study_state
    from db import store

    records = store.list_studies()
    if not records:
        print("no studies yet: `taser study run --preset table2-digits` starts one")
        return 0
    print(f"{'id':>4}  {'status':<10} {'jobs':>5} {'done':>6}  name")
    for record in records:
        state = study_state(record.id, with_summaries=False)
        print(f"{record.id:>4}  {state.status:<10} {len(state.cells):>5} {100 * state.progress:5.0f}%  {record.name}")
    return 0


def show_study(args) -> int:
    state = _state(args.study_id)
    print(f"study {state.study.id} {state.study.name!r}: {state.status}, {len(state.cells)} jobs")
    print(_progress_line(state))
    for cell in state.cells:
        where = f"run {cell.run_id}" if cell.run_id else ""
        line = f"  {cell.status:<11} {cell.kind:<12} {where:<10} {cell.key}"
        if cell.error:
            line += f"  ({cell.error.splitlines()[0][:120]})"
        print(line)
    if args.json:
        _write_json(args.study_id, args.json)
    return 0


def study_table(args) -> int:
    from app.studies.tables import point_label, point_tables
    from taser_engine.evaluation.tables import TableError, render

    try:
        tables = point_tables(_state(args.study_id), args.layout)
    except TableError as exc:
        raise UserError(str(exc)) from None
    for table in tables:
        if len(tables) > 1:
            print(f"## {point_label(table.point)}\n")
        print(render(table.table, args.format) if table.table else f"({table.problem})\n")
    return 0


def cancel_study(args) -> int:
    from app.studies.service import StudyError, cancel_study as cancel

    try:
        n = cancel(args.study_id)
    except StudyError as exc:
        raise UserError(str(exc)) from None
    print(f"study {args.study_id}: cancelled {n} queued or running job(s)")
    return 0
