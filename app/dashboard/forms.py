"""Launch forms generated from a job kind's pydantic config class.

`field_specs` reads the class (pure, testable): one `FieldSpec` per field with its widget type.
`render_form` draws the widgets (numbers, checkboxes, Literal -> selectbox, lists -> comma text,
optional values -> text where empty means None, nested models -> their own group) and returns
the raw values plus one placeholder per field, where validation errors are shown next to it.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel

from taser_engine.registry import registry_of

WIDGETS = ("checkbox", "select", "int", "float", "text", "list", "optional", "json", "model")


@dataclass
class FieldSpec:
    name: str
    widget: str  # one of WIDGETS
    default: Any
    required: bool
    help: str = ""
    options: list[Any] = field(default_factory=list)  # select choices
    inner: str = ""  # list / optional: the element widget ("int", "float", "text", "select")
    children: list["FieldSpec"] = field(default_factory=list)  # nested model


def field_specs(config_class: type[BaseModel]) -> list[FieldSpec]:
    specs = []
    for name, info in config_class.model_fields.items():
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        specs.append(_spec(name, info.annotation, default, required, info.description or ""))
    return specs


def _spec(name: str, annotation, default, required: bool, help_text: str) -> FieldSpec:
    base, optional = _strip_optional(annotation)
    widget, options, inner, children = _widget_for(base)
    if optional and widget not in ("model",):
        inner, widget = (widget if widget in ("int", "float", "text", "select") else "json"), "optional"
    if isinstance(default, BaseModel):
        default = default.model_dump(mode="json")
    return FieldSpec(name=name, widget=widget, default=default, required=required, help=help_text,
                     options=options, inner=inner, children=children)


def _unwrap(annotation):
    """The type inside `Annotated[type, constraints]` (bounds are pydantic's to check)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _strip_optional(annotation) -> tuple[Any, bool]:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True
    return annotation, False


def _widget_for(annotation) -> tuple[str, list, str, list]:
    registry = registry_of(annotation) if typing.get_origin(annotation) is typing.Annotated else None
    if registry is not None:  # a registry's names, read now: entries registered later are offered
        return "select", list(registry.names()), "", []
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return "checkbox", [], "", []
    if origin is Literal:
        return "select", list(typing.get_args(annotation)), "", []
    if annotation is int:
        return "int", [], "", []
    if annotation is float:
        return "float", [], "", []
    if annotation is str:
        return "text", [], "", []
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        element = _widget_for(args[0])[0] if args else "text"
        return "list", [], element if element in ("int", "float", "select") else "text", []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", [], "", field_specs(annotation)
    return "json", [], "", []


# ----------------------------------------------------------------------------------------------
# text <-> value conversions (pure)


def list_to_text(values) -> str:
    return ", ".join(_scalar_text(value) for value in (values or []))


def text_to_list(text: str) -> list[str]:
    """Comma- or whitespace-separated items; pydantic converts each to the element type."""
    return [item for item in text.replace(",", " ").split() if item]


def optional_to_text(value) -> str:
    return "" if value is None else (_scalar_text(value) if not isinstance(value, (dict, list)) else json.dumps(value))


def text_to_optional(text: str):
    text = text.strip()
    if not text:
        return None
    if text[0] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _scalar_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def error_messages(exc) -> dict[str, list[str]]:
    """pydantic ValidationError -> {dotted field path: [messages]} ("" for whole-config errors)."""
    problems: dict[str, list[str]] = {}
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if not isinstance(part, int))
        problems.setdefault(location, []).append(error.get("msg", "invalid value"))
    return problems


# ----------------------------------------------------------------------------------------------
# Streamlit widgets


def render_form(specs: list[FieldSpec], values: dict[str, Any], key_prefix: str,
                columns: int = 3) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw one widget per field, starting from `values`; returns (raw config, placeholders)."""
    import streamlit as st

    raw: dict[str, Any] = {}
    placeholders: dict[str, Any] = {}
    plain = [spec for spec in specs if spec.widget != "model"]
    grid = st.columns(columns)
    for index, spec in enumerate(plain):
        with grid[index % columns]:
            raw[spec.name] = _widget(spec, values.get(spec.name, spec.default), f"{key_prefix}.{spec.name}")
            placeholders[spec.name] = st.empty()
    for spec in specs:
        if spec.widget == "model":
            st.markdown(f"**{spec.name}** {('— ' + spec.help) if spec.help else ''}")
            nested = values.get(spec.name) or spec.default or {}
            raw[spec.name], inner = render_form(spec.children, nested, f"{key_prefix}.{spec.name}", columns)
            placeholders.update({f"{spec.name}.{name}": holder for name, holder in inner.items()})
            placeholders[spec.name] = st.empty()
    return raw, placeholders


def _widget(spec: FieldSpec, value, key: str):
    import streamlit as st

    label = spec.name + (" *" if spec.required else "")
    help_text = spec.help or None
    if spec.widget == "checkbox":
        return st.checkbox(label, value=bool(value), key=key, help=help_text)
    if spec.widget == "select":
        index = spec.options.index(value) if value in spec.options else 0
        return st.selectbox(label, spec.options, index=index, key=key, help=help_text)
    if spec.widget == "int" and value is not None:
        return st.number_input(label, value=int(value), step=1, key=key, help=help_text)
    if spec.widget == "float" and value is not None:
        return st.number_input(label, value=float(value), format="%g", key=key, help=help_text)
    if spec.widget == "list":
        return text_to_list(st.text_input(label, value=list_to_text(value), key=key,
                                          help=(help_text or "") + " (comma-separated)"))
    if spec.widget == "optional":
        return text_to_optional(st.text_input(label, value=optional_to_text(value), key=key,
                                              help=(help_text or "") + " (empty = none)"))
    if spec.widget == "json":
        text = st.text_input(label, value=json.dumps(value) if value is not None else "", key=key, help=help_text)
        return text_to_optional(text)
    text = st.text_input(label, value="" if value is None else str(value), key=key, help=help_text)
    return text if text != "" or not spec.required else None
