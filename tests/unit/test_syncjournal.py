"""The power-loss model's pure parts: which files are cut, to what size, by the script the helper runs.
The shim itself is exercised for real (compiled, preloaded into a process that fsyncs)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from chaos.cluster import syncjournal
from chaos.cluster.syncjournal import (
    Cut,
    cut_script,
    listing_script,
    never_synced,
    parse_cuts,
    parse_inode_slot,
    parse_listing,
    parse_slot,
    read_journal,
    unsynced_tails,
)


def test_only_files_on_the_data_volume_are_cut() -> None:
    synced = {"/data/appendonly.aof": 10, "/etc/redis.conf": 5, "/database/x": 1, "/data/sub/seg.log": 0}
    assert unsynced_tails(synced, "/data") == [Cut("/data/appendonly.aof", 10), Cut("/data/sub/seg.log", 0)]


def test_files_rewritten_in_place_are_kept_whole() -> None:
    synced = {"/data/ra/names.dets": 5, "/data/ra/00000001.wal": 7, "/data/mnesia/schema.DAT": 9}
    assert unsynced_tails(synced, "/data", ("*.dets", "*.DAT")) == [Cut("/data/ra/00000001.wal", 7)]


def test_slots_parse_and_torn_ones_are_ignored() -> None:
    assert parse_slot(b"00000000000000000150 /data/a file.log\n") == ("/data/a file.log", 150)
    assert parse_slot(b"0000000000") is None
    assert parse_slot(b"garbage /data/x") is None


def test_the_cut_script_drops_only_unsynced_tails(tmp_path: Path) -> None:
    longer, shorter, quoted = tmp_path / "longer", tmp_path / "shorter", tmp_path / "it's"
    longer.write_bytes(b"x" * 100)
    shorter.write_bytes(b"x" * 10)  # rewritten smaller since its last sync: nothing to drop
    quoted.write_bytes(b"y" * 7)
    cuts = [Cut(str(longer), 60), Cut(str(shorter), 50), Cut(str(quoted), 0), Cut(str(tmp_path / "gone"), 3)]
    out = subprocess.run(["sh", "-c", cut_script(cuts)], capture_output=True, text=True, check=True).stdout
    assert longer.stat().st_size == 60 and shorter.stat().st_size == 10 and quoted.stat().st_size == 0
    assert sorted(out.split("\n")[:-1]) == sorted([f"{longer} 40", f"{quoted} 7"])


def test_measuring_prints_the_same_tails_and_cuts_nothing(tmp_path: Path) -> None:
    longer, shorter = tmp_path / "longer", tmp_path / "shorter"
    longer.write_bytes(b"x" * 100)
    shorter.write_bytes(b"x" * 10)
    cuts = [Cut(str(longer), 60), Cut(str(shorter), 50)]
    script = cut_script(cuts, measure_only=True)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out == f"{longer} 40\n"
    assert longer.stat().st_size == 100 and shorter.stat().st_size == 10


def _run_under_the_shim(tmp_path: Path, program: str, argument: Path) -> Path:
    """Run ``program`` (Python, given ``argument``) with the shim preloaded; returns its journal directory."""
    try:
        library = syncjournal.library()
    except syncjournal.SyncJournalUnavailableError as exc:
        pytest.skip(str(exc))
    shim, journal = tmp_path / "shim.so", tmp_path / "journal"
    shim.write_bytes(library)
    env = {**os.environ, "LD_PRELOAD": str(shim), "BC_SYNC_JOURNAL": str(journal)}
    subprocess.run([sys.executable, "-c", program, str(argument)], env=env, check=True)
    return journal


class _DirectoryAsNode:
    """A journal directory served as ``Container.get_archive`` serves the node's, for ``read_journal``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, str]]:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            tar.add(self.directory, arcname=PurePosixPath(path).name)
        return [archive.getvalue()], {}


def test_the_shim_records_the_size_before_each_sync(tmp_path: Path) -> None:
    data = tmp_path / "data.log"
    program = (
        "import os,sys\n"
        "f = open(sys.argv[1], 'wb')\n"
        "f.write(b'a' * 100); f.flush(); os.fsync(f.fileno())\n"
        "f.write(b'b' * 50); f.flush(); os.fdatasync(f.fileno())\n"
        "f.write(b'c' * 7); f.flush()\n"
    )
    journal = read_journal(_DirectoryAsNode(_run_under_the_shim(tmp_path, program, data)))  # type: ignore[arg-type]
    assert journal.sizes == {str(data): 150}
    assert journal.inodes == {data.stat().st_ino}
    assert data.stat().st_size == 157


def test_a_file_synced_then_renamed_is_not_one_never_synced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    program = (
        "import os,sys\n"
        "d = sys.argv[1]\n"
        "f = open(d + '/temp', 'wb'); f.write(b'a' * 10); f.flush(); os.fsync(f.fileno()); f.close()\n"
        "os.rename(d + '/temp', d + '/base')\n"
        "f = open(d + '/left-to-the-kernel', 'wb'); f.write(b'b' * 20); f.close()\n"
        "f = open(d + '/rewritten.dets', 'wb'); f.write(b'c' * 5); f.close()\n"
    )
    journal = read_journal(_DirectoryAsNode(_run_under_the_shim(tmp_path, program, data)))  # type: ignore[arg-type]
    listing = subprocess.run(["sh", "-c", listing_script(str(data))], capture_output=True, text=True, check=True).stdout
    files = parse_listing(listing + "/elsewhere 3\n")  # a cut script's line among them is no file
    assert parse_cuts(listing + "/elsewhere 3\n") == {"/elsewhere": 3}  # and no listed file is a cut
    assert sorted(files) == [f"{data}/base", f"{data}/left-to-the-kernel", f"{data}/rewritten.dets"]
    assert never_synced(files, journal, ("*.dets",)) == {f"{data}/left-to-the-kernel": 20}


def test_inode_slots_are_told_from_path_slots() -> None:
    assert parse_inode_slot("i00000000000004d2") == 1234
    assert parse_inode_slot("00000000000004d2") is None  # a path slot: a hash of the path
    assert parse_inode_slot("i00000000000004dz") is None
