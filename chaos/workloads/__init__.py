"""Clients that produce and consume through the proxies and record every operation in the history."""

from chaos.workloads.base import LoadBudget, Workload

__all__ = ["LoadBudget", "Workload"]
