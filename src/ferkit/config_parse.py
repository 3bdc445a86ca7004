"""Plain dicts -> typed dataclasses, and dotted ``key=value`` overrides, for ``ferkit.config``.

Types are checked against each field's annotation (never ``eval``); unknown keys fail with "did you mean ...";
wrong types fail naming the key, the value and the expected type.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Union

FREE_DICTS = ("kwargs", "fractions")  # user dicts whose keys are not checked here
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def coerce(value: Any, tp, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` (converting dicts to dataclasses); TypeError-free ValueError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key)
            except ValueError:
                continue  # try the next type; the error below names them all
        raise ValueError(f"{key}={value!r} has the wrong type; expected {' or '.join(map(_type_name, args))}.")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping of {tp.__name__} fields, got {value!r}.")
        return from_dict(tp, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list, got {value!r}.")
        (arg,) = typing.get_args(tp)
        return [coerce(v, arg, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping, got {value!r}.")
        _, arg = typing.get_args(tp)
        return {str(k): coerce(v, arg, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key}={value!r} must be true or false.")
        return value
    if tp is float:
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads "1e-5" (no dot) as a string; a number is clearly meant
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}={value!r} must be a number.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ValueError(f"{key}={value!r} must be an integer.")
        return int(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}={value!r} must be a string.")
        return value
    raise AssertionError(f"unhandled annotation {tp} for {key}")


def unknown_key(key: str, name: str, valid: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Unknown config key {key!r}.{hint} Valid keys here: {', '.join(valid)}.")


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass ``cls`` from ``data``: missing keys take defaults, unknown keys raise did-you-mean."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in names:
            raise unknown_key(key, str(name), names)
        kwargs[name] = coerce(value, hints[name], key)
    return cls(**kwargs)


def set_dotted(tree: dict, key: str, value: Any, new_node: Callable[[str], Any] = lambda part: {}) -> None:
    """Set ``tree[a][b][0][c] = value`` for ``key="a.b.0.c"``; list indices must exist, mapping keys too (except
    inside the free dicts ``FREE_DICTS``). A None node on the way becomes ``new_node(its key)``."""
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ValueError(
                    f"Override {key!r}: {where!r} needs a list index 0..{len(node) - 1}; "
                    f"add the item in the YAML (e.g. another stage) first."
                )
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"Override {key!r}: {'.'.join(parts[:i])!r} is not a mapping.")
        if part not in node and not (i > 0 and parts[i - 1] in FREE_DICTS):
            raise unknown_key(where, part, list(node))
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = new_node(part)
            node = node[part]


def parse_override(text: str) -> tuple[str, Any]:
    """``"stages.1.lr=1e-5"`` -> ``("stages.1.lr", 1e-05)``; the value is parsed with yaml.safe_load."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"Bad override {text!r}; write KEY=VALUE with a dotted key, e.g. data.batch_size=64.")
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None
