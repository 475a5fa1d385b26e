"""Name → thing registries, so that a new dataset, objective, attack or score source is one new
module plus one registration.

A `Registry` maps names to whatever its kind registers (a class, usually). `Registry.Name` is a
str type for pydantic fields whose validation looks the name up when a config is validated, not
when the config class is defined: a name registered later (a plug-in module, a test) is accepted
by every config that names the registry, and the field's JSON schema lists the names known then.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin

from pydantic import AfterValidator, BaseModel

T = TypeVar("T")

# Names are shown in errors; a hostile value is cut to this many characters first.
_SHOWN = 40


class Registry(Generic[T]):
    """Things of one kind by name, in registration order."""

    def __init__(self, kind: str):
        self.kind = kind  # "dataset", "attack", ...: how errors name an entry
        self._entries: dict[str, T] = {}
        self.Name = Annotated[str, AfterValidator(self.check), _RegistryMarker(self)]

    def register(self, name: str, entry: T | None = None) -> Any:
        """`register(name, thing)`, or `@register(name)` above a class or function."""
        if entry is None:
            def decorate(thing: T) -> T:
                self.register(name, thing)
                return thing
            return decorate
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._entries[name]!r})")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Drops a name (tests that register a toy entry clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(self.unknown(name)) from None

    __getitem__ = get

    def unknown(self, name: Any) -> str:
        """The readable error for a name that is not registered."""
        return f"unknown {self.kind} {str(name)[:_SHOWN]!r}; choose one of {', '.join(self.names()) or '(none)'}"

    def check(self, name: str) -> str:
        """`name` when registered, else ValueError listing the known names (the `Name` validator)."""
        if name not in self._entries:
            raise ValueError(self.unknown(name))
        return name

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


class _RegistryMarker:
    """Metadata on `Registry.Name`: lets `field_choices` find the registry behind a field."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        return {**schema, "enum": list(self.registry.names())}


def registry_of(annotation: Any) -> Registry | None:
    """The registry whose `Name` an annotation is, or contains (`list[X.Name]`, `X.Name | None`)."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, _RegistryMarker):
            return meta.registry
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = registry_of(arg)
            if found is not None:
                return found
    return None


def registry_of_field(info: Any) -> Registry | None:
    """The registry behind a pydantic field (`x: X.Name`: pydantic moves the marker into the
    field's metadata; `list[X.Name]`, `X.Name | None`: it stays in the annotation)."""
    for meta in info.metadata:
        if isinstance(meta, _RegistryMarker):
            return meta.registry
    return registry_of(info.annotation)


def field_choices(model: type[BaseModel], field: str) -> tuple[str, ...] | None:
    """The names a config field accepts: a registry's names, a Literal's values, else None."""
    info = model.model_fields[field]
    registry = registry_of_field(info)
    if registry is not None:
        return registry.names()
    return _literal_values(info.annotation)


def _literal_values(annotation: Any) -> tuple[str, ...] | None:
    from typing import Literal

    if get_origin(annotation) is Literal:
        return tuple(get_args(annotation))
    for arg in get_args(annotation):
        found = _literal_values(arg)
        if found is not None:
            return found
    return None


__all__ = ["Registry", "field_choices", "registry_of", "registry_of_field"]
