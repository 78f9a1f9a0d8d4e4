"""The brokerchaos pytest plugin, installed through the ``pytest11`` entry point: usable from any repository.

It brings the command-line options (``--profile``, ``--chaos-budget``, ``--chaos-seed``, ``--images``,
``--broker-version``, ``--chaos-report-dir`` ...), the fixtures — ``platform`` (the Docker engine and the
run's identity), ``<broker>_cluster`` for every registered broker (a running three-node cluster behind
Toxiproxy, reset before each test), ``history`` (a recorder), ``judge`` (the checkers over it),
``chaos_case`` (one explored (profile, fault family) cell), ``chaos_test`` (the declared test of a profile
and family, to change and play yourself) — and the resilience matrix with its report.
"""

from typing import Any

pytest_plugins = [
    "chaos.plugin.options",
    "chaos.plugin.platform",
    "chaos.plugin.clusters",
    "chaos.plugin.runs",
    "chaos.plugin.suites",
]

__all__ = ["ChaosCase"]


def __getattr__(name: str) -> Any:
    """``from chaos.plugin import ChaosCase`` for a team's suites, without importing the plugin's modules
    before pytest registers them (pytest rewrites their asserts only if it imports them first)."""
    if name == "ChaosCase":
        from chaos.plugin.suites import ChaosCase

        return ChaosCase
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
