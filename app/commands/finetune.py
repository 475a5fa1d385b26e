"""`taser finetune`: TASER fine-tuning of a trained run (L_base + α·KL(f_θ0‖f_θ) + λ(t)·R)."""

from __future__ import annotations

from pathlib import Path

from app.commands._training import (add_common_flags, build_config, default_preset, overrides_from,
                                    run_engine)


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a trained run with TASER")
    add_common_flags(p)
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="the run directory to start from (its dataset and method are the defaults)")
    p.add_argument("--no-taser", dest="taser", action="store_false", default=None,
                   help="teacher KL and base loss only (ablation)")
    p.add_argument("--alpha", type=float, help="weight of KL(f_θ0 ‖ f_θ) (default 1)")
    p.add_argument("--eta-max", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--eta-min", type=float, help="final learning rate (default 1e-4)")
    p.add_argument("--adv-lite", dest="adversarial_lite_steps", type=int,
                   help="adversarial-lite base loss: the method's attack (PGD for standard) with this many steps")
    p.set_defaults(handler=run)


def run(args) -> int:
    from taser_engine.training import finetune, finetune_preset
    from taser_engine.training.config import source_run_defaults

    given = overrides_from(args, ("taser", "alpha", "eta_max", "eta_min", "adversarial_lite_steps"))
    overrides = {**source_run_defaults(args.source), **given, "source": str(args.source)}
    config = build_config(finetune_preset, default_preset(args, overrides.get("dataset")), overrides)
    return run_engine(finetune, config, args)
