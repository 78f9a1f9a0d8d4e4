"""The machine brokerchaos runs on: root or not, Debian or not, and installing what is missing.

Only the Docker engine and the image-build tools are ever installed, and only on a Debian/Ubuntu
machine as root; elsewhere the caller gets a clear message naming what to install.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("brokerchaos.host")

_apt_updated = False


def is_root() -> bool:
    return os.geteuid() == 0


def is_debian_like() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def can_install_packages() -> bool:
    return is_root() and is_debian_like()


def apt_install(packages: list[str], why: str) -> bool:
    """Install Debian packages; returns False (never raises) when that is impossible or fails."""
    global _apt_updated
    if not can_install_packages():
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log.info("installing %s (%s)", " ".join(packages), why)
    if not _apt_updated:
        if subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True).returncode != 0:
            return False
        _apt_updated = True
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        log.error("apt-get install %s failed: %s", " ".join(packages), done.stderr.strip()[-500:])
        return False
    return True


def debian_mirror() -> str:
    """The Debian mirror apt already uses here (so debootstrap reaches the same registry)."""
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
            if line.startswith("deb ") and "debian" in line and "security" not in line:
                parts = [p for p in line.split() if p.startswith("http")]
                if parts:
                    return parts[0]
    return "http://deb.debian.org/debian"
