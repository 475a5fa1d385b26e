"""`taser train`: train a classifier from scratch with a base objective, optionally with TASER."""

from __future__ import annotations

from app.commands._training import (add_common_flags, build_config, default_preset, overrides_from,
                                    run_engine)


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a classifier (Standard/PGD/TRADES/MART/AWP, ± TASER)")
    add_common_flags(p)
    p.add_argument("--taser", action="store_true", default=None, help="add the TASER penalty")
    p.add_argument("--arch", choices=["resnet18", "small_cnn", "mlp"])
    p.add_argument("--activation", choices=["relu", "silu", "softplus", "gelu"])
    p.add_argument("--width", type=int)
    p.add_argument("--lr", type=float, help="η0 (default 1e-3, Adam, cosine decay)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from taser_engine.training import train, train_preset

    overrides = overrides_from(args, ("taser", "arch", "activation", "width", "lr"))
    config = build_config(train_preset, default_preset(args, overrides.get("dataset")), overrides)
    return run_engine(train, config, args)
