"""What a node made durable: the ``syncjournal`` shim, and cutting a killed node's files back to it.

A SIGKILLed container keeps the kernel's page cache: every write(2) survives, synced or not, so a kill
does not show what an unsynced write-ahead log risks (Redis's ``appendfsync everysec`` loses to a kill
only what it had not even written, held back behind a slow fsync). A machine that loses power
loses exactly the writes not yet fsynced. The shim (``native/syncjournal.c``, LD_PRELOADed into each
broker process) records, per file, its size before each successful fsync/fdatasync; after a kill,
:func:`unsynced_tails` names what lies past that size and the cluster truncates it.

The model: a file the broker has synced loses its unsynced tail (the worst case a power loss allows);
a file it never syncs is kept whole (as if written long ago, flushed by the kernel: the power loss counts
such files in its report, since a real one would lose what the kernel had not written back); so is a file
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


@dataclass(frozen=True)
class Journal:
    """What a node's shim recorded: ``sizes`` (path → size at its last fsync) and ``inodes`` (every file
    it ever synced, under whatever name it has now)."""

    sizes: dict[str, int]
    inodes: frozenset[int]


def read_journal(container: Container) -> Journal:
    """The journal of a (stopped or running) node; empty if it never synced."""
    try:
        stream, _ = container.get_archive(JOURNAL_IN_NODE)
    except NotFound:
        return Journal({}, frozenset())
    sizes: dict[str, int] = {}
    inodes: set[int] = set()
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            inode = parse_inode_slot(PurePosixPath(member.name).name)
            if inode is not None:
                inodes.add(inode)
                continue
            extracted = tar.extractfile(member) if member.isfile() else None
            slot = parse_slot(extracted.read()) if extracted is not None else None
            if slot is not None:
                sizes[slot[0]] = slot[1]
    return Journal(sizes, frozenset(inodes))


def parse_inode_slot(name: str) -> int | None:
    """An inode slot's name, ``i<16 hex digits>``; None for a path slot."""
    digits = name[1:]
    if name.startswith("i") and len(digits) == 16 and all(c in "0123456789abcdef" for c in digits):
        return int(digits, 16)
    return None


def parse_slot(data: bytes) -> tuple[str, int] | None:
    """One slot file: ``<20-digit size> <path>``; None when torn or foreign."""
    size, _, path = data.decode(errors="replace").strip().partition(" ")
    return (path, int(size)) if path and size.isdigit() else None


@dataclass(frozen=True)
class Unsynced:
    """A node's data volume against its fsync journal: ``tails`` (path → bytes past the last fsync:
    what a power loss cuts) and ``never_synced`` (path → size: files the model keeps whole)."""

    tails: dict[str, int]
    never_synced: dict[str, int]


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
        if path.startswith(root) and not _kept_whole(path, kept_whole)
    ]


def _kept_whole(path: str, kept_whole: tuple[str, ...]) -> bool:
    """Whether ``path``'s name matches one of the cluster's rewritten-in-place patterns."""
    return any(fnmatch.fnmatch(PurePosixPath(path).name, pattern) for pattern in kept_whole)


LISTED = "file "  # how ``listing_script`` marks its lines, apart from the cut script's


@dataclass(frozen=True)
class ListedFile:
    size: int
    inode: int


def listing_script(data_dir: str) -> str:
    """A POSIX shell script that prints every regular file under ``data_dir`` with its size and inode."""
    quoted = "'" + data_dir.replace("'", "'\\''") + "'"
    return f"find {quoted} -type f -printf '{LISTED}%s %i %p\\n'"


def parse_listing(output: str) -> dict[str, ListedFile]:
    """Path → size and inode from ``listing_script``'s lines (others are ignored)."""
    files = {}
    for line in output.splitlines():
        size, _, rest = line.removeprefix(LISTED).partition(" ")
        inode, _, path = rest.partition(" ")
        if line.startswith(LISTED) and size.isdigit() and inode.isdigit() and path:
            files[path] = ListedFile(int(size), int(inode))
    return files


def never_synced(files: dict[str, ListedFile], journal: Journal, kept_whole: tuple[str, ...] = ()) -> dict[str, int]:
    """The files (path → size) the broker has not synced once, under any name, since it started with the
    shim. The model keeps them whole, as if the kernel had written them back long ago; a real power cut
    loses what the kernel had not written back yet of a file the broker leaves to it."""
    return {
        path: listed.size
        for path, listed in sorted(files.items())
        if listed.inode not in journal.inodes and not _kept_whole(path, kept_whole)
    }


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


def parse_cuts(output: str) -> dict[str, int]:
    """Path → bytes from ``cut_script``'s lines (``listing_script``'s among them are ignored)."""
    tails = {}
    for line in output.splitlines():
        path, _, count = line.rpartition(" ")
        if count.isdigit() and path and not line.startswith(LISTED):
            tails[path] = int(count)
    return tails
