"""Which image serves which broker and version: the harness's own images here, each broker's in its
folder (``chaos/brokers/<broker>/images.py``), gathered through the broker registry.

Each entry names the official pinned image (the default wherever a registry answers) and the recipe for
a local build from package registries only. Local images keep the official contract: the same user id,
data directory and binaries on ``PATH``, so the cluster code has a single path for both.
"""

from __future__ import annotations

import functools
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


def user_first(name: str, uid: int, home: str) -> str:
    """Create the service user with the official image's uid before the package does (contract)."""
    return f"RUN groupadd -r -g {uid} {name} && useradd -r -g {name} -u {uid} -d {home} -s /usr/sbin/nologin {name}\n"


APT = "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"
CLEAN = " && rm -rf /var/lib/apt/lists/*\n"


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
    dockerfile = f"{APT} iptables iproute2 netcat-openbsd{CLEAN}"
    return ImageSpec(
        broker="netutils",
        version="1",
        official="nicolaka/netshoot:v0.13",  # iptables, iproute2 (tc) and nc, where a registry answers
        recipe=Recipe("apt", suite="bookworm", dockerfile=dockerfile, needs=("debian:bookworm",)),
    )


HARNESS_IMAGES = (
    _debian("bookworm"),
    _debian("trixie"),
    _toxiproxy("2.12.0"),
    _netutils(),
    _reaper(),
)
HARNESS_DEFAULTS = {"toxiproxy": "2.12.0", "netutils": "1", "reaper": "1"}


@functools.cache
def all_images() -> dict[str, ImageSpec]:
    """Every image this installation can run or build: the harness's own and each broker kit's."""
    from chaos.brokers import kits

    specs = [*HARNESS_IMAGES, *(spec for kit in kits().values() for spec in kit.images)]
    return {spec.key: spec for spec in specs}


def default_version(name: str) -> str | None:
    """The version of image ``name`` a cluster runs when nothing names one."""
    from chaos.brokers import kits

    by_image = {kit.image: kit.default_version for kit in kits().values()}
    return HARNESS_DEFAULTS.get(name) or by_image.get(name)


def lookup(broker: str, version: str | None = None) -> ImageSpec:
    """The catalogue entry, or a :class:`UsageError` naming what exists."""
    version = version or default_version(broker)
    key = f"{broker}:{version}"
    entries = all_images()
    if key in entries:
        return entries[key]
    known = sorted({s.broker for s in entries.values() if s.broker != "debian"})
    if broker not in known:
        raise UsageError(f"unknown broker {broker!r}; known: {', '.join(known)}")
    versions = sorted(s.version for s in entries.values() if s.broker == broker)
    raise UsageError(f"unknown {broker} version {version!r}; known: {', '.join(versions)}")


def build_order(keys: list[str]) -> list[ImageSpec]:
    """The specs for ``keys`` plus what they need, dependencies first, each once."""
    ordered: list[ImageSpec] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        spec = all_images()[key]
        for need in spec.recipe.needs:
            visit(need)
        ordered.append(spec)

    for key in keys:
        visit(key)
    return ordered
