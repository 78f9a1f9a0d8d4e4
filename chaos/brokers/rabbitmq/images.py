"""RabbitMQ images from Debian's packages (a newer suite's where a stable one has none), with the official
image's user, data directory and ``PATH``."""

from __future__ import annotations

from chaos.images.catalogue import APT, CLEAN, ImageSpec, Recipe, user_first


def _rabbitmq(version: str, suite: str, packages_from: str | None = None) -> ImageSpec:
    """RabbitMQ as Debian packages it. ``packages_from`` names a newer Debian suite to take RabbitMQ (and
    the Erlang it needs) from, on the ``suite`` base: the only way to a RabbitMQ newer than a stable
    release carries, with no container registry."""
    newer = ""
    install = f"{APT} rabbitmq-server procps{CLEAN}"
    if packages_from:
        # A moving suite's Release file carries an expiry date; the packages, not the date, are pinned.
        rewrite = f"s/^deb /deb [check-valid-until=no] /; s/ {suite} / {packages_from} /"
        newer = f"RUN sed '{rewrite}' /etc/apt/sources.list > /etc/apt/sources.list.d/{packages_from}.list\n"
        install = f"{APT} -t {packages_from} rabbitmq-server procps{CLEAN}"
    dockerfile = (
        user_first("rabbitmq", 999, "/var/lib/rabbitmq")
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


IMAGES = (
    _rabbitmq("3.10.8", "bookworm"),
    _rabbitmq("4.0.5", "trixie"),
    # the newest RabbitMQ Debian packages (testing, "forky"; Ra 3.1.10): R7 checked on it
    _rabbitmq("4.3.6", "trixie", packages_from="forky"),
)
DEFAULT_VERSION = "3.10.8"
