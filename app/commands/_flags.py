"""`ConfigFlags`: a command's flags generated from a pydantic config, and the overrides they give.

Every field of the config becomes `--field-name` (or the field's `json_schema_extra["flag"]`),
read through `app.config_fields` as the dashboard's forms read it:

    bool                  --x / --no-x
    Literal, Enum, hint   choices (argparse refuses others: one line, exit code 2)
    int, float, str       that type (a float may be a fraction: 8/255)
    list, tuple           comma-separated (or space-separated) items
    X | None              also 'none', which sets the field to None (not for text fields)
    nested model          one flag per nested field, `--parent-field` unless the field names its own

Help is the field's description with its default. Every flag defaults to None, so only the flags
given override the preset, the config file or the config's own defaults; bounds and cross-field
rules stay with pydantic, whose errors the commands print as one line.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from app.config_fields import ConfigField, config_fields

# `--x none` for an optional field: "set it to None", not "not given" (which is None)
_NONE = object()


@dataclass(frozen=True)
class _Flag:
    field: ConfigField
    option: str
    dest: str
    parent: str | None = None  # nested model field this flag sets a member of
    parent_default: dict[str, Any] | None = None  # that field's default, where the given members go


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


class ConfigFlags:
    """The flags of `config_class`'s fields (less `exclude` and fields marked `cli: False`).

    `required`: fields whose flag must be given. `taken`: options the command itself has; a field
    whose flag would be one of them gets no flag (it is still set through a config file).
    """

    def __init__(self, config_class: type[BaseModel], *, exclude: tuple[str, ...] = (),
                 required: tuple[str, ...] = (), taken: tuple[str, ...] = ()):
        self.config_class = config_class
        self.required = set(required)
        self._exclude, self._taken = exclude, taken
        self.flags = self._read_fields()

    def _read_fields(self) -> list[_Flag]:
        flags: list[_Flag] = []
        for item in config_fields(self.config_class):
            if item.name in self._exclude or not item.on_command_line:
                continue
            if item.kind == "model":
                flags.extend(
                    _Flag(child, child.extra.get("flag") or flag_name(f"{item.name}_{child.name}"),
                          f"{item.name}.{child.name}", item.name, item.default)
                    for child in item.children if child.on_command_line)
            else:
                flags.append(_Flag(item, item.extra.get("flag") or flag_name(item.name), item.name))
        return [flag for flag in flags if flag.option not in self._taken]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        # Read the fields again: commands make their ConfigFlags when imported, and a registry
        # name added since (a plug-in, a test) must be among the choices of the parser built now.
        self.flags = self._read_fields()
        for flag in self.flags:
            parser.add_argument(flag.option, dest=flag.dest, default=None,
                                required=flag.field.name in self.required and flag.parent is None,
                                help=_help(flag.field), **_argument_kind(flag.field))

    def overrides(self, args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """`base` (e.g. a config file's values) with the fields whose flags were given set over it.

        A nested model's flags update its values in `base`, or its defaults where `base` has none.
        """
        values = dict(base or {})
        nested: dict[str, dict[str, Any]] = {}
        for flag in self.flags:
            value = getattr(args, flag.dest, None)
            if value is None:
                continue
            value = None if value is _NONE else _value(flag.field, value)
            if flag.parent is None:
                values[flag.field.name] = value
            else:
                nested.setdefault(flag.parent, {})[flag.field.name] = value
        for parent, given in nested.items():
            start = values.get(parent) or self._default_of(parent)
            values[parent] = {**start, **given}
        return values

    def option_of(self, field: str) -> str:
        """The flag that sets config field `field` (dotted for a nested one), or `field` if none does."""
        return next((flag.option for flag in self.flags if flag.dest == field), field)

    def _default_of(self, parent: str) -> dict[str, Any]:
        return dict(next(flag.parent_default for flag in self.flags if flag.parent == parent) or {})


def _help(item: ConfigField) -> str:
    text = item.described_with_choices
    # a description that speaks of its default already says it better than the value would
    if not item.required and item.default is not None and item.kind != "model" and "default" not in text:
        shown = ",".join(map(str, item.default)) if isinstance(item.default, (list, tuple)) else item.default
        text = f"{text} (default: {shown})" if text else f"default: {shown}"
    return text.replace("%", "%%")


def _argument_kind(item: ConfigField) -> dict[str, Any]:
    if item.kind == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if item.kind == "list":
        parse = _items_of(item.choices) if item.element == "choice" else str
        metavar = {"int": "N", "float": "X", "choice": "NAME"}.get(item.element, "VALUE")
        return {"nargs": "+", "metavar": metavar, "type": _or_none(item, parse)}
    if item.kind == "choice":
        element = type(item.choices[0]) if item.choices else str
        if not item.optional:
            return {"choices": list(item.choices), "type": element}

        def element_or_none(text: str):
            return "none" if text.strip().lower() == "none" else element(text)

        element_or_none.__name__ = element.__name__
        return {"choices": [*item.choices, "none"], "type": element_or_none}
    scalar = {"int": int, "float": _number, "json": _json}.get(item.kind, str)
    return {"type": _or_none(item, scalar), "metavar": _metavar(item)}


def _items_of(choices: tuple):
    """argparse type: comma-separated items, each one of `choices`."""
    def parse(text: str) -> str:
        unknown = [piece.strip() for piece in text.split(",") if piece.strip() and piece.strip() not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"invalid choice: {unknown[0][:40]!r} (choose from "
                                             f"{', '.join(map(str, choices))})")
        return text

    return parse


def _metavar(item: ConfigField) -> str | None:
    return {"int": "N", "float": "X"}.get(item.kind)


def _or_none(item: ConfigField, parse):
    """`parse`, or for an optional non-text field also 'none' (-> None)."""
    if not item.optional or item.kind == "text":
        return parse

    def parse_or_none(text: str):
        return _NONE if text.strip().lower() == "none" else parse(text)

    parse_or_none.__name__ = getattr(parse, "__name__", "value")
    return parse_or_none


def _number(text: str) -> float:
    """A float, also written as a fraction ('8/255', as budgets are quoted)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or fraction, got {text[:40]!r}") from None


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word: pydantic says what it should have been


def _value(item: ConfigField, value):
    """The parsed flag as the field's raw value (pydantic converts and checks it)."""
    if item.kind == "list":
        if any(part is _NONE for part in value):
            return None
        return [piece.strip() for part in value for piece in str(part).split(",") if piece.strip()]
    if item.kind == "choice" and value == "none":
        return None
    return value


_json.__name__ = "JSON value"
