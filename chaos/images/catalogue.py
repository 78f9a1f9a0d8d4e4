"""Which image serves which broker and version.

Each entry names the official pinned image (the default wherever a registry answers) and the recipe for
a local build from package registries only. Local images keep the official contract: the same user id,
data directory and binaries on ``PATH``, so the cluster code has a single path for both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from chaos.errors import UsageError

LOCAL_REPO = "brokerchaos"
REAPER_SOURCE = Path(__file__).with_name("reaper")


@dataclass(frozen=True)
class Recipe:
    """How to build a local image. ``kind`` selects the builder; the rest parameterises it."""

    kind: str  # "debian-base" | "apt" | "kafka" | "go" | "go-source"
    suite: str = "bookworm"
    dockerfile: str = ""  # body after FROM for apt images
    params: dict[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()  # other catalogue keys that must be built first


@dataclass(frozen=True)
class ImageSpec:
    """One broker version: official reference, local tag, recipe, and the runtime contract."""

    broker: str
    version: str
    official: str | None
    recipe: Recipe
    user: str = "0:0"
    data_dir: str = "/data"
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.broker}:{self.version}"

    @property
    def local_tag(self) -> str:
        return f"{LOCAL_REPO}/{self.broker}:{self.version}"


def _user_first(name: str, uid: int, home: str) -> str:
    """Create the service user with the official image's uid before the package does (contract)."""
    return f"RUN groupadd -r -g {uid} {name} && useradd -r -g {name} -u {uid} -d {home} -s /usr/sbin/nologin {name}\n"


_APT = "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"
_CLEAN = " && rm -rf /var/lib/apt/lists/*\n"


def _redis_like(broker: str, version: str, suite: str, server: str, packages: str) -> ImageSpec:
    cli = server.replace("-server", "-cli")
    dockerfile = (
        _user_first(broker, 999, "/data")
        + f"{_APT} {packages}{_CLEAN}"
        + f"RUN {server} --version | grep -q 'v={version}' && mkdir -p /data && chown {broker}:{broker} /data\n"
        + "WORKDIR /data\nEXPOSE 6379\n"
        + f'CMD ["{server}"]\n'
    )
    official = f"valkey/valkey:{version}" if broker == "valkey" else f"redis:{version}"
    return ImageSpec(
        broker=broker,
        version=version,
        official=official,
        recipe=Recipe("apt", suite=suite, dockerfile=dockerfile, needs=(f"debian:{suite}",)),
        user="999:999",
        data_dir="/data",
        extras={"server": server, "cli": cli},
    )


def _rabbitmq(version: str, suite: str, packages_from: str | None = None) -> ImageSpec:
    """RabbitMQ as Debian packages it. ``packages_from`` names a newer Debian suite to take RabbitMQ (and
    the Erlang it needs) from, on the ``suite`` base: the only way to a RabbitMQ newer than a stable
    release carries, with no container registry."""
    newer = ""
    install = f"{_APT} rabbitmq-server procps{_CLEAN}"
    if packages_from:
        # A moving suite's Release file carries an expiry date; the packages, not the date, are pinned.
        rewrite = f"s/^deb /deb [check-valid-until=no] /; s/ {suite} / {packages_from} /"
        newer = f"RUN sed '{rewrite}' /etc/apt/sources.list > /etc/apt/sources.list.d/{packages_from}.list\n"
        install = f"{_APT} -t {packages_from} rabbitmq-server procps{_CLEAN}"
    dockerfile = (
        _user_first("rabbitmq", 999, "/var/lib/rabbitmq")
        + newer
        + install
        + f"RUN dpkg-query -W -f '${{Version}}' rabbitmq-server | grep -q '^{version}'\n"
        + "RUN mkdir -p /var/lib/rabbitmq /etc/rabbitmq /var/log/rabbitmq"
        + " && chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /etc/rabbitmq /var/log/rabbitmq\n"
        + "ENV PATH=/usr/lib/rabbitmq/bin:$PATH HOME=/var/lib/rabbitmq\n"
        + "EXPOSE 5672 15672\n"
        + 'CMD ["rabbitmq-server"]\n'
    )
    return ImageSpec(
        broker="rabbitmq",
        version=version,
        official=f"rabbitmq:{version}-management",
        recipe=Recipe("apt", suite=suite, dockerfile=dockerfile, needs=(f"debian:{suite}",)),
        user="999:999",
        data_dir="/var/lib/rabbitmq",
    )


def _kafka(version: str, suite: str, java: str) -> ImageSpec:
    dockerfile = (
        _user_first("appuser", 1000, "/home/appuser")
        + f"{_APT} {java} procps{_CLEAN}"
        + "COPY libs/ /opt/kafka/libs/\n"
        + "RUN mkdir -p /opt/kafka/config /var/lib/kafka/data && chown -R appuser:appuser /opt/kafka /var/lib/kafka\n"
        + "WORKDIR /opt/kafka\nEXPOSE 9092\n"
    )
    return ImageSpec(
        broker="kafka",
        version=version,
        official=f"apache/kafka:{version}",
        recipe=Recipe(
            "kafka", suite=suite, dockerfile=dockerfile, params={"version": version}, needs=(f"debian:{suite}",)
        ),
        user="1000:1000",
        data_dir="/var/lib/kafka/data",
    )


