"""Layered configuration: YAML layers merged in order, validated into frozen dataclasses.

Layers are merged base < stage < domain < run < command line. Every key must name a field of
the target dataclass: a misspelled key is an error that names the key and the layer that
set it, never a silent default (the RecBole habit this project avoids). Values are
type-checked against the dataclass annotations.

This module imports neither torch nor faiss, so resolving a config is cheap.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_origin

import yaml

from textcode.core.errors import ProjectError


class ConfigError(ProjectError, ValueError):
    """A configuration problem; the message names the key and where it was set."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """One source of settings: a YAML file, or command-line overrides."""

    name: str
    data: Mapping[str, Any]


def load_layer(path: str | Path) -> Layer:
    """Read one YAML layer; an empty file is an empty layer."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return Layer(str(path), data)


def parse_overrides(items: list[str], name: str = "command line") -> Layer:
    """`a.b=3` strings into a layer; values are parsed as YAML scalars/lists."""
    data: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{name}: override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{name}: cannot parse value of {key!r}: {exc}") from exc
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {key!r} conflicts with another override")
        node[parts[-1]] = value
    return Layer(name, data)


def merge_layers(layers: list[Layer]) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge layers in order. Returns (merged, origin of each dotted key)."""
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def _merge(dst: dict, src: Mapping, prefix: str, origin: str) -> None:
        for key, value in src.items():
            if not isinstance(key, str):
                raise ConfigError(f"{origin}: key {key!r} under {prefix or 'top level'} is not a string")
            dotted = f"{prefix}{key}"
            if isinstance(value, Mapping) and isinstance(dst.get(key), dict):
                _merge(dst[key], value, dotted + ".", origin)
            else:
                dst[key] = _plain(value)
                _record(value, dotted, origin)

    def _record(value: Any, dotted: str, origin: str) -> None:
        origins[dotted] = origin
        if isinstance(value, Mapping):
            for k, v in value.items():
                _record(v, f"{dotted}.{k}", origin)

    for layer in layers:
        _merge(merged, layer.data, "", layer.name)
    return merged, origins


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def build(cls: type, data: Mapping[str, Any], origins: Mapping[str, str] | None = None, prefix: str = ""):
    """Construct dataclass `cls` from a nested mapping, strictly.

    Unknown keys, missing required keys and wrong types raise ConfigError naming the
    dotted key and the layer that set it.
    """
    origins = origins or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_where(prefix.rstrip('.'), origins)}: expected a mapping for {cls.__name__}, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{_where(prefix + str(key), origins)}: unknown key '{prefix}{key}' (known keys: {known})")
    kwargs = {}
    for name, field in fields.items():
        dotted = prefix + name
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], dotted, origins)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key '{dotted}'")
    return cls(**kwargs)


def _where(dotted: str, origins: Mapping[str, str]) -> str:
    return origins.get(dotted, "config")


def _coerce(tp: Any, value: Any, dotted: str, origins: Mapping[str, str]) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{_where(dotted, origins)}: key '{dotted}' must be {expected}, got {value!r}")

    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, dotted, origins)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else fail(" or ".join(_type_name(o) for o in options))
    if origin is Literal:
        if value not in get_args(tp):
            raise fail("one of " + ", ".join(repr(a) for a in get_args(tp)))
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, origins, dotted + ".")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(_coerce(item_tp, v, f"{dotted}[{i}]", origins) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return {_coerce(key_tp, k, dotted, origins): _coerce(val_tp, v, f"{dotted}.{k}", origins) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    raise ConfigError(f"key '{dotted}': unsupported annotation {tp!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain JSON-able structure (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
