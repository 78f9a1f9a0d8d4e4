"""Which RabbitMQ upgrades the broker itself supports, so a profile asking for another is refused at
load time with the reason (RabbitMQ's own rules: a rolling upgrade moves one minor series at a time,
and 4.x can only be reached from 3.13.x with every stable feature flag enabled)."""

from __future__ import annotations


def series(version: str) -> tuple[int, int]:
    major, minor, *_ = (int(part) for part in version.split("."))
    return major, minor


def upgrade_problem(from_image: str, from_version: str, to_image: str, to_version: str) -> str | None:
    """Why RabbitMQ cannot roll ``from_version`` -> ``to_version`` in place, or None."""
    if to_image != from_image:
        return f"a {from_image} cluster cannot be rolled onto {to_image} nodes"
    old, new = series(from_version), series(to_version)
    if new < old:
        return "downgrades are not supported by RabbitMQ"
    if new[0] >= 4 and old < (3, 13):
        return (
            f"RabbitMQ {to_version} can only be upgraded to from 3.13.x with all stable feature flags enabled; "
            f"{from_version} has to go through 3.11, 3.12 and 3.13 first (enabling feature flags after each), "
            "and those intermediate versions are not in the image catalogue"
        )
    if new[0] == old[0] and new[1] - old[1] > 1:
        return f"RabbitMQ rolls one minor series at a time: {from_version} -> {old[0]}.{old[1] + 1}.x first"
    return None
