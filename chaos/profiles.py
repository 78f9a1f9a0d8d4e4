"""Profiles: the user's broker settings, client settings and the guarantees they expect, in TOML.

    name = "redis-safe"            # top-level keys
    broker = "redis"
    version = "7.0.15"             # optional: the catalogue default otherwise
    catalogue = "S0"               # optional: its row of the known-unsafe catalogue (CATALOGUE.md)
    expect = "pass"                # or "fail" (a catalogue row the suite must catch)
    expect_anomalies = ["lost"]    # what the suite must report when expect = "fail"

    [cluster]    broker-side settings (the broker's own section)
    [client]     producer/consumer settings (the broker's own section)
    [workload]   load: messages, rate, producers, consumers, poison
    [faults]     families the schedule draws from
    [guarantees] what is checked

Everything is validated on load; the first problem is reported as one line naming the file and key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from chaos.errors import UsageError
from chaos.settings import ProfileError, SettingsTable, at_least, parse_table, used_only

# The shipped profiles: suites/profiles/ in a checkout (chaos/shipped_profiles links there), package data in
# an installed wheel.
PROFILE_DIR = Path(__file__).with_name("shipped_profiles").resolve()
TOP_LEVEL = {
    "name",
    "broker",
    "version",
    "image",
    "catalogue",
    "description",
    "expect",
    "expect_anomalies",
    "meta_skip",
    "meta_attempts",
    "twin",
}
TABLES = {"cluster", "client", "workload", "faults", "guarantees", "upgrade"}


@dataclass(frozen=True)
class WorkloadSettings:
    # per producer, an upper bound; the rate and the workload's length bound the count first
    messages: int = at_least(100_000, 1)
    rate: float = at_least(300.0, 1)  # messages/s per producer
    producers: int = at_least(1, 1)  # producer processes, each with its own client
    consumers: int = at_least(2, 1)  # consumers in the one consumer group
    poison_every: int = at_least(0, 0)  # every Nth message is poison (0: none)
    duration_s: float = at_least(12.0, 2)  # workload phase; faults play inside it
    process_ms: float = at_least(0.0, 0)  # time a consumer spends processing one message
    consumers_start_after_s: float = at_least(0.0, 0)  # the consumer group (re)starts after writes
    # your own Workload: "package.module:Name" or a brokerchaos.workloads entry point ("": the kit's own)
    implementation: str = ""
    # your own consumer program, any language: each consumer runs it (JSON lines on stdout; README)
    consumer_command: str = ""


@dataclass(frozen=True)
class FaultSettings:
    # fault families the schedule draws from (default: the broker's four)
    families: list[str] = field(default_factory=list)
    max_steps: int = at_least(2, 1)  # faults per schedule, at most
    lead_in_s: float = at_least(2.0, 0.2)  # steady load before the first fault
    # each fault is held at least this long: longer than the broker takes to notice it (a session timeout)
    min_duration_s: float = at_least(3.0, 1.0)


@dataclass(frozen=True)
class UpgradeSettings:
    """The target of the ``rolling-upgrade`` fault family: the image (default: the profile's broker
    image; e.g. ``valkey`` for Redis -> Valkey) and version every node is replaced with."""

    to_version: str = ""  # the version every node is replaced with
    to_image: str = ""  # the image of that version (default: the profile's broker image)
    finalize: bool = True  # after the roll, enable the new version's features (Kafka metadata.version)


def _claims(guarantee: str) -> Any:
    return lambda g: getattr(g, guarantee)


@dataclass(frozen=True)
class Guarantees:
    no_loss: bool = True  # every acknowledged message is read (lost)
    no_duplicates: bool = False  # no message is processed twice: neither a copy presented as new nor a redelivery
    # each producer's messages arrive in the order sent, per key (per consumer on a shared queue)
    order: bool = True
    # a requeued message may arrive out of order
    allow_requeue_reorder: bool = used_only(False, _claims("order"), "guarantees.order = true")
    dead_letter: bool = False  # poison messages end in the dead-letter target, good ones never
    # at-least-once consumers (or dead-lettering) may dead-letter a poison message twice
    dead_letter_duplicates_allowed: bool = used_only(False, _claims("dead_letter"), "guarantees.dead_letter = true")
    # deliveries of one poison message before it is dead-lettered, at most
    max_poison_deliveries: int = used_only(at_least(5, 1), _claims("dead_letter"), "guarantees.dead_letter = true")
    # a good message waiting longer than this behind poison is a head_of_line anomaly (None: measured only)
    max_head_of_line_s: float | None = used_only(None, _claims("dead_letter"), "guarantees.dead_letter = true")
    exactly_once: bool = False  # consume-transform-produce outputs exactly once per input (transactions)
    # a message unread this many seconds after its acknowledgement may be deleted by the broker's policy
    # (Kafka retention.ms, RabbitMQ message TTL, Redis XADD MINID): counted as expired, not lost (None: none
    # is tolerated)
    may_expire_after_s: float | None = used_only(None, _claims("no_loss"), "guarantees.no_loss = true")
    # a message the profile's length limit dropped (Redis MAXLEN: at least that many acknowledged entries came
    # after it; RabbitMQ x-max-length(-bytes) with drop-head: dead-lettered as "maxlen"; Kafka retention.bytes:
    # below its partition's start, the records after it could hold the cap) is counted as trimmed, not lost
    # (false: a trimmed message is lost like any other)
    may_trim_to_length: bool = used_only(False, _claims("no_loss"), "guarantees.no_loss = true")
    # a record a later record of the same key superseded may be removed by the log's compaction (Kafka
    # cleanup.policy=compact): counted as compacted, not lost, when the final log read holds that later
    # record (false: a compacted record is lost like any other)
    may_compact: bool = used_only(False, _claims("no_loss"), "guarantees.no_loss = true")
    # a lost send the broker never confirmed counts as lost (no publisher confirms)
    unconfirmed_loss_is_loss: bool = used_only(False, _claims("no_loss"), "guarantees.no_loss = true")
    recovery: bool = True  # clients are served again after every heal (availability)
    # steady again within this many seconds of each heal (None: only "serves again at all" is checked)
    max_recovery_s: float | None = used_only(None, _claims("recovery"), "guarantees.recovery = true")
    # consumers read again within this many seconds of each heal (None: max_recovery_s)
    max_read_recovery_s: float | None = used_only(None, _claims("recovery"), "guarantees.recovery = true")
    broker_health: bool = False  # broker-side signals (under-replicated, partitions, lag) settle after heal
    # the broker-side signals settle within this many seconds of the last heal
    max_broker_recovery_s: float = used_only(
        at_least(60.0, 1.0), _claims("broker_health"), "guarantees.broker_health = true"
    )


ClusterT = TypeVar("ClusterT", bound=SettingsTable)
ClientT = TypeVar("ClientT", bound=SettingsTable)


@dataclass(frozen=True)
class Profile(Generic[ClusterT, ClientT]):
    """A loaded, checked profile. ``cluster`` and ``client`` are the broker's own typed tables (e.g.
    ``Profile[KafkaClusterSettings, KafkaClientSettings]``, which a broker's folder names as its profile
    type); the core reads neither and takes any ``Profile``."""

    name: str
    broker: str
    version: str | None
    catalogue: str | None
    description: str
    expect: str
    expect_anomalies: list[str]
    cluster: ClusterT
    client: ClientT
    workload: WorkloadSettings
    faults: FaultSettings
    guarantees: Guarantees
    upgrade: UpgradeSettings = field(default_factory=UpgradeSettings)
    image: str | None = None  # the team's own image of this broker version, instead of the catalogue's
    path: Path | None = None
    meta_skip: str = ""  # why the meta-suite cannot prove this row here (reported, never silent)
    # a row whose fault races a broker's timer: the meta-suite plays it up to this many times, each with its
    # own seed, until one is caught (each miss is reported as a warning)
    meta_attempts: int = 1
    twin: str = ""  # the safe profile that must pass under this row's faults (default: <broker>-safe)
    source: dict[str, Any] = field(default_factory=dict, repr=False)  # the TOML as written (what was given)

    def given(self, table: str, key: str) -> bool:
        """Whether the profile itself set ``table.key`` (rather than leaving the default)."""
        section = self.source.get(table)
        return isinstance(section, dict) and key in section

    @property
    def id(self) -> str:
        return self.name

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["path"] = str(self.path) if self.path else None
        out.pop("source", None)
        return out


def load_profile(path: Path | str) -> Profile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"profile {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile {path} is not UTF-8 text (TOML is): {exc.reason} at byte {exc.start}") from None
    try:
        return parse_profile(data, path)
    except ProfileError as exc:
        raise ProfileError(f"profile {path}: {exc}") from None


def profile_path(given: str) -> Path:
    """A profile named on a command line: a file, or the name of a shipped profile (``kafka-safe``)."""
    path = Path(given)
    if path.exists() or path.suffix == ".toml" or "/" in given:
        return path
    shipped = PROFILE_DIR / f"{given}.toml"
    if shipped.exists():
        return shipped
    names = ", ".join(p.stem for p in shipped_profiles())
    raise ProfileError(f"profile {given!r} is neither a file nor a shipped profile (shipped: {names})")


def load_profiles(paths: list[Path]) -> list[Profile]:
    """Profiles a run plays together: each file loaded and checked, and no name given twice (a profile's
    cluster, results and matrix rows are keyed on its name)."""
    for path in paths:
        if path.is_dir():
            raise UsageError(f"--profile {path} is a directory: give one profile file (e.g. {path}/<name>.toml)")
    profiles = [load_profile(p) for p in paths]
    seen: dict[str, Profile] = {}
    for profile in profiles:
        first = seen.setdefault(profile.name, profile)
        if first is not profile:
            raise UsageError(
                f"profiles {first.path} and {profile.path} are both named {profile.name!r}: "
                "each profile needs its own name (its cluster, results and matrix rows are keyed on it)"
            )
    return profiles


def parse_profile(data: dict[str, Any], path: Path | None = None) -> Profile:
    from chaos.brokers import kit_for
    from chaos.faults.families import families_for

    for key in data:
        if key not in TOP_LEVEL | TABLES:
            raise ProfileError(f"unknown key {key} (top level: {', '.join(sorted(TOP_LEVEL | TABLES))})")
    for key in ("name", "broker"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileError(f"{key} is required and must be a string")
    kit = kit_for(data["broker"])
    expect = data.get("expect", "pass")
    if expect not in ("pass", "fail"):
        raise ProfileError(f"expect must be 'pass' or 'fail' (got {expect!r})")
    anomalies = data.get("expect_anomalies", [])
    if not isinstance(anomalies, list) or not all(isinstance(a, str) for a in anomalies):
        raise ProfileError("expect_anomalies must be a list of strings")
    if expect == "fail" and not anomalies:
        raise ProfileError("expect = 'fail' needs expect_anomalies (what the suite must report)")
    attempts = data.get("meta_attempts", 1)
    if attempts.__class__ is not int or not 1 <= attempts <= 5:
        raise ProfileError(f"meta_attempts must be a whole number from 1 to 5 (got {attempts!r})")
    if attempts > 1 and expect != "fail":
        raise ProfileError(
            "meta_attempts is for a catalogue row (expect = 'fail'): a safe profile plays as its budget says"
        )
    version = data.get("version")
    if version is not None:
        from chaos.images.catalogue import lookup

        lookup(kit.image, str(version))
    faults = parse_table(FaultSettings, data.get("faults"), "faults")
    known = families_for(kit.broker, kit.families)
    unknown = [f for f in faults.families if f not in known]
    if unknown:
        raise ProfileError(
            f"faults.families: {unknown[0]!r} is not a {kit.broker} fault family (known: {', '.join(sorted(known))})"
        )
    profile: Profile[Any, Any] = Profile(
        name=data["name"],
        broker=data["broker"],
        version=str(version) if version is not None else None,
        catalogue=data.get("catalogue"),
        image=_image(data.get("image")),
        description=str(data.get("description", "")),
        expect=expect,
        expect_anomalies=anomalies,
        cluster=parse_table(kit.cluster_settings, data.get("cluster"), "cluster"),
        client=parse_table(kit.client_settings, data.get("client"), "client"),
        workload=parse_table(WorkloadSettings, data.get("workload"), "workload"),
        faults=faults if faults.families else dataclasses.replace(faults, families=list(kit.default_families)),
        guarantees=parse_table(Guarantees, data.get("guarantees"), "guarantees"),
        upgrade=_upgrade(kit, data, faults, version),
        path=path,
        meta_skip=str(data.get("meta_skip", "")),
        meta_attempts=attempts,
        twin=str(data.get("twin", "")),
        source=data,
    )
    after = profile.guarantees.may_expire_after_s
    if after is not None and after <= 0:
        raise ProfileError(f"guarantees.may_expire_after_s must be above 0 (got {after})")
    kit.check(profile)
    if profile.workload.implementation:
        from chaos.workloads.custom import resolve

        resolve(profile.workload.implementation)  # importable now, or refused before any cluster starts
    if profile.workload.consumer_command:
        from chaos.workloads.command import command_argv

        applied_by_the_kit = sorted(kit.consumer_keys.intersection(data.get("client") or {}))
        if applied_by_the_kit:
            raise ProfileError(
                f"client.{applied_by_the_kit[0]} is what the harness's own consumer does: with "
                "workload.consumer_command your program decides it (remove the key)"
            )
        command_argv(profile.workload.consumer_command, path.parent if path else None)  # there, or refused now
    if profile.guarantees.dead_letter and profile.workload.poison_every == 0:
        raise ProfileError("guarantees.dead_letter needs poison messages (workload.poison_every > 0)")
    if profile.workload.consumers_start_after_s >= profile.workload.duration_s:
        raise ProfileError("workload.consumers_start_after_s must be shorter than workload.duration_s")
    check_fault_fits(profile.faults, profile.workload.duration_s, "workload.duration_s")
    return profile


def check_fault_fits(faults: FaultSettings, workload_s: float, what: str) -> None:
    """The lead-in, one fault held ``min_duration_s`` and the tail left for recovery fit in the workload."""
    from chaos.schedule.strategies import TAIL_S

    needed = faults.lead_in_s + faults.min_duration_s + TAIL_S
    if needed > workload_s:
        raise ProfileError(
            f"faults.min_duration_s = {faults.min_duration_s:g} does not fit: faults.lead_in_s "
            f"({faults.lead_in_s:g} s) + it + {TAIL_S:g} s of tail = {needed:g} s, more than {what} ({workload_s:g} s)"
        )


def _image(given: Any) -> str | None:
    """A profile's own image reference: "repository:tag" (or a digest), checked for its shape here; whether
    the engine has it (or can pull it) is known only when a cluster starts."""
    if given is None:
        return None
    if not isinstance(given, str) or not given or any(c.isspace() for c in given) or ":" not in given:
        raise ProfileError(
            f"image must be an image reference with a tag, e.g. 'registry.example/team/broker:1.0-tls' (got {given!r})"
        )
    return given


def _upgrade(kit: Any, data: dict[str, Any], faults: FaultSettings, version: Any) -> UpgradeSettings:
    """Validate the ``[upgrade]`` table early: a path the broker itself does not support is refused at
    load time with the reason, not discovered half-way through a roll."""
    upgrade = parse_table(UpgradeSettings, data.get("upgrade"), "upgrade")
    rolling = "rolling-upgrade" in faults.families
    if not rolling:
        if data.get("upgrade"):
            raise ProfileError("[upgrade] is only used by the 'rolling-upgrade' fault family (faults.families)")
        return upgrade
    if not upgrade.to_version:
        raise ProfileError("the 'rolling-upgrade' fault family needs upgrade.to_version")
    from chaos.images.catalogue import lookup

    to_image = upgrade.to_image or kit.image
    lookup(to_image, upgrade.to_version)
    from_version = str(version) if version is not None else kit.default_version
    problem = kit.upgrade_problem(kit.image, from_version, to_image, upgrade.to_version)
    if problem:
        raise ProfileError(
            f"upgrade {kit.image} {from_version} -> {to_image} {upgrade.to_version} is not supported: {problem}"
        )
    return dataclasses.replace(upgrade, to_image=to_image)


def with_version(profile: Profile, version: str) -> Profile:
    """The same profile on another broker version, validated again as if it said ``version = ...``:
    every check that depends on the version (settings the version lacks, upgrade paths) runs again."""
    try:
        return parse_profile({**profile.source, "version": version}, profile.path)
    except ProfileError as exc:
        where = f"profile {profile.path}" if profile.path else f"profile {profile.name}"
        raise ProfileError(f"{where} on version {version}: {exc}") from None


def shipped_profiles() -> list[Path]:
    return sorted(PROFILE_DIR.glob("*.toml"))


def default_profiles() -> list[Path]:
    """What ``pytest suites/`` runs without --profile: the safe profile each broker kit names."""
    from chaos.brokers import kits

    return [PROFILE_DIR / f"{kit.default_profile}.toml" for kit in kits().values() if kit.default_profile]
