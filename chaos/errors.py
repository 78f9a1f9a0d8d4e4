"""Errors a user can act on, and the exit codes of brokerchaos — one table for the CLI and the pytest plugin.

Every error a person may see derives from :class:`BrokerChaosError` and carries its exit code, so bad input
ends in one clear line instead of a traceback. Codes 0-5 are pytest's own, so a CI job reads a `pytest
suites/` run and a `brokerchaos` command the same way:

    0  everything checked passed (compare: the candidate is no worse)
    1  a guarantee was violated or could not be checked (compare: the candidate is worse)
    2  interrupted (Ctrl-C, or SIGTERM from a CI runner); everything the run created was removed
    3  internal error: a bug in brokerchaos or pytest
    4  usage: a bad option, profile or broker name, refused before any cluster starts
    5  nothing to run (pytest collected no test)
    6  infrastructure: an image could be neither pulled nor built, a cluster did not start, Toxiproxy failed
    7  no Docker engine answers, and none could be started here
    8  two runs that cannot be compared (the same run twice, nothing in common, cells missing from one)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_WORSE = 1
EXIT_INTERRUPTED = 2
EXIT_INTERNAL = 3
EXIT_USAGE = 4
EXIT_NOTHING_RUN = 5
EXIT_INFRA = 6
EXIT_NO_ENGINE = 7
EXIT_NOT_COMPARABLE = 8
EXIT_CODES = {
    EXIT_OK: "everything checked passed (compare: the candidate is no worse)",
    EXIT_WORSE: "a guarantee was violated or could not be checked (compare: the candidate is worse)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); everything the run created was removed",
    EXIT_INTERNAL: "internal error: a bug in brokerchaos or pytest",
    EXIT_USAGE: "usage: a bad option, profile or broker name, refused before any cluster starts",
    EXIT_NOTHING_RUN: "nothing to run (pytest collected no test)",
    EXIT_INFRA: "infrastructure: an image, a cluster start or Toxiproxy failed",
    EXIT_NO_ENGINE: "no Docker engine answers, and none could be started here",
    EXIT_NOT_COMPARABLE: "two runs that cannot be compared",
}


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