def _debian(suite: str) -> ImageSpec:
    return ImageSpec(broker="debian", version=suite, official=None, recipe=Recipe("debian-base", suite=suite))


def _toxiproxy(version: str) -> ImageSpec:
    dockerfile = 'COPY toxiproxy /toxiproxy\nEXPOSE 8474\nENTRYPOINT ["/toxiproxy"]\nCMD ["-host=0.0.0.0"]\n'
    return ImageSpec(
        broker="toxiproxy",
        version=version,
        official=f"ghcr.io/shopify/toxiproxy:{version}",
        recipe=Recipe(
            "go",
            suite="bookworm",
            dockerfile=dockerfile,
            params={
                "module": "github.com/Shopify/toxiproxy/v2/cmd/server",
                "version": f"v{version}",
                "binary": "toxiproxy",
            },
            needs=("debian:bookworm",),
        ),
    )


def _source_digest(directory: Path) -> str:
    """A digest of a source directory: the recipe changes (and the image is rebuilt) when the code does."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _reaper() -> ImageSpec:
    """Removes a run's resources once the run's process is gone (even after kill -9); see reaper/main.go."""
    dockerfile = 'COPY reaper /reaper\nEXPOSE 8080\nENTRYPOINT ["/reaper"]\n'
    return ImageSpec(
        broker="reaper",
        version="1",
        official=None,
        recipe=Recipe(
            "go-source",
            suite="bookworm",
            dockerfile=dockerfile,
            params={"source": str(REAPER_SOURCE), "digest": _source_digest(REAPER_SOURCE), "binary": "reaper"},
            needs=("debian:bookworm",),
        ),
    )


def _netutils() -> ImageSpec:
    dockerfile = f"{_APT} iptables iproute2 netcat-openbsd{_CLEAN}"
    return ImageSpec(
        broker="netutils",
        version="1",
        official="nicolaka/netshoot:v0.13",  # iptables, iproute2 (tc) and nc, where a registry answers
        recipe=Recipe("apt", suite="bookworm", dockerfile=dockerfile, needs=("debian:bookworm",)),
    )


_ENTRIES = [
    _debian("bookworm"),
    _debian("trixie"),
    _toxiproxy("2.12.0"),
    _netutils(),
    _reaper(),
    _redis_like("redis", "7.0.15", "bookworm", "redis-server", "redis-server redis-tools"),
    _redis_like("redis", "8.0.2", "trixie", "redis-server", "redis-server redis-tools"),
    _redis_like("valkey", "8.1.1", "trixie", "valkey-server", "valkey-server valkey-tools"),
    _rabbitmq("3.10.8", "bookworm"),
    _rabbitmq("4.0.5", "trixie"),
    # the newest RabbitMQ Debian packages (testing, "forky"; Ra 3.1.10): R7 checked on it
    _rabbitmq("4.3.6", "trixie", packages_from="forky"),
    _kafka("4.1.1", "bookworm", "openjdk-17-jre-headless"),
    _kafka("3.9.1", "bookworm", "openjdk-17-jre-headless"),
]

CATALOGUE: dict[str, ImageSpec] = {spec.key: spec for spec in _ENTRIES}

DEFAULT_VERSIONS = {
    "redis": "7.0.15",
    "valkey": "8.1.1",
    "rabbitmq": "3.10.8",
    "kafka": "4.1.1",
    "toxiproxy": "2.12.0",
    "netutils": "1",
    "reaper": "1",
}


def lookup(broker: str, version: str | None = None) -> ImageSpec:
    """The catalogue entry, or a :class:`UsageError` naming what exists."""
    version = version or DEFAULT_VERSIONS.get(broker)
    key = f"{broker}:{version}"
    if key in CATALOGUE:
        return CATALOGUE[key]
    known = sorted({s.broker for s in _ENTRIES if s.broker != "debian"})
    if broker not in known:
        raise UsageError(f"unknown broker {broker!r}; known: {', '.join(known)}")
    versions = sorted(s.version for s in _ENTRIES if s.broker == broker)
    raise UsageError(f"unknown {broker} version {version!r}; known: {', '.join(versions)}")


def build_order(keys: list[str]) -> list[ImageSpec]:
    """The specs for ``keys`` plus what they need, dependencies first, each once."""
    ordered: list[ImageSpec] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        spec = CATALOGUE[key]
        for need in spec.recipe.needs:
            visit(need)
        ordered.append(spec)

    for key in keys:
        visit(key)
    return ordered
