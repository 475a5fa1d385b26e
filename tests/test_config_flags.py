"""CLI flags generated from pydantic configs (`ConfigFlags`), read as the dashboard's forms read them."""

from __future__ import annotations

import argparse
import enum
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

import app.cli
from app.cli import Parser
from app.commands._flags import ConfigFlags
from app.config_fields import config_fields
from app.dashboard.forms import field_specs


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(1, ge=1, description="inner k")
    short: str = Field("x", json_schema_extra={"flag": "--short-name"})


class _Toy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(10, ge=1, le=100, description="how many steps")
    lr: float = Field(0.1, description="learning rate")
    flag: bool = Field(False, description="switch it on")
    mode: Literal["a", "b"] = Field("a", description="the mode")
    colour: Colour = Colour.RED
    name: str = Field("n", json_schema_extra={"choices": ["n", "m"]})
    lambdas: list[float] = Field([0.0, 1e-3], description="λ grid")
    limit: int | None = Field(None, description="an optional cap")
    renamed: int = Field(3, json_schema_extra={"flag": "--alias"})
    hidden: int = Field(0, json_schema_extra={"cli": False})
    inner: _Inner = Field(default_factory=_Inner)


def _parser(flags: ConfigFlags) -> Parser:
    parser = Parser(prog="toy")
    flags.add_to(parser)
    return parser


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def test_a_toy_config_yields_its_flags_choices_and_help():
    actions = _actions(_parser(ConfigFlags(_Toy)))
    assert {"--steps", "--lr", "--flag", "--no-flag", "--mode", "--colour", "--name", "--lambdas", "--limit",
            "--alias", "--inner-k", "--short-name"} <= set(actions)
    assert "--hidden" not in actions and "--renamed" not in actions
    assert actions["--mode"].choices == ["a", "b"] and actions["--colour"].choices == ["red", "blue"]
    assert actions["--name"].choices == ["n", "m"]
    assert actions["--steps"].help == "how many steps (default: 10)"
    assert actions["--lambdas"].help == "λ grid (default: 0.0,0.001)"
    assert actions["--inner-k"].help == "inner k (default: 1)"
    assert all(action.default is None for action in actions.values() if action.dest != "help")


def test_only_given_flags_override_and_nested_fields_merge():
    flags = ConfigFlags(_Toy)
    parser = _parser(flags)
    assert flags.overrides(parser.parse_args([])) == {}
    args = parser.parse_args(["--steps", "5", "--no-flag", "--lambdas", "0,1e-2", "1", "--limit", "none",
                              "--alias", "7", "--inner-k", "4"])
    assert flags.overrides(args) == {"steps": 5, "flag": False, "lambdas": ["0", "1e-2", "1"], "limit": None,
                                     "renamed": 7, "inner": {"k": 4, "short": "x"}}
    base = {"lr": 0.5, "inner": {"k": 2, "short": "y"}}
    merged = flags.overrides(parser.parse_args(["--inner-k", "9"]), base)
    assert merged == {"lr": 0.5, "inner": {"k": 9, "short": "y"}}
    assert _Toy.model_validate(merged).inner.k == 9


def test_forms_and_flags_read_the_same_choices_and_defaults():
    actions = _actions(_parser(ConfigFlags(_Toy)))
    specs = {spec.name: spec for spec in field_specs(_Toy)}
    for item in config_fields(_Toy):
        if item.kind == "choice":
            assert specs[item.name].options == list(item.choices)
            assert actions[f"--{item.name}"].choices == list(item.choices)
        assert specs[item.name].default == item.default
    assert specs["name"].widget == "select" and specs["colour"].widget == "select"

    from taser_engine.training.config import TrainConfig

    train_actions = _actions(_parser(ConfigFlags(TrainConfig)))
    train_specs = {spec.name: spec for spec in field_specs(TrainConfig)}
    assert train_actions["--method"].choices == train_specs["method"].options
    assert train_actions["--dataset"].choices == train_specs["dataset"].options
    assert train_actions["--probe"].choices == train_specs["penalty"].children[0].options


def test_a_new_config_field_appears_in_train_help_without_a_cli_edit(monkeypatch, capsys):
    from app.commands import train
    from taser_engine.training.config import TrainConfig

    class Extended(TrainConfig):
        brand_new_knob: int = Field(4, ge=1, description="a knob nobody wired into the CLI")

    monkeypatch.setattr(train, "FLAGS", ConfigFlags(Extended))
    assert app.cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--brand-new-knob" in out and "a knob nobody wired into the CLI (default: 4)" in " ".join(out.split())


def test_every_documented_train_and_finetune_flag_still_exists():
    from app.commands import finetune, train

    parser = app.cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    old = ("--preset --config --dataset --data-root --download --method --score-model --score-timestep "
           "--score-cache --lambda --probe --laplacian --penalty-method --num-probes --penalty-fraction "
           "--freeze-batchnorm --epochs --batch-size --epsilon --steps --step-size --beta --trades-forwards "
           "--lambda-mart --awp-gamma --awp-warmup --max-train-samples --max-test-samples --seed --device --amp "
           "--cpu-threads --checkpoint-every-steps --gpus --out --json --no-resume --quiet").split()
    assert set(old + "--taser --arch --activation --width --lr".split()) <= set(_actions(sub.choices["train"]))
    assert set(old + "--from --no-taser --alpha --eta-max --eta-min --adv-lite".split()) <= set(
        _actions(sub.choices["finetune"]))
    args = parser.parse_args(["train", "--lambda", "2", "--steps", "3", "--probe", "logit", "--out", "x"])
    assert train.FLAGS.overrides(args)["taser_lambda"] == 2 and train.FLAGS.overrides(args)["num_steps"] == 3
    assert train.FLAGS.overrides(args)["penalty"]["probe"] == "logit"
    args = parser.parse_args(["finetune", "--from", "run", "--adv-lite", "2", "--no-taser", "--out", "y"])
    assert finetune.FLAGS.overrides(args) == {"source": "run", "adversarial_lite_steps": 2, "taser": False}


@pytest.mark.parametrize("argv", [["train", "--method", "nope", "--out", "x"],
                                  ["submit", "train", "--method", "nope"],
                                  ["bench", "overhead", "--models", "small_cnn,nope"],
                                  ["train", "--epochs", "many", "--out", "x"]])
def test_an_invalid_value_is_one_readable_line_and_exit_code_2(argv, capsys):
    assert app.cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ("invalid choice: 'nope'" in err) or ("--epochs: invalid int value: 'many'" in err)


def test_submit_reads_a_kinds_flags_over_its_config_file(tmp_path, monkeypatch):
    from app.commands import submit

    flags, parser = submit.kind_flags("count")
    args = parser.parse_args(["--steps", "7", "--no-cooperative"])
    assert flags.overrides(args, {"steps": 3, "lr": 0.5}) == {"steps": 7, "lr": 0.5, "cooperative": False}
    noop_flags, _ = submit.kind_flags("noop")
    assert all(flag.option != "--tag" for flag in noop_flags.flags)  # submit's own --tag wins
