"""Reports a person reads the morning after: the verdict in one line, the matrix, the evidence."""

from chaos.report.render import render_run

__all__ = ["render_run"]
