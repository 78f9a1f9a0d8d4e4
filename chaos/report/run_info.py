"""``run.json``: what a run was, so a reader the morning after (or ``brokerchaos compare``) can tell two
runs apart — versions of everything, the images each cluster ran, the profiles, the seed, the budget,
and the schedules that were played."""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from chaos.report.rundir import examples

LIBRARIES = ("brokerchaos", "pytest", "hypothesis", "testcontainers", "docker")


def library_versions() -> dict[str, str | None]:
    """Ours and every broker kit's client libraries (and what they embed, e.g. a C library)."""
    from chaos.brokers import kits

    versions: dict[str, str | None] = {"python": platform.python_version()}
    names = [*LIBRARIES, *(name for kit in kits().values() for name in kit.libraries)]
    for name in dict.fromkeys(names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    for kit in kits().values():
        try:
            versions.update(kit.library_versions())
        except ImportError:
            continue
    return versions


def schedules_played(run_dir: Path) -> list[dict[str, Any]]:
    """Every example's schedule, from its results.json."""
    return [
        {
            "profile": result["profile"],
            "fault": result["family"],
            "example": directory.name,
            "schedule": result["schedule"],
            "valid": result["valid"],
        }
        for directory, result in examples(run_dir)
    ]


def write_run_json(
    run_dir: Path,
    *,
    run_id: str,
    seed: int,
    budget: Any,
    profiles: list[Any],
    clusters: dict[str, dict[str, Any]],
    engine: str | None,
    exit_status: int | None = None,
) -> Path:
    info = {
        "run_id": run_id,
        "seed": seed,
        "budget": dataclasses.asdict(budget),
        "command": sys.argv,
        "exit_status": exit_status,
        "versions": {**library_versions(), "docker_engine": engine},
        "clusters": clusters,
        "profiles": [p.to_dict() for p in profiles],
        "schedules": schedules_played(run_dir),
    }
    path = run_dir / "run.json"
    path.write_text(json.dumps(info, indent=2, default=str))
    return path
