"""What a node made durable: the ``syncjournal`` shim, and cutting a killed node's files back to it.

A SIGKILLed container keeps the kernel's page cache: every write(2) survives, synced or not, so a kill
never shows what ``appendfsync everysec`` or an unsynced write-ahead log risk. A machine that loses power
loses exactly the writes not yet fsynced. The shim (``native/syncjournal.c``, LD_PRELOADed into each
broker process) records, per file, its size before each successful fsync/fdatasync; after a kill,
:func:`unsynced_tails` names what lies past that size and the cluster truncates it.

The model: a file the broker has synced loses its unsynced tail (the worst case a power loss allows);
a file it never syncs is kept whole (written long ago, the kernel would have flushed it); so is a file
its cluster names as rewritten in place (``Cluster.rewritten_in_place``: a table whose update may have
reached the disk or not — a loss then is not charged to a cut the broker could not have foreseen).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from docker.errors import NotFound
from docker.models.containers import Container

from chaos.errors import BrokerChaosError
from chaos.host import apt_install, can_install_packages

log = logging.getLogger("brokerchaos.cluster")

SOURCE = Path(__file__).with_name("native") / "syncjournal.c"
CACHE = Path.home() / ".cache" / "brokerchaos"
LIBRARY_IN_NODE = "/opt/brokerchaos/syncjournal.so"
LIBRARY_NAME = "syncjournal.so"
# In the container's own layer (kept across kill and start, gone with the container), never in the data
# directory, where a broker may take any directory for one of its own (Kafka: a partition).
JOURNAL_IN_NODE = "/tmp/brokerchaos-syncs"


class SyncJournalUnavailableError(BrokerChaosError):
    """The shim cannot be built here (no C compiler)."""


def library() -> bytes:
    """The shim, built once per source version with the host's C compiler (installed from Debian's
    packages when missing, as root)."""
    source = SOURCE.read_bytes()
    built = CACHE / f"syncjournal-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if not built.exists():
        compiler = _compiler()
        if compiler is None:
            raise SyncJournalUnavailableError(
                "power-loss faults need a C compiler (gcc) to build their shim, and it could not be installed"
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = built.with_suffix(".tmp")
        result = subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(SOURCE), "-ldl"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SyncJournalUnavailableError(f"building the syncjournal shim failed: {result.stderr.strip()[-300:]}")
        partial.replace(built)
    return built.read_bytes()


def _compiler() -> str | None:
    found = shutil.which("gcc") or shutil.which("cc")
    if found is None and can_install_packages() and apt_install(["gcc", "libc6-dev"], "no C compiler for the shim"):
        found = shutil.which("gcc")
    return found


def node_env(sync_delay_ms: int = 0) -> dict[str, str]:
    """The environment that preloads the shim; ``sync_delay_ms`` makes each fsync that much slower."""
    env = {"LD_PRELOAD": LIBRARY_IN_NODE, "BC_SYNC_JOURNAL": JOURNAL_IN_NODE}
    if sync_delay_ms > 0:
        env["BC_SYNC_DELAY_MS"] = str(sync_delay_ms)
    return env


def read_journal(container: Container) -> dict[str, int]:
    """Path → size at its last fsync, read from a (stopped or running) node; empty if it never synced."""
    try:
        stream, _ = container.get_archive(JOURNAL_IN_NODE)
    except NotFound:
        return {}
    synced: dict[str, int] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            slot = parse_slot(extracted.read()) if extracted is not None else None
            if slot is not None:
                synced[slot[0]] = slot[1]
    return synced


def parse_slot(data: bytes) -> tuple[str, int] | None:
    """One slot file: ``<20-digit size> <path>``; None when torn or foreign."""
    size, _, path = data.decode(errors="replace").strip().partition(" ")
    return (path, int(size)) if path and size.isdigit() else None


@dataclass(frozen=True)
class Cut:
    path: str
    durable_size: int


def unsynced_tails(synced: dict[str, int], data_dir: str, kept_whole: tuple[str, ...] = ()) -> list[Cut]:
    """The cuts a power loss makes under ``data_dir`` (only files on the node's data volume survive a
    container's replacement; the rest is the image's), sparing files whose name matches ``kept_whole``."""
    root = data_dir.rstrip("/") + "/"
    return [
        Cut(path, size)
        for path, size in sorted(synced.items())
        if path.startswith(root) and not any(fnmatch.fnmatch(PurePosixPath(path).name, p) for p in kept_whole)
    ]


def cut_script(cuts: list[Cut], *, measure_only: bool = False) -> str:
    """A POSIX shell script that truncates each file longer than its durable size and prints the bytes
    dropped per file (``path dropped``); ``measure_only`` prints the same and truncates nothing."""
    lines = []
    for cut in cuts:
        quoted = "'" + cut.path.replace("'", "'\\''") + "'"
        truncate = "true" if measure_only else f"truncate -s {cut.durable_size} {quoted}"
        lines.append(
            f"if [ -f {quoted} ]; then n=$(stat -c %s {quoted}); if [ $n -gt {cut.durable_size} ]; then "
            f"{truncate} && echo {quoted} $((n - {cut.durable_size})); fi; fi"
        )
    return "\n".join(lines) or "true"
