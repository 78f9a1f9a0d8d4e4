"""Redis and Valkey images from Debian's packages, with the official images' user and data directory."""

from __future__ import annotations

from chaos.images.catalogue import APT, CLEAN, ImageSpec, Recipe, user_first


def _redis_like(broker: str, version: str, suite: str, server: str, packages: str) -> ImageSpec:
    cli = server.replace("-server", "-cli")
    dockerfile = (
        user_first(broker, 999, "/data")
        + f"{APT} {packages}{CLEAN}"
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


REDIS_IMAGES = (
    _redis_like("redis", "7.0.15", "bookworm", "redis-server", "redis-server redis-tools"),
    _redis_like("redis", "8.0.2", "trixie", "redis-server", "redis-server redis-tools"),
)
VALKEY_IMAGES = (_redis_like("valkey", "8.1.1", "trixie", "valkey-server", "valkey-server valkey-tools"),)
REDIS_DEFAULT_VERSION = "7.0.15"
VALKEY_DEFAULT_VERSION = "8.1.1"
