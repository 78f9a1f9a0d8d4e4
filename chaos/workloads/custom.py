"""Your own client code as the workload: a profile's ``[workload] implementation`` names it.

``implementation = "package.module:Name"`` (importable: installed, or on ``PYTHONPATH``), or the name of
an entry point in the ``brokerchaos.workloads`` group. ``Name`` is a :class:`~chaos.workloads.base.Workload`
subclass (or a factory) called as ``Name(cluster, profile, history, subject)`` — the same call a broker
kit's own workload gets — so its operations land in the same history and the same checkers judge them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.settings import ProfileError

if TYPE_CHECKING:
    from chaos.cluster import Cluster
    from chaos.history import Recorder
    from chaos.profiles import Profile
    from chaos.workloads.base import Workload

ENTRY_POINT_GROUP = "brokerchaos.workloads"


def resolve(spec: str) -> Callable[..., Any]:
    """The class or factory ``spec`` names; a :class:`ProfileError` (one line) when there is none."""
    where = f"workload.implementation = {spec!r}"
    if ":" not in spec:
        points = [p for p in metadata.entry_points(group=ENTRY_POINT_GROUP) if p.name == spec]
        if not points:
            raise ProfileError(f"{where}: give package.module:Name, or an entry point in {ENTRY_POINT_GROUP}")
        found = points[0].load()
    else:
        module, _, name = spec.partition(":")
        try:
            found = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise ProfileError(f"{where}: cannot import {module} ({exc})") from None
        except AttributeError:
            raise ProfileError(f"{where}: {module} has no {name}") from None
    if not callable(found):
        raise ProfileError(f"{where} is not a class or factory")
    return found


def make_workload(
    cluster: Cluster, profile: Profile, history: Recorder, subject: str, directory: Path | None = None
) -> Workload:
    """The profile's workload: its own implementation when it names one, else its broker kit's; with a
    ``consumer_command``, that program is each consumer (its stderr kept under ``directory``)."""
    from chaos.brokers import kit_for
    from chaos.workloads.base import Workload

    spec = profile.workload.implementation
    if not spec:
        workload = kit_for(profile.broker).make_workload(cluster, profile, history, subject)
    else:
        workload = resolve(spec)(cluster, profile, history, subject)
        if not isinstance(workload, Workload):
            raise ProfileError(f"workload.implementation = {spec!r} made a {type(workload).__name__}, not a Workload")
    if profile.workload.consumer_command:
        from chaos.workloads.command import attach

        base = profile.path.parent if profile.path else None
        attach(workload, profile.workload.consumer_command, base, (directory or Path.cwd()) / "consumers")
    return workload
