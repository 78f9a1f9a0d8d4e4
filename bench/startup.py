"""Benchmark: image build from nothing, cluster up time with cached images, per-test reset, memory per node.

Each figure is printed next to a peer measured in the same run: the same broker as a one-node cluster
(same image, same code path), so the ratio shows what the second and third node cost. Printed, never asserted. Usage:
    python -m bench.startup [--brokers redis,kafka,rabbitmq] [--rebuild]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time

import docker
from docker.errors import ImageNotFound

from chaos.brokers import kit_for
from chaos.cluster import Cluster, Platform
from chaos.engine import engine
from chaos.images import ImageMode, ImageResolver
from chaos.images.build import build_images
from chaos.images.catalogue import build_order, lookup

GOALS = {"redis": 5.0, "valkey": 5.0, "kafka": 20.0, "rabbitmq": 30.0}


def rebuild_from_nothing(client: docker.DockerClient, brokers: list[str]) -> float:
    keys = [lookup(b).key for b in brokers] + ["toxiproxy:2.12.0", "netutils:1"]
    for spec in reversed(build_order(keys)):
        with contextlib.suppress(ImageNotFound):
            client.images.remove(spec.local_tag, force=True)
    began = time.monotonic()
    build_images(client, keys)
    return time.monotonic() - began


def single_node_seconds(platform: Platform, cls: type[Cluster]) -> float:
    """Peer: the same broker, image and code path with one node (the fixed cost of a cluster start)."""
    with cls(platform, name=f"{cls.broker}-peer", **cls.single_node) as peer:  # type: ignore[arg-type]
        return peer.started_in or 0.0


def peak_memory_mb(cluster: Cluster) -> dict[str, float]:
    out = {}
    for node in cluster.nodes:
        stats = node.container.stats(stream=False, one_shot=True)["memory_stats"]
        out[node.name] = stats.get("max_usage", stats.get("usage", 0)) / 2**20
    return out


def measure(platform: Platform, broker: str) -> None:
    cls = kit_for(broker).cluster_class
    with cls(platform) as cluster:
        up = cluster.started_in or 0.0
        clean_reset = cluster.restore()
        cluster.nodes[-1].kill()
        cluster.nodes[1].pause()
        faulted_reset = cluster.restore()
        memory = peak_memory_mb(cluster)
    peer = single_node_seconds(platform, cls)
    print(f"{broker} {cluster.version} ({cluster.image.source} image)")
    print(f"  cluster up (cached images): {up:6.2f} s   goal <= {GOALS.get(broker, 0):.0f} s")
    print(f"  peer: a one-node cluster  : {peer:6.2f} s   ratio x{up / peer:.2f}")
    print(f"  per-test reset, healthy   : {clean_reset:6.2f} s   goal <= 2 s")
    print(f"  reset after kill + pause  : {faulted_reset:6.2f} s   ratio to cluster up x{faulted_reset / up:.2f}")
    for name, mb in memory.items():
        print(f"  peak memory {name:<12}: {mb:7.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="redis")
    parser.add_argument("--rebuild", action="store_true", help="remove and rebuild the local images first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    client = engine()
    platform = Platform.default(ImageResolver(client, ImageMode.LOCAL))
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if args.rebuild:
        took = rebuild_from_nothing(client, brokers)
        print(f"image build from nothing ({', '.join(brokers)} + toxiproxy + netutils): {took:.0f} s")
    for broker in brokers:
        measure(platform, broker)


if __name__ == "__main__":
    main()
