"""The key reference of profiles, generated from the settings classes themselves, so it cannot drift:
each key's type, default, allowed values and one-line meaning (the comment the class gives the field).

``brokerchaos profile keys [BROKER]`` prints it; the README carries it (a test keeps the two equal).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any, get_type_hints

from chaos.profiles import FaultSettings, Guarantees, UpgradeSettings, WorkloadSettings

TOP_LEVEL_KEYS = (
    ("name", "str", "required", "the profile's name: its cluster, results and matrix rows are keyed on it"),
    ("broker", "str", "required", "which broker kit runs it (`brokerchaos profile keys` lists them)"),
    ("version", "str", "the kit's default", "the broker version (one of `brokerchaos images list`)"),
    ("image", "str", "none", "your own image of that version, derived from ours (same user, data dir)"),
    ("description", "str", '""', "what the profile is, for the report"),
    ("catalogue", "str", "none", "its row of the known-unsafe catalogue (CATALOGUE.md), e.g. K1"),
    ("expect", "str", '"pass"', '"fail" for a catalogue row the suite must catch'),
    ("expect_anomalies", "list[str]", "[]", 'what a row must be caught with (with expect = "fail")'),
    ("twin", "str", "<broker>-safe", "the safe profile that must pass under the row's faults"),
    ("meta_skip", "str", '""', "why the meta-suite cannot prove this row here (reported, never silent)"),
    (
        "meta_attempts",
        "int",
        "1",
        "a row whose fault races a broker's timer: the meta-suite plays it up to this many times (1-5), each "
        "with its own seed, until one is caught; each miss is a warning",
    ),
)
SHARED_TABLES = (
    ("workload", WorkloadSettings, "the load every broker's workload plays"),
    ("faults", FaultSettings, "what the schedule draws from"),
    ("guarantees", Guarantees, "what is checked (each claim is a guarantee test)"),
    ("upgrade", UpgradeSettings, "the target of the rolling-upgrade fault family"),
)
_FIELD = re.compile(r"^\s+(\w+)\s*:")


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class source: on its own line, or the comment lines right above it."""
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = _FIELD.match(line)
        if match:
            trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            comments[match.group(1)] = " ".join([*above, trailing]).strip()
        above = []
    return comments


def _type_name(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not getattr(hint, "__args__", None) else None
    return (text or str(hint).replace("typing.", "")).replace(" | NoneType", " or none").replace(" | None", " or none")


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value is None:
        return "none"
    return repr(value).replace("'", '"') if not isinstance(value, bool) else str(value).lower()


def _rows(cls: type) -> list[tuple[str, str, str, str]]:
    hints = get_type_hints(cls)
    comments = field_comments(cls)
    rows = []
    for f in dataclasses.fields(cls):
        meaning = comments.get(f.name, "")
        choices = f.metadata.get("choices")
        if choices:
            meaning = f"one of {', '.join(map(str, choices))}" + (f"; {meaning}" if meaning else "")
        minimum = f.metadata.get("minimum")
        if minimum is not None:
            meaning = f">= {minimum:g}" + (f"; {meaning}" if meaning else "")
        used_when = f.metadata.get("used_when")
        if used_when is not None:
            meaning += f" (only with {used_when[1]})"
        rows.append((f.name, _type_name(hints[f.name]), _default(f), meaning))
    return rows


def _table(title: str, rows: list[tuple[str, str, str, str]] | tuple[tuple[str, str, str, str], ...]) -> str:
    lines = [f"#### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {t} | `{d}` | {m} |".replace("`required`", "required") for k, t, d, m in rows]
    return "\n".join(lines) + "\n"


def key_reference(broker: str | None = None) -> str:
    """The reference as markdown: the top level and shared tables, then each broker's own sections (only
    ``broker``'s when given)."""
    from chaos.brokers import kit_for, kits

    chosen = [kit_for(broker)] if broker else list(kits().values())
    parts = [_table("top level", TOP_LEVEL_KEYS)]
    parts += [_table(f"[{name}] — {what}", _rows(cls)) for name, cls, what in SHARED_TABLES]
    seen: set[tuple[type, type]] = set()
    for kit in chosen:
        pair = (kit.cluster_settings, kit.client_settings)
        if pair in seen:  # valkey runs redis's sections
            continue
        seen.add(pair)
        names = ", ".join(k.broker for k in kits().values() if (k.cluster_settings, k.client_settings) == pair)
        parts.append(_table(f"[cluster] — {names}", _rows(kit.cluster_settings)))
        parts.append(_table(f"[client] — {names}", _rows(kit.client_settings)))
    return "\n".join(parts)
