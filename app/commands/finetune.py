"""`taser finetune`: TASER fine-tuning of a trained run (L_base + α·KL(f_θ0‖f_θ) + λ(t)·R)."""

from __future__ import annotations

from app.commands._flags import ConfigFlags
from app.commands._training import (add_common_flags, build_config, default_preset, overrides_from,
                                    run_engine)
from taser_engine.training.config import FinetuneConfig

FLAGS = ConfigFlags(FinetuneConfig, required=("source",))


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a trained run with TASER")
    add_common_flags(p, FLAGS)
    p.set_defaults(handler=run)


def run(args) -> int:
    from taser_engine.training import finetune, finetune_preset
    from taser_engine.training.config import source_run_defaults

    overrides = {**source_run_defaults(args.source), **overrides_from(args, FLAGS)}
    config = build_config(finetune_preset, default_preset(args, overrides.get("dataset")), overrides)
    return run_engine(finetune, config, args)
