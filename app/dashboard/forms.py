"""Launch forms generated from a job kind's pydantic config class.

`field_specs` reads the class through `app.config_fields` (as the CLI's flags do): one `FieldSpec`
per field with its widget type.
`render_form` draws the widgets (numbers, checkboxes, Literal -> selectbox, lists -> comma text,
optional values -> text where empty means None, nested models -> their own group) and returns
the raw values plus one placeholder per field, where validation errors are shown next to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.config_fields import ConfigField, config_fields

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
    return [_spec(item) for item in config_fields(config_class)]


# config_fields' kind -> the widget that edits it
_WIDGET_OF = {"bool": "checkbox", "choice": "select", "int": "int", "float": "float", "text": "text",
              "list": "list", "model": "model", "json": "json"}


def _spec(item: ConfigField) -> FieldSpec:
    widget = _WIDGET_OF[item.kind]
    # a list of choices offers them too (e.g. the evaluate form's attacks)
    options = list(item.choices) if item.kind == "choice" or item.element == "choice" else []
    inner = ""
    if widget == "list":
        inner = _WIDGET_OF.get(item.element, "text")
        inner = inner if inner in ("int", "float", "select") else "text"
    if item.optional and widget != "model":
        # an optional list is edited as a list ("10, 100"; empty = none), not as JSON
        inner, widget = (widget if widget in ("int", "float", "text", "select", "list") else "json"), "optional"
    return FieldSpec(name=item.name, widget=widget, default=item.default, required=item.required,
                     help=item.described_with_choices, options=options, inner=inner,
                     children=[_spec(child) for child in item.children])


# ----------------------------------------------------------------------------------------------
# text <-> value conversions (pure)


def list_to_text(values) -> str:
    return ", ".join(_scalar_text(value) for value in (values or []))


def text_to_list(text: str) -> list[str]:
    """Comma- or whitespace-separated items, optionally in brackets ("[10, 100]", "(10, 100)");
    pydantic converts each to the element type."""
    text = text.strip()
    if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
        text = text[1:-1]
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
    if spec.widget == "optional" and spec.inner == "list":
        text = st.text_input(label, value="" if value is None else list_to_text(value), key=key,
                             help=(help_text or "") + " (comma-separated; empty = none)")
        return text_to_list(text) if text.strip() else None
    if spec.widget == "optional":
        return text_to_optional(st.text_input(label, value=optional_to_text(value), key=key,
                                              help=(help_text or "") + " (empty = none)"))
    if spec.widget == "json":
        text = st.text_input(label, value=json.dumps(value) if value is not None else "", key=key, help=help_text)
        return text_to_optional(text)
    text = st.text_input(label, value="" if value is None else str(value), key=key, help=help_text)
    return text if text != "" or not spec.required else None
