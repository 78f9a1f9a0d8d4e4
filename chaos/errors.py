"""Errors a user can act on.

Every error a person may see derives from :class:`BrokerChaosError` and carries the exit code the CLI
and the pytest glue use, so bad input ends in one clear line instead of a traceback.
"""

from __future__ import annotations

EXIT_WORSE = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_NO_ENGINE = 4
EXIT_NOT_COMPARABLE = 5


class BrokerChaosError(Exception):
    """Base class: a failure explained in one line for the person running the suite."""

    exit_code = EXIT_INFRA


class UsageError(BrokerChaosError):
    """The input was wrong: an unknown broker or version, a malformed option or profile."""

    exit_code = EXIT_USAGE


class PortTakenError(UsageError):
    """A host port the user asked for is already bound by another process."""


class EngineUnavailableError(BrokerChaosError):
    """No Docker engine answers and none can be started here."""

    exit_code = EXIT_NO_ENGINE


class NotComparableError(BrokerChaosError):
    """Two runs that cannot answer "is B as good as A": the same run twice, no guarantee in common, or a
    candidate that lacks checks the baseline has (it died early, or ran something else)."""

    exit_code = EXIT_NOT_COMPARABLE


class ImageError(BrokerChaosError):
    """An image could neither be pulled nor built."""


class ClusterNotReadyError(BrokerChaosError):
    """A cluster did not become ready in time; the message names the node and quotes its log."""


class ToxiproxyError(BrokerChaosError):
    """The Toxiproxy API answered with a non-2xx status, or did not answer."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
