"""Method settings from text (`--set key=value` on the CLI, a request's JSON in the server): typed by
the settings dataclass's field annotations, with unknown keys refused (never silently ignored)."""

from __future__ import annotations

import dataclasses
import math
import typing

from ..errors import LeanthinkError


def setting_names(cls) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(cls))


def parse_value(cls, key: str, raw: str):
    """`raw` converted to the type of `cls`'s field `key` (an `X | None` field takes X)."""
    kind = typing.get_type_hints(cls).get(key, str)
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    base = args[0] if args else kind
    try:
        if base is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        if base is int:
            return int(raw)
        if base is float:
            value = float(raw)
            if not math.isfinite(value):
                raise LeanthinkError(f"--set {key}={raw}: expected a finite number")
            return value
    except ValueError:
        raise LeanthinkError(f"--set {key}={raw}: expected a {base.__name__}") from None
    return raw


def method_settings(method: str, sets: list[str] = (), **common) -> dict:
    """Settings for `method` from the common flags it supports (None = not given) and `key=value`
    strings. A common flag the method lacks is an error naming the flag."""
    from . import method_class

    cls = method_class(method)
    fields = set(setting_names(cls))
    settings = {}
    for key, value in common.items():
        if value is None:
            continue
        if key not in fields:
            raise LeanthinkError(f"--{key.replace('_', '-')} does not apply to method {method!r} "
                                 f"(its settings: {', '.join(sorted(fields)) or 'none'})")
        settings[key] = value
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep:
            raise LeanthinkError(f"--set {item!r}: expected KEY=VALUE")
        if key not in fields:
            raise LeanthinkError(f"--set {key}: method {method!r} has no such setting (its settings: "
                                 f"{', '.join(sorted(fields)) or 'none'})")
        settings[key] = parse_value(cls, key, raw)
    return settings
