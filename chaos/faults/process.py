"""Process faults on broker nodes: kill (SIGKILL), stop (SIGTERM), pause (freeze), healed by a start or
resume; rolling restarts and rolling upgrades."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chaos.cluster.base import Cluster
from chaos.cluster.node import Node
from chaos.errors import BrokerChaosError
from chaos.faults.base import Fault, Target

ACTIONS = ("kill", "stop", "pause")
log = logging.getLogger("brokerchaos.faults")


class NodeFault(Fault):
    """``action`` each target node; the heal brings every one of them back."""

    def __init__(self, target: Target, action: str = "kill", stop_timeout: int = 10) -> None:
        super().__init__()
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        self.target = target
        self.action = action
        self.name = action
        self.stop_timeout = stop_timeout
        self._hit: list[Node] = []

    def _apply(self) -> None:
        nodes = list(self.target())
        for node in nodes:
            self._hit.append(node)
            self.targets.append(node.name)
        # Every target at the same instant, as a power cut takes a rack: one after another, the last node
        # would outlive the first by a docker round trip each, and write what the others lost. Kills are
        # resolved first (each node's process), then dealt together.
        actions = [self._action(node) for node in nodes]
        if len(actions) < 2:  # nothing to do at once (and a pool of no threads is an error)
            for act in actions:
                act()
            return
        with ThreadPoolExecutor(len(actions), thread_name_prefix=f"fault-{self.action}") as pool:
            for done in [pool.submit(act) for act in actions]:
                done.result()

    def _action(self, node: Node) -> Callable[[], None]:
        if self.action == "kill":
            return node.killer()
        if self.action == "stop":
            return lambda: node.stop(self.stop_timeout)
        return node.pause

    def _heal(self) -> None:
        for node in self._hit:
            node.ensure_running()
        self._hit.clear()


class DiskLoss(NodeFault):
    """The machine dies with its disk: SIGKILL the target and erase its data directory. The heal starts
    it on the empty disk (as the broker's replacement procedure says) — what it alone held is gone; what
    replicas held must come back from them."""

    def __init__(self, cluster: Cluster, target: Target) -> None:
        super().__init__(target, "kill")
        self.name = "lose-disk"
        self.cluster = cluster

    def _apply(self) -> None:
        super()._apply()
        for node in self._hit:
            self.cluster.wipe_data(node)

    def _heal(self) -> None:
        for node in self._hit:
            self.cluster.restart_blank(node)
        self._hit.clear()


class PowerLossUnavailableError(BrokerChaosError):
    """A power loss cannot be played on this node: its fsync journal is missing."""


class PowerLoss(NodeFault):
    """The machine loses power: SIGKILL the target and drop every write it had not fsynced yet (the
    page cache dies with the machine; a container kill alone keeps it). Needs a cluster started with
    ``track_syncs``. The heal starts it on what its disk really held."""

    def __init__(self, cluster: Cluster, target: Target) -> None:
        super().__init__(target, "kill")
        self.name = "power-loss"
        self.cluster = cluster
        self.dropped: dict[str, int] = {}  # "node:path" -> bytes cut
        self.never_synced: dict[str, int] = {}  # "node:path" -> size: kept whole, never synced

    def _apply(self) -> None:
        for node in self.target():
            problem = self.cluster.sync_journal_problem(node)
            if problem:  # a power loss without its journal would only be a SIGKILL: refuse, never pretend
                raise PowerLossUnavailableError(f"power loss on {node.name} cannot be applied: {problem}")
        super()._apply()
        for node in self._hit:
            unsynced = self.cluster.drop_unsynced(node)
            for path, count in unsynced.tails.items():
                self.dropped[f"{node.name}:{path}"] = count
            for path, size in unsynced.never_synced.items():
                self.never_synced[f"{node.name}:{path}"] = size
        log.info(
            "power loss on %s: %d bytes dropped in %d files; %d files never synced kept whole (%d bytes)",
            ",".join(self.targets),
            sum(self.dropped.values()),
            len(self.dropped),
            len(self.never_synced),
            sum(self.never_synced.values()),
        )

    def describe(self) -> dict[str, Any]:
        largest = sorted(self.dropped.items(), key=lambda item: -item[1])[:20]
        return {
            **super().describe(),
            "unsynced_bytes_dropped": sum(self.dropped.values()),
            "files_cut": len(self.dropped),
            "largest_cuts": dict(largest),  # "node:path" -> bytes, the 20 largest
            # The model keeps a file the broker never synced whole; a real power cut loses what the
            # kernel had not yet written back of it (Kafka leaves its active segments to the kernel).
            "never_synced_files_kept": len(self.never_synced),
            "never_synced_bytes_kept": sum(self.never_synced.values()),
            "largest_never_synced": dict(sorted(self.never_synced.items(), key=lambda item: -item[1])[:10]),
            "shortfall": self.shortfall(),
        }

    def shortfall(self) -> str | None:
        """A file the broker never fsynced is kept whole ("as if the kernel wrote it back long ago"): what
        a real power cut leaves of it is not modelled, so what the run found kept in it proves nothing
        (Kafka leaves its active segments to the kernel: its power loss played as a kill)."""
        if not self.never_synced:
            return None
        largest = max(self.never_synced, key=lambda path: self.never_synced[path])
        size = sum(self.never_synced.values())
        return (
            f"{len(self.never_synced)} file(s) the broker never fsynced ({size} bytes apparent, the largest "
            f"{largest}) were kept whole, not cut: what a power cut leaves of them is not modelled"
        )


class RollingRestart(Fault):
    """Restart members one at a time (SIGTERM, start), waiting for the cluster to be healthy between.

    Applying it performs the whole roll; healing only makes sure every node is running again."""

    name = "rolling-restart"

    def __init__(self, cluster: Cluster, stop_timeout: int = 30, health_timeout: float = 120.0) -> None:
        super().__init__()
        self.cluster = cluster
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout

    def _apply(self) -> None:
        for node in self.cluster.members:
            self.targets.append(node.name)
            node.stop(self.stop_timeout)
            node.start()
            self.cluster.wait_ready(self.health_timeout)

    def _heal(self) -> None:
        for node in self.cluster.nodes:
            node.ensure_running()


class RollingUpgrade(Fault):
    """Replace members one at a time with ``image:version`` — stop, new container on the same data
    volume, start, wait until healthy and caught up — in the order the broker folder gives (followers
    before leaders), then finalize (e.g. Kafka's metadata.version).

    An upgrade is not undone: healing makes sure every node runs. The cluster is marked ``upgraded`` so
    it is not reused for another example as if it still ran the old version."""

    name = "rolling-upgrade"

    def __init__(
        self, cluster: Cluster, image: str, version: str, finalize: bool = True, step_timeout: float = 180.0
    ) -> None:
        super().__init__()
        self.cluster = cluster
        self.image = image
        self.version = version
        self.finalize = finalize
        self.step_timeout = step_timeout

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "to": f"{self.image}:{self.version}"}

    def _apply(self) -> None:
        before = f"{self.cluster.image.spec.broker}:{self.cluster.version}"
        order = self.cluster.upgrade_order()
        self.cluster.switch_image(self.image, self.version)
        self.cluster.upgraded = True
        for step, node in enumerate(order, 1):
            began = time.monotonic()
            self.targets.append(node.name)
            self.cluster.replace_node(node)
            self.cluster.wait_caught_up(self.step_timeout)
            log.info(
                "rolling upgrade %s -> %s:%s: %s done (%d/%d) in %.0f s",
                before,
                self.image,
                self.version,
                node.name,
                step,
                len(order),
                time.monotonic() - began,
            )
        if self.finalize:
            self.cluster.finalize_upgrade()

    def _heal(self) -> None:
        for node in self.cluster.nodes:
            node.ensure_running()
