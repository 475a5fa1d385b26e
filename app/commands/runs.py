"""`taser runs`: archive, restore or delete runs (what the Runs page's buttons do)."""

from __future__ import annotations

from app.cli import UserError
from app.commands._args import int_in
from app.jobs._runs import MAX_ROW_ID

RUN_ID = int_in(1, MAX_ROW_ID)


def register(subparsers) -> None:
    p = subparsers.add_parser("runs", help="archive, restore or delete runs")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, handler, text in (
            ("archive", archive_runs, "hide runs from every table, picker and result page (restorable)"),
            ("restore", restore_runs, "show archived runs again"),
            ("delete", delete_runs, "delete archived, finished runs with their metrics and files (for good)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("run_ids", type=RUN_ID, nargs="+", metavar="RUN_ID")
        action.set_defaults(handler=handler)


def archive_runs(args) -> int:
    from db import store

    return _each(args.run_ids, store.archive_run, "archived")


def restore_runs(args) -> int:
    from db import store

    return _each(args.run_ids, store.restore_run, "restored")


def delete_runs(args) -> int:
    from app.run_lifecycle import delete_run

    return _each(args.run_ids, delete_run, "deleted")


def _each(run_ids: list[int], action, done: str) -> int:
    """Apply `action` to every run; the ones it refuses are named in one error after the rest."""
    missing, refused = [], []
    for run_id in run_ids:
        try:
            if action(run_id):
                print(f"run #{run_id}: {done}")
            else:
                missing.append(run_id)
        except ValueError as exc:
            refused.append(str(exc))
    problems = ([f"no run {', '.join(f'#{i}' for i in missing)}"] if missing else []) + refused
    if problems:
        raise UserError("; ".join(problems))
    return 0
