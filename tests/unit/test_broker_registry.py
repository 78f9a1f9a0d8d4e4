"""The broker registry: one folder per broker behind one registry, open to other packages by entry point,
and a core that names no broker (so that adding one touches no core file)."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chaos
import chaos.brokers as registry
from chaos.brokers import BrokerKit, kit_for, kits
from chaos.errors import UsageError
from chaos.faults import families
from chaos.images.catalogue import ImageSpec, Recipe, all_images, default_version, lookup
from chaos.profiles import default_profiles, parse_profile
from chaos.settings import ProfileError

PACKAGE = Path(chaos.__file__).parent
BROKER_WORDS = re.compile(r"kafka|rabbit|redis|valkey|sentinel|pika", re.IGNORECASE)


def code_mentions(path: Path) -> list[str]:
    """Identifiers, imports and string literals that name a broker; docstrings and comments may."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.alias):
            text = node.name
        elif isinstance(node, ast.ImportFrom):
            text = node.module or ""
        else:
            continue
        if BROKER_WORDS.search(text):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}: {text[:60]!r}")
    return found


def test_the_core_names_no_broker() -> None:
    core = [p for p in PACKAGE.rglob("*.py") if "brokers" not in p.relative_to(PACKAGE).parts]
    assert len(core) > 40
    assert [m for p in core for m in code_mentions(p)] == []


def test_the_scan_sees_a_broker_name_where_there_is_one() -> None:
    assert code_mentions(PACKAGE / "brokers" / "kafka" / "__init__.py")


def test_every_shipped_broker_is_one_folder() -> None:
    assert sorted(kits()) == ["kafka", "rabbitmq", "redis", "valkey"]
    for kit in kits().values():
        folder = Path(kit.cluster_class.__module__.replace(".", "/")).parent
        assert folder.parts[:2] == ("chaos", "brokers"), kit.broker
        assert {spec.broker for spec in kit.images} == {kit.image}
        assert kit.default_version in {spec.version for spec in kit.images}


def test_defaults_come_from_the_kits() -> None:
    assert [p.stem for p in default_profiles()] == ["kafka-safe", "rabbitmq-safe", "redis-safe"]
    assert default_version("valkey") == "8.1.1"
    assert lookup("kafka").version == kit_for("kafka").default_version


def _plugin_kit(name: str) -> BrokerKit:
    base = kit_for("redis")
    image = ImageSpec(broker=name, version="1", official=None, recipe=Recipe("apt", dockerfile="CMD true\n"))
    return dataclasses.replace(base, broker=name, image=name, images=(image,), default_version="1")


class FakeEntryPoint:
    def __init__(self, name: str, value: object) -> None:
        self.name, self.value, self._loaded = name, f"plugin:{name}", value

    def load(self) -> object:
        return self._loaded


def _forget() -> None:
    kits.cache_clear()
    all_images.cache_clear()


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, object], None]]:
    """Installs a fake entry point in the ``brokerchaos.brokers`` group; the registry is rebuilt around it."""
    points: list[FakeEntryPoint] = []

    def fake(group: str) -> list[FakeEntryPoint]:
        return points if group == registry.ENTRY_POINT_GROUP else []

    def add(name: str, value: object) -> None:
        points.append(FakeEntryPoint(name, value))
        _forget()

    monkeypatch.setattr(registry.metadata, "entry_points", fake)
    yield add
    _forget()


def test_an_entry_point_adds_a_broker_and_its_images(install: Callable[[str, object], None]) -> None:
    install("demo", _plugin_kit("demo"))
    assert kit_for("demo").broker == "demo"
    assert lookup("demo").key == "demo:1"
    assert "demo:1" in all_images()


def test_a_broker_served_twice_is_refused(install: Callable[[str, object], None]) -> None:
    install("kafka", _plugin_kit("kafka"))
    with pytest.raises(UsageError, match="served twice"):
        kits()


def test_an_entry_point_that_is_no_kit_is_refused(install: Callable[[str, object], None]) -> None:
    install("junk", object())
    with pytest.raises(UsageError, match="gives no BrokerKit"):
        kits()


def test_an_unknown_broker_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="known: kafka, rabbitmq, redis, valkey"):
        kit_for("nats")


@pytest.fixture
def install_family(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, object], None]]:
    """Installs a fake entry point in the ``brokerchaos.faults`` group."""
    points: list[FakeEntryPoint] = []

    def fake(group: str) -> list[FakeEntryPoint]:
        return points if group == families.ENTRY_POINT_GROUP else []

    def add(name: str, value: object) -> None:
        points.append(FakeEntryPoint(name, value))
        families.plugins.cache_clear()

    monkeypatch.setattr(families.metadata, "entry_points", fake)
    yield add
    families.plugins.cache_clear()


def _profile(broker: str, family: str) -> dict[str, object]:
    return {"name": f"{broker}-plugged", "broker": broker, "faults": {"families": [family]}}


def test_an_entry_point_adds_a_fault_family_for_the_brokers_it_names(
    install_family: Callable[[str, object], None],
) -> None:
    built = object()
    install_family("kill-twice", families.FamilyPlugin(build=lambda ctx: built, brokers=frozenset({"redis"})))  # type: ignore[arg-type,return-value]
    assert parse_profile(_profile("redis", "kill-twice")).faults.families == ["kill-twice"]
    with pytest.raises(ProfileError, match="'kill-twice' is not a kafka fault family"):
        parse_profile(_profile("kafka", "kill-twice"))
    assert families.build("kill-twice", None) is built  # type: ignore[arg-type]


def test_a_bare_callable_is_a_family_for_every_broker(install_family: Callable[[str, object], None]) -> None:
    install_family("nap", lambda ctx: None)
    assert parse_profile(_profile("kafka", "nap")).faults.families == ["nap"]
    assert not families.needs_sync_journal(["nap"])


def test_a_family_defined_twice_is_refused(install_family: Callable[[str, object], None]) -> None:
    install_family("kill-leader", lambda ctx: None)
    with pytest.raises(UsageError, match="defined twice"):
        families.plugins()


def test_only_a_kafka_transform_pipeline_is_cpu_bound() -> None:
    """The meta-suite runs a row beside its twin unless either keeps the cores busy on its own."""
    base = {"name": "t", "faults": {"families": ["crash-consumer"]}}
    pipeline = {"transactional": True, "transform": True, "isolation_level": "read_committed"}
    k5 = parse_profile({**base, "broker": "kafka", "client": pipeline, "guarantees": {"exactly_once": True}})
    assert kit_for("kafka").cpu_bound(k5) is True
    for broker in ("kafka", "rabbitmq", "redis"):
        plain = parse_profile({**base, "broker": broker})
        assert kit_for(broker).cpu_bound(plain) is False
