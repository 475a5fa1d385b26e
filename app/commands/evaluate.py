"""`taser evaluate`: clean and robust accuracy of a saved model on the fixed evaluation subset.

The run directory is read through `taser_engine.checkpoints.load_model`; its `config.json`, when
present, supplies the dataset, the training method and whether TASER was on (flags override), so
that `taser table` can pair the result with its counterpart.
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path

from pydantic import ValidationError

from app.commands._args import float_in
from taser_engine.callbacks import Callbacks
from taser_engine.checkpoints import CheckpointError, atomic_write_json, load_model
from taser_engine.evaluation import EvaluationCancelled, EvaluationConfig, attack_descriptions, evaluate_model

RUN_CONFIG_FILES = ("config.json", "run.json")
RUN_RESULT_FILES = ("result.json", "results.json", "metrics.json", "summary.json")


def _budget(text: str) -> float:
    """'0.1', '8/255' -> float."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text!r}") from None


def _steps(text: str) -> tuple[int, int] | None:
    if text.lower() in ("none", "off", ""):
        return None
    try:
        fewer, more = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FEWER,MORE iterations or 'none', got {text!r}") from None
    return fewer, more


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="robust accuracy under AutoAttack and SPSA (paper C.6)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="run directory (model.safetensors + model.json)")
    p.add_argument("--n", type=int, default=EvaluationConfig.model_fields["n_eval"].default,
                   help="evaluation subset size N_eval (default 1000; the whole test set if smaller)")
    p.add_argument("--attacks", default="autoattack,spsa",
                   help="comma-separated, from: " + "; ".join(f"{k} ({v})" for k, v in attack_descriptions().items()))
    p.add_argument("--dataset", help="dataset of the run (default: from the run's config.json, else digits)")
    p.add_argument("--eps-linf", type=_budget, help="L∞ budget, e.g. 8/255 (default: the dataset's)")
    p.add_argument("--eps-l2", type=_budget, help="L2 budget, e.g. 128/255 (default: the dataset's)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--seed", type=int, default=0, help="attack seed (AutoAttack, SPSA)")
    p.add_argument("--subset-seed", type=int, default=0, help="seed of the evaluation subset draw")
    p.add_argument("--spsa-nb-iter", type=int, default=32)
    p.add_argument("--spsa-nb-sample", type=int, default=128)
    p.add_argument("--spsa-lr", type=float, default=0.01)
    p.add_argument("--apgd-n-iter", type=int, default=100, help="iterations of the quick apgd_ce look")
    p.add_argument("--iteration-check", type=_steps, default=(10, 100),
                   help="APGD-CE iteration counts compared for gradient masking, FEWER,MORE or 'none'")
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
        print(f"  [{done}/{total}] {message}", file=sys.stderr, flush=True)


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
    """TASER's whole step over its base part, both timed inside the same steps of one run (the
    honest overhead on a shared machine; a ratio of two runs also divides their machines' load)."""
    with_penalty, base = _first(results, "ms_per_sample"), _first(results, "ms_per_sample_without_penalty")
    if not with_penalty or not base or not _first(results, "penalty_ms_per_sample"):
        return None
    return with_penalty / base


def run(args) -> int:
    from app.cli import UserError

    metadata = run_metadata(args.model) if args.model.is_dir() else {}
    overrides = {"method": args.method, "taser": args.taser, "dataset": args.dataset,
                 "train_ms_per_sample": args.train_ms_per_sample}
    metadata.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = EvaluationConfig(
            dataset=metadata.get("dataset") or "digits", n_eval=args.n, subset_seed=args.subset_seed,
            attacks=args.attacks.split(","), eps_linf=args.eps_linf, eps_l2=args.eps_l2,
            batch_size=args.batch_size, attack_seed=args.seed, spsa_nb_iter=args.spsa_nb_iter,
            spsa_nb_sample=args.spsa_nb_sample, spsa_lr=args.spsa_lr, apgd_n_iter=args.apgd_n_iter,
            iteration_check=args.iteration_check)
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
