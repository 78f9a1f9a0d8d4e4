"""Reading a run directory (``reports/<UTC>-seed<N>/``) back: the one place that knows its layout, for
rendering, ``run.json`` and ``brokerchaos compare``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLE_RESULTS = "suites/*/example-*/results.json"


def load_matrix(run_dir: Path) -> list[dict[str, Any]]:
    """``matrix.json``: one row per (profile, fault, guarantee); empty when absent."""
    path = run_dir / "matrix.json"
    return json.loads(path.read_text()) if path.exists() else []


def load_run_info(run_dir: Path) -> dict[str, Any]:
    """``run.json``; empty when absent (a run from before it existed)."""
    path = run_dir / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def examples(run_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every example's directory and its ``results.json``, in a stable order."""
    return [(path.parent, json.loads(path.read_text())) for path in sorted(run_dir.glob(EXAMPLE_RESULTS))]
