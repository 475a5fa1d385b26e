"""Launch forms generated from a job kind's pydantic config class.

`field_specs` reads the class through `app.config_fields` (as the CLI's flags do): one `FieldSpec`
per field with its widget type.
`render_form` draws the widgets (numbers, checkboxes, Literal and registry names -> selectbox, lists
of them -> multiselect, other lists -> comma text, optional values -> text where empty means None or
a selectbox with None first, run references -> a picker of runs, nested models -> their own block)
in the groups of `app.config_groups`, and returns the raw values plus one placeholder per field,
where validation errors are shown next to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.commands._flags import flag_name
from app.config_fields import ConfigField, config_fields
from app.config_groups import FILLED_IN, GROUP_TITLES, GROUPS, group_of, label_of, place_in_group
from app.jobs import RUN_REFERENCE_FIELDS

# "run": a run id picked from a list; "fixed": a field with one allowed value (a config's `kind`
# discriminator), sent as is and not drawn; "filled": filled in from another field
# (config_groups.FILLED_IN), not drawn
WIDGETS = ("checkbox", "select", "int", "float", "text", "list", "optional", "json", "model", "run", "fixed",
           "filled")
UNDRAWN = ("fixed", "filled")


@dataclass
class FieldSpec:
    name: str
    widget: str  # one of WIDGETS
    default: Any
    required: bool
    help: str = ""
    options: list[Any] = field(default_factory=list)  # select choices
    inner: str = ""  # list / optional: the element widget ("int", "float", "text", "select", ...)
    children: list["FieldSpec"] = field(default_factory=list)  # nested model
    label: str = ""  # what the form calls it; the field name and flag stay in the help
    flag: str = ""  # its command-line flag ("" when it has none)
    group: str = "other"  # one of app.config_groups.GROUPS

    @property
    def where(self) -> str:
        """The field's name and flag, so a form value can be carried to the CLI or a config file."""
        return f"field `{self.name}`" + (f", flag `{self.flag}`" if self.flag else "")


def field_specs(config_class: type[BaseModel], kind: str = "") -> list[FieldSpec]:
    return [_spec(item, kind) for item in config_fields(config_class)]


# config_fields' kind -> the widget that edits it
_WIDGET_OF = {"bool": "checkbox", "choice": "select", "int": "int", "float": "float", "text": "text",
              "list": "list", "model": "model", "json": "json"}


def _spec(item: ConfigField, kind: str = "", parent: str = "") -> FieldSpec:
    widget = _WIDGET_OF[item.kind]
    # a list of choices offers them too (e.g. the evaluate form's attacks)
    options = list(item.choices) if item.kind == "choice" or item.element == "choice" else []
    inner = ""
    if widget == "list":
        inner = _WIDGET_OF.get(item.element, "text")
        inner = inner if inner in ("int", "float", "select") else "text"
    if item.optional and widget != "model":
        # an optional list is edited as a list ("10, 100"; empty = none), not as JSON
        edited_as = ("int", "float", "text", "select", "list", "checkbox")
        inner, widget = (widget if widget in edited_as else "json"), "optional"
    if item.name in RUN_REFERENCE_FIELDS and not parent:
        widget = "run"
    elif item.kind == "choice" and len(item.choices) == 1 and not item.optional:
        widget = "fixed"
    elif item.name in FILLED_IN.get(kind, ()) and not parent:
        widget = "filled"
    # as `app.commands._flags.ConfigFlags` names them: a nested model has no flag of its own, its fields do
    flag = (item.extra.get("flag") or flag_name(f"{parent}_{item.name}" if parent else item.name)
            if item.on_command_line and item.kind != "model" else "")
    return FieldSpec(name=item.name, widget=widget, default=item.default, required=item.required,
                     help=item.described_with_choices, options=options, inner=inner,
                     children=[_spec(child, kind, item.name) for child in item.children],
                     label=label_of(item.name), flag=flag, group=group_of(item.name, kind))


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
        message = error.get("msg", "invalid value")
        if not location:  # a model validator's reason: pydantic's prefix says nothing to a user
            message = message.removeprefix("Value error, ")
        problems.setdefault(location, []).append(message)
    return problems


def field_named_in(message: str, fields) -> str | None:
    """The field a whole-config message is about, when it starts with one of `fields` as the
    config validators word them ("batch_size: 64 cannot give each of the 64 processes ...")."""
    head, colon, _ = message.partition(":")
    return head.strip() if colon and head.strip() in fields else None


# ----------------------------------------------------------------------------------------------
# Streamlit widgets


