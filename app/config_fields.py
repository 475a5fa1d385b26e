"""How a pydantic config's fields are read: one `ConfigField` per field, for flags and forms alike.

The CLI (`app.commands._flags.ConfigFlags`) and the dashboard (`app.dashboard.forms`) both read a
config class through `config_fields`, so a field's type, choices, default, description and bounds
are taken from the one declaration in the config. A field may carry per-field hints in
`Field(json_schema_extra={...})`:

    "flag":    the command-line flag, when it is not `--field-name` (e.g. "--lambda")
    "cli":     False to leave the field off the command line (still in forms and JSON)
    "choices": the allowed values, for a field whose type does not list them (e.g. a name
               checked by a validator)
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel

from taser_engine.registry import registry_of_field

# What a field holds, as far as a flag or a widget cares.
KINDS = ("bool", "choice", "int", "float", "text", "list", "model", "json")
BOUND_NAMES = ("ge", "gt", "le", "lt", "min_length", "max_length")


@dataclass(frozen=True)
class ConfigField:
    name: str
    kind: str  # one of KINDS
    default: Any  # None when required; nested models as their JSON dump
    required: bool
    optional: bool  # `X | None`: None is a value the field takes
    description: str = ""
    choices: tuple[Any, ...] = ()  # kind "choice" (and "list" of choices: the element's)
    element: str = ""  # kind "list": the element's kind; "json" for a tuple of mixed types
    length: int | None = None  # a fixed-length tuple's length
    bounds: dict[str, Any] = field(default_factory=dict)  # ge / gt / le / lt / lengths, where declared
    extra: dict[str, Any] = field(default_factory=dict)  # json_schema_extra hints (module docstring)
    children: tuple["ConfigField", ...] = ()  # kind "model": the nested config's fields

    @property
    def on_command_line(self) -> bool:
        return self.extra.get("cli", True) is not False

    @property
    def described_with_choices(self) -> str:
        """The description, and for a list of names the names it takes (a select lists its own
        choices; a comma-separated list does not): the flag's help and the form's say the same."""
        if self.kind != "list" or self.element != "choice":
            return self.description
        names = f"from: {', '.join(map(str, self.choices))}"
        return f"{self.description}; {names}" if self.description else names


def config_fields(config_class: type[BaseModel]) -> list[ConfigField]:
    """The fields of `config_class`, in declaration order."""
    return [_read_field(name, info) for name, info in config_class.model_fields.items()]


def _read_field(name: str, info) -> ConfigField:
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        default = default.model_dump(mode="json")
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    bounds = _bounds(info.metadata)
    annotation, optional = _strip_optional(info.annotation)
    bounds.update(_bounds(_annotated_metadata(annotation)))
    kind, choices, element, length, children = _kind_of(annotation)
    registry = registry_of_field(info)
    if "choices" in extra or registry is not None:
        # a registry's names are read now, not when the config was defined: a dataset, objective
        # or attack registered later (a plug-in module) is offered like a built-in one
        choices = tuple(extra["choices"]) if "choices" in extra else registry.names()
        if kind == "list":
            element = "choice"
        elif kind != "json":  # a mapping keyed by names (attack_params) stays a JSON value
            kind = "choice"
    return ConfigField(name=name, kind=kind, default=default, required=required, optional=optional,
                       description=info.description or "", choices=choices, element=element, length=length,
                       bounds=bounds, extra=dict(extra), children=children)


def _bounds(metadata) -> dict[str, Any]:
    found = {}
    for item in metadata or ():
        for bound in BOUND_NAMES:
            value = getattr(item, bound, None)
            if value is not None:
                found[bound] = value
    return found


def _annotated_metadata(annotation) -> list:
    found = []
    while typing.get_origin(annotation) is typing.Annotated:
        found.extend(annotation.__metadata__)
        annotation = typing.get_args(annotation)[0]
    return found


def unwrap(annotation):
    """The type inside `Annotated[type, constraints]` (bounds are pydantic's to check)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _strip_optional(annotation) -> tuple[Any, bool]:
    annotation = unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True
    return annotation, False


def _kind_of(annotation) -> tuple[str, tuple, str, int | None, tuple]:
    """(kind, choices, element kind, fixed length, children) of a bare annotation."""
    annotation = unwrap(annotation)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return "bool", (), "", None, ()
    if origin is Literal:
        return "choice", tuple(typing.get_args(annotation)), "", None, ()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", tuple(member.value for member in annotation), "", None, ()
    if annotation is int:
        return "int", (), "", None, ()
    if annotation is float:
        return "float", (), "", None, ()
    if annotation is str:
        return "text", (), "", None, ()
    if origin in (list, tuple, set, frozenset):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        length = len(args) if origin is tuple and Ellipsis not in typing.get_args(annotation) else None
        kinds = {_kind_of(arg)[0] for arg in args} or {"text"}
        element = kinds.pop() if len(kinds) == 1 else "json"
        choices = _kind_of(args[0])[1] if args and element == "choice" else ()
        return "list", choices, element, length, ()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", (), "", None, tuple(config_fields(annotation))
    return "json", (), "", None, ()
