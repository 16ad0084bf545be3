"""A small name -> factory registry whose lookups fail with the list of valid names."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries; unknown names raise ``KeyError`` listing the valid ones.

    Args:
        kind: what the registry holds, used in error messages (e.g. ``"model"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> None:
        """Register ``entry`` under ``name``; a duplicate name is a programming error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """Return the entry for ``name`` or raise ``KeyError`` naming the valid choices."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.kind} {name!r}; valid choices: {valid}") from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def replace_config(config: Any, overrides: dict[str, Any], what: str) -> Any:
    """Return a copy of dataclass ``config`` with ``overrides`` applied.

    Args:
        config: a dataclass instance.
        overrides: field name -> new value.
        what: name used in the error message (e.g. ``"model 'aasist'"``).

    Raises:
        TypeError: an override names a field the config does not have; the message lists
            the valid fields.
    """
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(
            f"unknown config key(s) {', '.join(map(repr, unknown))} for {what}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(config, **overrides)


Factory = Callable[..., Any]
