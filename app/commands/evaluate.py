"""`taser evaluate`: clean and robust accuracy of a saved model on the fixed evaluation subset.

The run directory is read through `taser_engine.checkpoints.load_model`; its `config.json`, when
present, supplies the dataset, the training method and whether TASER was on (flags override), so
that `taser table` can pair the result with its counterpart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from app.commands._args import float_in
from app.commands._flags import ConfigFlags
from taser_engine.callbacks import Callbacks
from taser_engine.checkpoints import CheckpointError, atomic_write_json, load_model
from taser_engine.evaluation import EvaluationCancelled, EvaluationConfig, evaluate_model

RUN_CONFIG_FILES = ("config.json", "run.json")
RUN_RESULT_FILES = ("result.json", "results.json", "metrics.json", "summary.json")


# Every EvaluationConfig field is a flag (`--n` is n_eval, `--seed` the attack seed); `--dataset`
# defaults to the run's own.
FLAGS = ConfigFlags(EvaluationConfig)


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="robust accuracy under AutoAttack and SPSA (paper C.6)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="run directory (model.safetensors + model.json)")
    FLAGS.add_to(p)
    p.add_argument("--method", help="training method of the run (default: from its config.json)")
    p.add_argument("--taser", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the run used TASER (default: from its config.json)")
    p.add_argument("--train-ms-per-sample", type=float_in(0.0, 1e9),
                   help="training time per sample of the run (default: from its result files)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", type=Path, help="write the full result (per-sample vectors, flags) here")
    p.set_defaults(handler=run)


class _StderrProgress(Callbacks):
    def on_progress(self, done: int, total: int, message: str = "") -> None:
        # the count is cost-weighted units over every attack and batch: a share reads better
        share = f"{done / total:4.0%}" if total > 0 else "   ?"
        print(f"  [{share}] {message}", file=sys.stderr, flush=True)


def _read_json(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _first(payloads: list[dict], *keys: str):
    for payload in payloads:
        for key in keys:
            if payload.get(key) is not None:
                return payload[key]
    return None


def run_metadata(run_dir: Path) -> dict:
    """Method, TASER flag, dataset and training time per sample, from the run's own files if present."""
    configs = [_read_json(run_dir / name) for name in RUN_CONFIG_FILES if (run_dir / name).is_file()]
    results = [_read_json(run_dir / name) for name in RUN_RESULT_FILES if (run_dir / name).is_file()]
    taser = _first(configs, "taser", "use_taser")
    if isinstance(taser, dict):  # a penalty block: on unless it says otherwise
        taser = bool(taser.get("enabled", True)) and taser.get("lambda_max", 1) != 0
    return {"method": _first(configs, "method", "objective", "base_objective"),
            "taser": None if taser is None else bool(taser),
            "dataset": _first(configs, "dataset"),
            "train_ms_per_sample": _first(results, "train_ms_per_sample", "ms_per_sample"),
            "train_step_overhead": _in_run_overhead(results)}


def _in_run_overhead(results: list[dict]) -> float | None:
    from app.results import in_run_overhead

    return in_run_overhead(_first(results, "ms_per_sample"), _first(results, "ms_per_sample_without_penalty"),
                           _first(results, "penalty_ms_per_sample"))


def run(args) -> int:
    from app.cli import UserError

    metadata = run_metadata(args.model) if args.model.is_dir() else {}
    values = FLAGS.overrides(args)
    overrides = {"method": args.method, "taser": args.taser, "dataset": values.pop("dataset", None),
                 "train_ms_per_sample": args.train_ms_per_sample}
    metadata.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = EvaluationConfig(dataset=metadata.get("dataset") or "digits", **values)
    except ValidationError as exc:
        from taser_engine.training import format_errors

        raise UserError(format_errors(exc)) from None
    try:
        model = load_model(args.model, map_location=args.device or _default_device())
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    callbacks = Callbacks() if args.quiet else _StderrProgress()
    try:
        result = evaluate_model(model, config, callbacks=callbacks)
    except EvaluationCancelled as exc:
        raise UserError(str(exc)) from None
    run_block = {"dir": str(args.model), **metadata}
    payload = result.to_json(run=run_block)
    _print_summary(payload)
    if args.json:
        atomic_write_json(args.json, payload)
    return 0


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _print_summary(payload: dict) -> None:
    print(f"n={payload['n']} ({payload['subset']['dataset']}, subset {payload['subset']['fingerprint']})  "
          f"clean_acc={payload['clean_acc']:.4f}")
    for name, acc in payload["robust"].items():
        print(f"  {name:<14} {acc:.4f}  {payload['attacks'][name]['label']}")
    if payload["robust_avg"] is not None:
        print(f"  robust_avg     {payload['robust_avg']:.4f}  (mean of AutoAttack and SPSA)")
    for flag in payload["flags"]:
        state = "RAISED" if flag["raised"] else ("ok" if flag["checked"] else "not checked")
        print(f"  flag {flag['name']}: {state} - {flag['detail']}")
