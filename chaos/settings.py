"""Typed settings tables validated from TOML: one clear error naming the key, never a traceback.

A settings class is a dataclass whose fields carry their type (bool, int, float, str, list[str],
dict[str, str]) and optionally ``choices`` or ``minimum`` in the field metadata.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

from chaos.errors import UsageError

T = TypeVar("T")


class ProfileError(UsageError):
    """A profile that cannot be used; the message names the file and the key."""


class SettingsTable(Protocol):
    """A typed table of a profile that a broker contributes (its ``[cluster]`` and ``[client]``): a frozen
    dataclass whose fields are the table's keys, read by :func:`parse_table`."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


def choice(default: Any, *choices: Any) -> Any:
    return dataclasses.field(default=default, metadata={"choices": choices})


def at_least(default: Any, minimum: float) -> Any:
    return dataclasses.field(default=default, metadata={"minimum": minimum})


def used_only(setting: Any, when: Callable[[Any], bool], described: str) -> Any:
    """A setting that only takes effect ``when`` the rest of its table says so (``described`` says when,
    e.g. "client.poison = 'dead_letter'"). Given where it has no effect, it is refused at load: a setting
    the run would not apply is an error, never silently dropped."""
    if not isinstance(setting, dataclasses.Field):
        setting = dataclasses.field(default=setting)
    metadata = {**setting.metadata, "used_when": (when, described)}
    return dataclasses.field(default=setting.default, metadata=metadata)


def per_run(setting: Any) -> Any:
    """A ``[cluster]`` setting that each run applies to what it creates (a topic's partitions, replication
    and configs), not to the running brokers: profiles that differ only in these can share one cluster."""
    if not isinstance(setting, dataclasses.Field):
        setting = dataclasses.field(default=setting)
    return dataclasses.field(default=setting.default, metadata={**setting.metadata, "per_run": True})


def refuse_shared_dead_letters(
    groups: int, poison_every: int, dead_letters: bool, *, target: str, off: str, message: str = "message"
) -> None:
    """Several consumer groups each read every poison message: each would write its own copy into the one
    dead-letter ``target``, which no checker here can tell apart from a duplicate. Refused at load, the
    same words for every broker (``message`` as the broker names one); ``off`` turns dead-lettering off."""
    if groups > 1 and poison_every and dead_letters:
        raise ProfileError(
            f"client.consumer_groups > 1 with workload.poison_every: every group would write the same poison "
            f"{message} to the one {target} (set {off}, or one group)"
        )


def cluster_identity(table: SettingsTable) -> str:
    """What of a ``[cluster]`` table the running brokers were started with: every setting but the
    :func:`per_run` ones, which each run applies to its own topic or queue."""
    kept = [f"{f.name}={getattr(table, f.name)!r}" for f in dataclasses.fields(table) if not f.metadata.get("per_run")]
    return f"{type(table).__name__}({', '.join(kept)})"


def _type_ok(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        _, item = get_args(hint)
        return isinstance(value, dict) and all(isinstance(k, str) and _type_ok(v, item) for k, v in value.items())
    if hint is Any:
        return True
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def parse_table(cls: type[T], table: Any, where: str) -> T:
    """Build ``cls`` from a TOML table; unknown keys, wrong types and bad values name ``where.key``."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ProfileError(f"{where} must be a table")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ProfileError(f"unknown key {where}.{key} (known: {known})")
    values = {}
    for name, value in table.items():
        hint = hints[name]
        if not _type_ok(value, hint):
            raise ProfileError(f"{where}.{name} must be {_type_name(hint)} (got {value!r})")
        choices = fields[name].metadata.get("choices")
        if choices and value not in choices:
            raise ProfileError(f"{where}.{name} must be one of {', '.join(map(str, choices))} (got {value!r})")
        minimum = fields[name].metadata.get("minimum")
        if minimum is not None and value < minimum:
            raise ProfileError(f"{where}.{name} must be >= {minimum} (got {value!r})")
        values[name] = value
    built = cls(**values)
    for name in table:
        used_when = fields[name].metadata.get("used_when")
        if used_when is not None and not used_when[0](built):
            raise ProfileError(f"{where}.{name} has no effect unless {used_when[1]}: remove it or change that")
    return built
