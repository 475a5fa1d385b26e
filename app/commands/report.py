"""`taser report --runs 1,2,5 --out report.html`: the dashboard's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

from app.cli import UserError
from app.jobs._runs import MAX_ROW_ID

MAX_REPORT_RUNS = 1000  # one HTML file carries every run's figures


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write a self-contained HTML report of chosen runs")
    p.add_argument("--runs", required=True, help="comma-separated run ids, e.g. 1,2,5 (ranges like 3-7 too)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="HTML file to write")
    p.add_argument("--title", default="TASER Studio report")
    p.set_defaults(handler=run)


def parse_run_ids(text: str) -> list[int]:
    ids: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        try:
            low, high = (int(value) for value in part.split("-", 1)) if "-" in part else (int(part),) * 2
        except ValueError:
            raise UserError(f"--runs: {part[:40]!r} is not a run id or a range like 3-7") from None
        if not 1 <= low <= high <= MAX_ROW_ID:
            raise UserError(f"--runs: {part[:40]!r} is not a run id or a range like 3-7 of ids from 1 to {MAX_ROW_ID}")
        if len(ids) + high - low + 1 > MAX_REPORT_RUNS:
            raise UserError(f"--runs: at most {MAX_REPORT_RUNS} runs in one report")
        ids.extend(range(low, high + 1))
    if not ids:
        raise UserError("--runs: give at least one run id")
    return list(dict.fromkeys(ids))


def run(args) -> int:
    from app.report import build_report

    try:
        text = build_report(parse_run_ids(args.runs), title=args.title)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) / 1024**2:.1f} MiB)")
    return 0