def render_form(specs: list[FieldSpec], values: dict[str, Any], key_prefix: str, *,
                run_choices: dict[str, dict[int, str]] | None = None,
                columns: int = 3) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw one widget per field, group by group, starting from `values`; returns (raw config,
    placeholders). `run_choices`: per run field, {run id: label} of the runs it may name."""
    import streamlit as st

    raw: dict[str, Any] = {}
    placeholders: dict[str, Any] = {}
    for group in GROUPS:
        members = sorted((spec for spec in specs if spec.group == group),
                         key=lambda spec: place_in_group(spec.name, group))
        if not members:
            continue
        title = GROUP_TITLES[group]
        drawn = [spec for spec in members if spec.widget not in UNDRAWN]
        with st.container(border=bool(title and drawn)):
            if title and drawn:
                st.markdown(f"**{title}**")
            _draw_fields(members, values, key_prefix, run_choices or {}, columns, raw, placeholders)
    return raw, placeholders


def _draw_fields(specs, values, key_prefix, run_choices, columns, raw, placeholders) -> None:
    import streamlit as st

    plain = [spec for spec in specs if spec.widget not in ("model", *UNDRAWN)]
    for spec in specs:
        if spec.widget == "fixed":
            raw[spec.name] = spec.options[0]
        elif spec.widget == "filled":
            raw[spec.name] = values.get(spec.name, spec.default)
    grid = st.columns(columns) if plain else []
    for index, spec in enumerate(plain):
        with grid[index % columns]:
            raw[spec.name] = _widget(spec, values.get(spec.name, spec.default), f"{key_prefix}.{spec.name}",
                                     run_choices.get(spec.name))
            placeholders[spec.name] = st.empty()
    for spec in specs:
        if spec.widget == "model":
            st.caption(f"{spec.label}" + (f": {spec.help}" if spec.help else "") + f" ({spec.where})")
            nested = values.get(spec.name) or spec.default or {}
            inner_raw: dict[str, Any] = {}
            inner_holders: dict[str, Any] = {}
            _draw_fields(spec.children, nested, f"{key_prefix}.{spec.name}", {}, columns, inner_raw, inner_holders)
            raw[spec.name] = inner_raw
            placeholders.update({f"{spec.name}.{name}": holder for name, holder in inner_holders.items()})
            placeholders[spec.name] = st.empty()


def _widget(spec: FieldSpec, value, key: str, run_choices: dict[int, str] | None = None):
    import streamlit as st

    label = spec.label + (" *" if spec.required else "")

    def described(note: str = "") -> str:
        return " ".join(part for part in (spec.help, note) if part) + f"\n\n{spec.where}"

    if spec.widget == "run":
        return _run_picker(spec, value, key, label, run_choices or {}, described())
    if spec.widget == "checkbox":
        return st.checkbox(label, value=bool(value), key=key, help=described())
    if spec.widget == "select":
        index = spec.options.index(value) if value in spec.options else 0
        return st.selectbox(label, spec.options, index=index, key=key, help=described())
    if spec.widget == "int" and value is not None:
        return st.number_input(label, value=int(value), step=1, key=key, help=described())
    if spec.widget == "float" and value is not None:
        return st.number_input(label, value=float(value), format="%g", key=key, help=described())
    if spec.widget == "list" and spec.inner == "select":
        # a value the choices lack (a plug-in since removed) stays, for validation to name it
        chosen = list(value or [])
        options = spec.options + [item for item in chosen if item not in spec.options]
        return st.multiselect(label, options, default=chosen, key=key, help=described())
    if spec.widget == "list":
        return text_to_list(st.text_input(label, value=list_to_text(value), key=key,
                                          help=described("(comma-separated)")))
    if spec.widget == "optional" and spec.inner in ("select", "checkbox"):
        # None is a choice like the others: what it means ("the dataset's default") is in the help
        options = [None, *(spec.options if spec.inner == "select" else [True, False])]
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key,
                            help=described(), format_func=_choice_text)
    if spec.widget == "optional" and spec.inner == "list":
        text = st.text_input(label, value="" if value is None else list_to_text(value), key=key,
                             help=described("(comma-separated; empty = none)"))
        return text_to_list(text) if text.strip() else None
    if spec.widget == "optional":
        return text_to_optional(st.text_input(label, value=optional_to_text(value), key=key,
                                              help=described("(empty = none)")))
    if spec.widget == "json":
        text = st.text_input(label, value=json.dumps(value) if value is not None else "", key=key, help=described())
        return text_to_optional(text)
    text = st.text_input(label, value="" if value is None else str(value), key=key, help=described())
    return text if text != "" or not spec.required else None


def _choice_text(value) -> str:
    if value is None:
        return "default (None)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _run_picker(spec: FieldSpec, value, key: str, label: str, choices: dict[int, str], help_text: str):
    """A run reference as a choice among the runs that fit ("#12 name (kind)"); a run named by the
    preset or a cloned config that is not among them stays choosable, so nothing is lost silently."""
    import streamlit as st

    choices = dict(choices)
    if isinstance(value, int) and value not in choices:
        choices[value] = f"#{value}"
    options: list[int | None] = ([] if spec.required else [None]) + list(choices)
    if not choices:
        st.caption(f"{label}: no run of the kind it needs yet")
    index = options.index(value) if value in options else 0
    return st.selectbox(label, options, index=index if options else None, key=key, help=help_text,
                        format_func=lambda run_id: "none" if run_id is None else choices.get(run_id, f"#{run_id}"))
