"""The config of a stage as a dataclass: the JSON Schema of `with` derived
from its fields (what `describe()` returns and `baton check` enforces), and
the step's JSON parsed into it with errors that name the key.

Types: str, int, float, bool, list[T], dict[str, T], Optional[T] (None
allowed), and nested dataclasses. A field without a default is required.
`field(metadata={"doc": "…"})` becomes the key's description, and
`metadata={"minimum": 1}` (or any JSON Schema keyword) is copied as is.
"""

import dataclasses
import json
import types
import typing

from baton_sdk.errors import ConfigError

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
_KEYWORDS = ("minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "pattern", "enum")


def _args(t):
    return typing.get_args(t)


def _is_optional(t):
    origin = typing.get_origin(t)
    return (origin is typing.Union or origin is types.UnionType) and type(None) in _args(t)


def _strip_optional(t):
    rest = [a for a in _args(t) if a is not type(None)]
    return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]


def type_schema(t):
    """The JSON Schema of one Python type."""
    if t in _SCALARS:
        return {"type": _SCALARS[t]}
    if _is_optional(t):
        inner = type_schema(_strip_optional(t))
        if "type" in inner and isinstance(inner["type"], str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    origin = typing.get_origin(t)
    if origin in (list, tuple, set, frozenset) or t in (list, tuple):
        args = _args(t)
        return {"type": "array", "items": type_schema(args[0])} if args else {"type": "array"}
    if origin is dict or t is dict:
        args = _args(t)
        return {"type": "object", "additionalProperties": type_schema(args[1])} if args else {"type": "object"}
    if typing.get_origin(t) is typing.Literal:
        return {"enum": list(_args(t))}
    if dataclasses.is_dataclass(t):
        return config_schema(t)
    if t is typing.Any:
        return {}
    raise TypeError(f"baton_sdk: no JSON Schema for the config type {t!r}")


def _hints(cls):
    return typing.get_type_hints(cls)


def config_schema(cls):
    """The JSON Schema (a dict) of a config dataclass."""
    hints = _hints(cls)
    properties, required = {}, []
    for f in dataclasses.fields(cls):
        prop = type_schema(hints[f.name])
        doc = f.metadata.get("doc")
        if doc:
            prop["description"] = doc
        for keyword in _KEYWORDS:
            if keyword in f.metadata:
                prop[keyword] = f.metadata[keyword]
        if f.default is not dataclasses.MISSING and f.default is not None:
            prop["default"] = f.default
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        properties[f.name] = prop
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return schema


def schema_json(cls):
    return json.dumps(config_schema(cls), sort_keys=True)


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a table"


def _convert(where, t, value):
    """`value` (from JSON) checked against `t`; errors name `where`."""
    if _is_optional(t):
        return None if value is None else _convert(where, _strip_optional(t), value)
    if t is typing.Any:
        return value
    if t is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"`{where}` must be true or false, not {_kind(value)}")
    if t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"`{where}` must be an integer, not {_kind(value)}")
    if t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"`{where}` must be a number, not {_kind(value)}")
    if t is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"`{where}` must be a string, not {_kind(value)}")
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        if value in _args(t):
            return value
        raise ConfigError(f"`{where}` must be one of {', '.join(json.dumps(a) for a in _args(t))}")
    if origin in (list, tuple, set, frozenset) or t in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"`{where}` must be a list, not {_kind(value)}")
        args = _args(t)
        return [_convert(f"{where}[{i}]", args[0], v) for i, v in enumerate(value)] if args else value
    if origin is dict or t is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"`{where}` must be a table, not {_kind(value)}")
        args = _args(t)
        return {k: _convert(f"{where}.{k}", args[1], v) for k, v in value.items()} if args else value
    if dataclasses.is_dataclass(t):
        return _build(t, value, where + ".")
    return value


def _build(cls, table, prefix=""):
    if not isinstance(table, dict):
        raise ConfigError(f"`{prefix.rstrip('.') or 'with'}` must be a table, not {_kind(table)}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in table:
        if key not in names:
            raise ConfigError(f"unknown key `{prefix}{key}` (expected one of: {', '.join(names)})")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in table:
            values[f.name] = _convert(prefix + f.name, hints[f.name], table[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key `{prefix}{f.name}`")
    obj = cls(**values)
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        if "minimum" in f.metadata and isinstance(value, (int, float)) and value < f.metadata["minimum"]:
            raise ConfigError(f"`{prefix}{f.name}` must be at least {f.metadata['minimum']}")
    return obj


def parse(cls, text):
    """The step's `with` (JSON text) as an instance of `cls`."""
    try:
        table = json.loads(text or "{}")
    except ValueError as e:
        raise ConfigError(f"the config is not JSON: {e}") from None
    return _build(cls, table)


def parse_any(text):
    """The step's `with` as a dict, for a stage without a config class."""
    try:
        return json.loads(text or "{}")
    except ValueError as e:
        raise ConfigError(f"the config is not JSON: {e}") from None
