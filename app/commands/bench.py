"""`taser bench overhead`: the TASER training-step overhead benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import ValidationError

from app.commands._flags import ConfigFlags
from taser_engine.callbacks import Callbacks
from taser_engine.overhead import OverheadConfig
from taser_engine.train_step_bench import TrainStepBenchConfig

OVERHEAD_FLAGS = ConfigFlags(OverheadConfig)
TRAIN_STEP_FLAGS = ConfigFlags(TrainStepBenchConfig)


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks (timings are reported, never asserted)")
    sub = p.add_subparsers(dest="bench", metavar="BENCH")
    sub.required = True
    o = sub.add_parser("overhead", help="ms/sample of a training step with and without the TASER penalty")
    o.add_argument("--json", type=Path, help="write the rows as JSON here")
    o.add_argument("--quick", action="store_true", help="fewer repeats (about 1.5 minutes on 2 CPU cores)")
    OVERHEAD_FLAGS.add_to(o)
    o.set_defaults(handler=run_overhead_command)
    t = sub.add_parser("train-step", help="ms/sample of the whole training step per base method, ± TASER, "
                                          "with each score source (the paper's C.8 / Table 3 overheads)")
    t.add_argument("--json", type=Path, help="write the rows as JSON here")
    t.add_argument("--quick", action="store_true", help="ResNet-18 batch 16, 3 attack steps, 3 repeats "
                                                       "(about 5 minutes on 2 CPU cores)")
    TRAIN_STEP_FLAGS.add_to(t)
    t.set_defaults(handler=run_train_step_command)


def _check_devices(devices: list[str]) -> None:
    from app.cli import UserError

    if any(d.startswith("cuda") for d in devices):
        import torch

        if not torch.cuda.is_available():
            raise UserError("--devices names cuda but no CUDA device is available")


def _write(path: Path | None, result: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))


class _PrintProgress(Callbacks):
    def on_progress(self, step, total, message=""):
        print(f"[{step}/{total}] {message}", file=sys.stderr, flush=True)


def format_rows(rows: list[dict]) -> str:
    from app.figures.overhead import model_label, row_label
    from app.results import timing_warnings

    header = (f"{'model':<26} {'device':<6} {'method':<8} {'laplacian':<10} {'frac':>4} {'ms/sample':>10} {'plain':>8} "
              f"{'ratio':>6} {'min–max':>12} {'rel_err':>9} {'grad_err':>9}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{model_label(r):<26} {r['device']:<6} {r['method']:<8} {r['laplacian']:<10} {r['fraction']:>4g} "
                     f"{r['ms_per_sample']:>10.3f} {r['plain_ms_per_sample']:>8.3f} {r['ratio']:>6.2f} "
                     f"{r['ratio_min']:>5.2f}–{r['ratio_max']:<6.2f} {r['rel_error']:>9.2e} {r['grad_rel_error']:>9.2e}")
    lines += [f"warning: {model_label(r)} {row_label(r)}: {warning}"
              for r, warning in zip(rows, timing_warnings(rows)) if warning]
    return "\n".join(lines)


def _run_bench(args, flags: ConfigFlags, run, format_table) -> int:
    """Validate the flags into `config_type` (its `quick` with --quick), run, print, write --json."""
    from app.cli import UserError
    from taser_engine.training import format_errors

    try:
        config_type, overrides = flags.config_class, flags.overrides(args)
        config = config_type.quick(**overrides) if args.quick else config_type(**overrides)
    except ValidationError as exc:
        raise UserError(format_errors(exc)) from None
    _check_devices(config.devices)
    result = run(config, _PrintProgress())
    print(format_table(result["rows"]))
    _write(args.json, result)
    return 0


def run_overhead_command(args) -> int:
    from taser_engine.overhead import run_overhead

    return _run_bench(args, OVERHEAD_FLAGS, run_overhead, format_rows)


def format_train_step_rows(rows: list[dict]) -> str:
    from app.results import penalty_batchnorm

    header = (f"{'model':<10} {'device':<6} {'method':<11} {'score':<17} {'laplacian':<10} {'penalty BN':<10} "
              f"{'ms/sample':>10} {'ratio':>6} {'min–max':>12} {'paper':>6}")
    lines = [header, "-" * len(header)]
    for r in rows:
        paper = f"×{r['paper_ratio']:.2f}" if r["paper_ratio"] else ""
        batchnorm = penalty_batchnorm(r) or ""
        lines.append(f"{r['model']:<10} {r['device']:<6} {r['method']:<11} {r['score']:<17} {r['laplacian'] or '':<10} "
                     f"{batchnorm:<10} "
                     f"{r['ms_per_sample']:>10.3f} {r['ratio']:>6.2f} {r['ratio_min']:>5.2f}–{r['ratio_max']:<6.2f} {paper:>6}")
    return "\n".join(lines)


def run_train_step_command(args) -> int:
    from taser_engine.train_step_bench import run_train_step_bench

    return _run_bench(args, TRAIN_STEP_FLAGS, run_train_step_bench, format_train_step_rows)
