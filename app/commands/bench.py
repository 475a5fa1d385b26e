"""`taser bench overhead`: the TASER training-step overhead benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import ValidationError

from taser_engine.callbacks import Callbacks


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks (timings are reported, never asserted)")
    sub = p.add_subparsers(dest="bench", metavar="BENCH")
    sub.required = True
    o = sub.add_parser("overhead", help="ms/sample of a training step with and without the TASER penalty")
    o.add_argument("--json", type=Path, help="write the rows as JSON here")
    o.add_argument("--quick", action="store_true", help="fewer repeats (about 1.5 minutes on 2 CPU cores)")
    o.add_argument("--models", default=None, help="comma-separated: resnet18,small_cnn")
    o.add_argument("--activations", default=None, help="comma-separated: relu (default), silu, softplus, gelu")
    o.add_argument("--batchnorm", default=None, help="comma-separated: train (default), frozen (fine-tuning)")
    o.add_argument("--devices", default=None, help="comma-separated, e.g. cpu,cuda (default: all present)")
    o.add_argument("--methods", default=None, help="comma-separated subset of autograd,jvp,fd")
    o.add_argument("--laplacians", default=None, help="comma-separated subset of none,hutchinson,exact")
    o.add_argument("--fractions", default=None, help="comma-separated shares of the batch the penalty uses, e.g. 1,0.5")
    o.add_argument("--batch-size", type=int, default=32)
    o.add_argument("--repeats", type=int, default=None)
    o.set_defaults(handler=run_overhead_command)


def _overrides(args) -> dict:
    out = {"batch_size": args.batch_size}
    for name in ("models", "activations", "batchnorm", "devices", "methods", "laplacians"):
        value = getattr(args, name)
        if value:
            out[name] = [v.strip() for v in value.split(",") if v.strip()]
    if args.fractions:
        from app.cli import UserError

        try:
            out["fractions"] = [float(v) for v in args.fractions.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--fractions: not a list of numbers: {args.fractions[:40]!r}") from None
    if args.repeats is not None:
        out["repeats"] = args.repeats
    return out


class _PrintProgress(Callbacks):
    def on_progress(self, step, total, message=""):
        print(f"[{step}/{total}] {message}", file=sys.stderr, flush=True)


def format_rows(rows: list[dict]) -> str:
    from app.figures.overhead import model_label

    header = f"{'model':<26} {'device':<6} {'method':<8} {'laplacian':<10} {'frac':>4} {'ms/sample':>10} {'plain':>8} {'ratio':>6} {'rel_err':>9} {'grad_err':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{model_label(r):<26} {r['device']:<6} {r['method']:<8} {r['laplacian']:<10} {r['fraction']:>4g} "
                     f"{r['ms_per_sample']:>10.3f} {r['plain_ms_per_sample']:>8.3f} {r['ratio']:>6.2f} "
                     f"{r['rel_error']:>9.2e} {r['grad_rel_error']:>9.2e}")
    return "\n".join(lines)


def run_overhead_command(args) -> int:
    from app.cli import UserError
    from taser_engine.overhead import OverheadConfig, run_overhead

    try:
        overrides = _overrides(args)
        config = OverheadConfig.quick(**overrides) if args.quick else OverheadConfig(**overrides)
    except ValidationError as exc:
        from taser_engine.fields import format_errors

        raise UserError(format_errors(exc)) from None
    if any(d.startswith("cuda") for d in config.devices):
        import torch

        if not torch.cuda.is_available():
            raise UserError("--devices names cuda but no CUDA device is available")
    result = run_overhead(config, _PrintProgress())
    print(format_rows(result["rows"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0
