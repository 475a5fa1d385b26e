"""`taser train`: train a classifier from scratch with a base objective, optionally with TASER."""

from __future__ import annotations

from app.commands._flags import ConfigFlags
from app.commands._training import (add_common_flags, build_config, default_preset, overrides_from,
                                    run_engine)
from taser_engine.training.config import TrainConfig

FLAGS = ConfigFlags(TrainConfig)


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a classifier (Standard/PGD/TRADES/MART/AWP, ± TASER)")
    add_common_flags(p, FLAGS)
    p.set_defaults(handler=run)


def run(args) -> int:
    from taser_engine.training import train, train_preset

    overrides = overrides_from(args, FLAGS)
    config = build_config(train_preset, default_preset(args, overrides.get("dataset")), overrides)
    return run_engine(train, config, args)
