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
    t = sub.add_parser("train-step", help="ms/sample of the whole training step per base method, ± TASER, "
                                          "with each score source (the paper's C.8 / Table 3 overheads)")
    t.add_argument("--json", type=Path, help="write the rows as JSON here")
    t.add_argument("--quick", action="store_true", help="ResNet-18 batch 16, 3 attack steps, 3 repeats "
                                                       "(about 5 minutes on 2 CPU cores)")
    t.add_argument("--models", default=None, help="comma-separated: resnet18,small_cnn")
    t.add_argument("--methods", default=None, help="comma-separated: standard,pgd,trades,mart,trades-awp,mart-awp")
    t.add_argument("--scores", default=None, help="comma-separated: none,gaussian,diffusion-live,diffusion-cached")
    t.add_argument("--laplacians", default=None, help="comma-separated: none,hutchinson")
    t.add_argument("--devices", default=None, help="comma-separated, e.g. cpu,cuda (default: all present)")
    t.add_argument("--batch-size", type=int, default=None, help="ResNet-18 batch (default 128; quick 16)")
    t.add_argument("--repeats", type=int, default=None)
    t.set_defaults(handler=run_train_step_command)


def _lists(args, names: tuple[str, ...]) -> dict:
    """Comma-separated flags as lists, for the fields given."""
    out = {}
    for name in names:
        value = getattr(args, name)
        if value:
            out[name] = [v.strip() for v in value.split(",") if v.strip()]
    return out


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


def _overrides(args) -> dict:
    out = {"batch_size": args.batch_size,
           **_lists(args, ("models", "activations", "batchnorm", "devices", "methods", "laplacians"))}
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


def _run_bench(args, config_type, overrides_of, run, format_table) -> int:
    """Validate the flags into `config_type` (its `quick` with --quick), run, print, write --json."""
    from app.cli import UserError
    from taser_engine.training import format_errors

    try:
        overrides = overrides_of(args)
        config = config_type.quick(**overrides) if args.quick else config_type(**overrides)
    except ValidationError as exc:
        raise UserError(format_errors(exc)) from None
    _check_devices(config.devices)
    result = run(config, _PrintProgress())
    print(format_table(result["rows"]))
    _write(args.json, result)
    return 0


def run_overhead_command(args) -> int:
    from taser_engine.overhead import OverheadConfig, run_overhead

    return _run_bench(args, OverheadConfig, _overrides, run_overhead, format_rows)


def format_train_step_rows(rows: list[dict]) -> str:
    header = (f"{'model':<10} {'device':<6} {'method':<11} {'score':<17} {'laplacian':<10} {'ms/sample':>10} "
              f"{'ratio':>6} {'min–max':>12} {'paper':>6}")
    lines = [header, "-" * len(header)]
    for r in rows:
        paper = f"×{r['paper_ratio']:.2f}" if r["paper_ratio"] else ""
        lines.append(f"{r['model']:<10} {r['device']:<6} {r['method']:<11} {r['score']:<17} {r['laplacian'] or '':<10} "
                     f"{r['ms_per_sample']:>10.3f} {r['ratio']:>6.2f} {r['ratio_min']:>5.2f}–{r['ratio_max']:<6.2f} {paper:>6}")
    return "\n".join(lines)


def _train_step_overrides(args) -> dict:
    overrides = _lists(args, ("models", "methods", "scores", "laplacians", "devices"))
    overrides.update({k: v for k, v in (("batch_size", args.batch_size), ("repeats", args.repeats)) if v is not None})
    return overrides


def run_train_step_command(args) -> int:
    from taser_engine.train_step_bench import TrainStepBenchConfig, run_train_step_bench

    return _run_bench(args, TrainStepBenchConfig, _train_step_overrides, run_train_step_bench, format_train_step_rows)
