"""Typed configs: dataclass trees read from YAML, with dotted ``key=value`` overrides.

A config is a tree of dataclasses. :func:`load_config` reads a YAML mapping, applies
overrides such as ``optim.lr=3e-4`` (values parsed as YAML scalars, so ``true``, ``null``,
``[0.1, 0.9]`` work), and builds the tree, checking every key and value type. An unknown key
raises :class:`ConfigError` naming the valid keys at that level. Fields annotated
``dict[...]`` are free-form: their keys are checked by whoever consumes them.

Example:
    >>> from spoofscope.train_config import TrainConfig
    >>> cfg = from_dict(TrainConfig, apply_overrides({"epochs": 3}, ["optim.lr=3e-4"]))
    >>> cfg.optim.lr, cfg.epochs
    (0.0003, 3)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from spoofscope.errors import SpoofscopeError

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "apply_overrides",
    "diff_configs",
    "from_dict",
    "load_config",
    "load_yaml",
    "parse_override",
    "save_config",
    "to_dict",
]


class ConfigError(SpoofscopeError):
    """A config file or override is invalid; the message names the key and the valid keys."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into ``(["a", "b", "c"], value)``; value parsed as YAML.

    Raises:
        ConfigError: no ``=``, or an empty key part.
    """
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"override {text!r} is not of the form key.subkey=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a deep copy of ``data`` with dotted overrides set (intermediate dicts created)."""
    out = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"override {text!r}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a nested mapping, checking keys and value types.

    Args:
        cls: the dataclass type at the root of the tree.
        data: the mapping (missing keys keep their defaults).
        where: dotted prefix used in error messages.

    Raises:
        ConfigError: an unknown key (the message lists the valid keys) or a value of the
            wrong type (the message names the key, the value and the expected type).
    """
    data = {} if data is None else data
    label = where or "the config root"
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        keys = ", ".join(f"{where}.{u}" if where else u for u in unknown)
        raise ConfigError(
            f"unknown config key(s) {keys} in {label}; valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {
        name: _coerce(value, hints[name], f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{label}: {exc}") from None


def to_dict(config: Any) -> Any:
    """A plain YAML/JSON-friendly copy of a dataclass tree (tuples become lists)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [to_dict(v) for v in config]
    return config


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file holding a mapping (an empty file gives ``{}``).

    Raises:
        ConfigError: missing file, invalid YAML, or not a mapping at the top level.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    """Read YAML ``path`` (or start from defaults when None), apply overrides, build ``cls``.

    Raises:
        ConfigError: missing or unreadable file, invalid YAML, unknown keys, wrong types.
    """
    data = load_yaml(path) if path is not None else {}
    return from_dict(cls, apply_overrides(data, list(overrides or [])))


def diff_configs(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two nested mappings, sorted.

    Example:
        >>> diff_configs({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0})
        ['a.c', 'd']
    """

    def flat(node: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(node, dict) or not node:
            return {prefix: node}
        return {k: v for key, val in node.items() for k, v in flat(val, f"{prefix}.{key}").items()}

    a, b = flat(old, ""), flat(new, "")
    return sorted(k.lstrip(".") for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def save_config(config: Any, path: str | Path) -> Path:
    """Write the dataclass tree ``config`` as YAML to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
    return path


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    return getattr(tp, "__name__", str(tp)) if not args else str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to annotation ``tp``, or ConfigError naming ``where``."""
    try:
        return _convert(value, tp, where)
    except _Mismatch:
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}") from None


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp: Any, where: str) -> Any:  # noqa: C901 - one branch per type kind
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        # None first, then exact-type members, so "none" stays a string where allowed
        for member in sorted(args, key=lambda a: a is not type(None)):
            try:
                return _convert(value, member, where)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args:
            return value
        raise _Mismatch
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Mismatch
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _Mismatch
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _Mismatch
            return tuple(
                _coerce(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or tp) is tuple else items
    if origin is dict or tp is dict:
        if isinstance(value, dict):
            return _deep_copy(value)
        raise _Mismatch
    raise ConfigError(f"{where}: unsupported annotation {tp!r} in the config class")
