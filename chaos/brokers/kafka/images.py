"""Kafka images: Debian with a JRE, and Kafka's jars with their runtime dependencies from Maven Central
(the project publishes no Debian package), at the same paths, user and data directory as apache/kafka."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

import docker

from chaos.errors import ImageError
from chaos.images.build import HOST_STATE, docker_build, require_tool
from chaos.images.catalogue import APT, CLEAN, ImageSpec, Recipe, user_first

log = logging.getLogger("brokerchaos.images")

LOG4J2_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"


def _kafka(version: str, suite: str, java: str) -> ImageSpec:
    dockerfile = (
        user_first("appuser", 1000, "/home/appuser")
        + f"{APT} {java} procps{CLEAN}"
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


def _kafka_pom(version: str) -> str:
    deps = [
        ("org.apache.kafka", "kafka_2.13", version),
        ("org.apache.kafka", "kafka-tools", version),
        ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J2_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J2_VERSION),
        ("org.apache.logging.log4j", "log4j-1.2-api", LOG4J2_VERSION),
        ("org.slf4j", "slf4j-api", SLF4J_VERSION),
    ]
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>io.brokerchaos</groupId><artifactId>kafka-libs</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{body}</dependencies></project>"
    )


def build_kafka(client: docker.DockerClient, spec: ImageSpec) -> None:
    mvn = require_tool("mvn", "maven")
    version = spec.recipe.params["version"]
    with tempfile.TemporaryDirectory(prefix="brokerchaos-kafka-") as tmp:
        ctx = Path(tmp)
        (ctx / "pom.xml").write_text(_kafka_pom(version))
        log.info("  %s: resolving kafka_2.13:%s and its runtime jars from Maven Central", spec.key, version)
        with HOST_STATE:  # one Maven at a time: the local repository is shared
            done = subprocess.run(
                [mvn, "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=libs", "-DincludeScope=runtime"],
                cwd=ctx,
                capture_output=True,
                text=True,
            )
        if done.returncode != 0:
            raise ImageError(f"maven could not resolve Kafka {version}: {done.stdout.strip()[-600:]}")
        # A second slf4j-api (1.7.x, from Kafka's own pom) would hide the log4j2 binding.
        for jar in (ctx / "libs").glob("slf4j-api-1.*.jar"):
            jar.unlink()
        (ctx / "pom.xml").unlink()
        docker_build(client, spec, ctx)


IMAGES = (
    _kafka("4.1.1", "bookworm", "openjdk-17-jre-headless"),
    _kafka("3.9.1", "bookworm", "openjdk-17-jre-headless"),
)
DEFAULT_VERSION = "4.1.1"
