"""Targets: which nodes a fault hits, resolved when it is applied (roles move during a run).

Role lookups themselves live in the broker folders (:meth:`Cluster.role_nodes`); these helpers only
compose them: a role, a random one of a role, a minority, a majority, everyone.
"""

from __future__ import annotations

import random

from chaos.cluster.base import Cluster
from chaos.cluster.node import Node
from chaos.faults.base import Target


def role(cluster: Cluster, name: str, subject: str | None = None) -> Target:
    """E.g. ``role(kafka, "leader", "orders-0")``, ``role(redis, "primary")``."""

    def resolve() -> list[Node]:
        return cluster.role_nodes(name, subject)

    resolve.__name__ = f"{name}({subject})" if subject else name
    return resolve


def one_random(target: Target, rng: random.Random) -> Target:
    """One node picked at random among ``target`` (e.g. a random follower)."""

    def resolve() -> list[Node]:
        nodes = target()
        return [rng.choice(nodes)] if nodes else []

    return resolve


def minority(cluster: Cluster, rng: random.Random) -> Target:
    """floor((n-1)/2) random members: losing them keeps a quorum."""

    def resolve() -> list[Node]:
        members = cluster.members
        return rng.sample(members, (len(members) - 1) // 2)

    return resolve


def majority(cluster: Cluster, rng: random.Random) -> Target:
    """floor(n/2)+1 random members: losing them loses the quorum."""

    def resolve() -> list[Node]:
        members = cluster.members
        return rng.sample(members, len(members) // 2 + 1)

    return resolve


def everyone(cluster: Cluster) -> Target:
    return lambda: list(cluster.members)
