"""Snapshots: the kernel's state after journal record N, so that recovery replays only N+1...

A snapshot is the file ``snapshot-<record number, 20 digits>.bin``: a 24-byte header
``struct "<4sIQQ"`` (magic b"VSN1", CRC-32 of header bytes 8..24 and the payload, record
number, payload length) then the payload. What the payload holds is the caller's business.
Writing is atomic (temporary file, fsync, rename, fsync of the directory), so a crash leaves
the old snapshots and at worst a stray ``.tmp`` file; a damaged file is detected by its CRC
and skipped. Journal segments are never removed here: the audit needs them.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<4sIQQ")
_MAGIC = b"VSN1"
_SNAPSHOT = re.compile(r"snapshot-(\d{20})\.bin")
_TMP = re.compile(r"snapshot-(\d{20})\.bin\.tmp")


def snapshot_name(record_no: int) -> str:
    return f"snapshot-{record_no:020d}.bin"


def write_snapshot(directory: Path, record_no: int, payload: bytes) -> Path:
    """Store payload as the state after record record_no, atomically. O(len(payload))."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / snapshot_name(record_no)
    tmp = path.with_name(path.name + ".tmp")
    tail = _HEADER.pack(_MAGIC, 0, record_no, len(payload))[8:]
    header = _HEADER.pack(_MAGIC, zlib.crc32(payload, zlib.crc32(tail)), record_no, len(payload))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            for part in (header, payload):
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return path


CHUNK = 2_000


def encode_state(state: dict[str, Any]) -> bytes:
    """orjson.dumps(state), byte for byte, but lists longer than CHUNK are encoded CHUNK
    items at a time: orjson holds the interpreter lock for a whole call, so one call on a
    100,000-item list would stop the kernel thread for its duration; between chunks it runs."""
    parts = [b"{"]
    for n, (key, value) in enumerate(state.items()):
        parts.append(b"," if n else b"")
        parts.append(orjson.dumps(key) + b":")
        if type(value) is list and len(value) > CHUNK:
            chunks = []
            for start in range(0, len(value), CHUNK):
                chunks.append(orjson.dumps(value[start : start + CHUNK])[1:-1])
                time.sleep(0)  # let the kernel thread have the lock
            parts.append(b"[" + b",".join(chunks) + b"]")
        else:
            parts.append(orjson.dumps(value))
    parts.append(b"}")
    return b"".join(parts)


class SnapshotWriter:
    """Encodes and writes snapshots on a thread of its own, one at a time, so that the thread
    that took the state (the kernel's) goes on at once. The state handed over must not change
    afterwards (the kernel hands over copies and immutable records)."""

    def __init__(self, directory: Path, keep: int = 2) -> None:
        self.directory = Path(directory)
        self.keep = keep
        self._thread: threading.Thread | None = None
        self.last: tuple[int, int, float] | None = None  # record_no, bytes, seconds

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, record_no: int, encode: Callable[[], bytes]) -> bool:
        """Start writing the snapshot of record_no (encode() runs on the writer thread);
        False, and nothing done, if the previous one is still being written."""
        if self.busy:
            return False
        self._thread = threading.Thread(
            target=self._write, args=(record_no, encode), name="snapshot", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Until the snapshot being written (if any) is on disk."""
        if self._thread is not None:
            self._thread.join(timeout)

    def write_now(self, record_no: int, payload: bytes) -> Path:
        """Write on the calling thread (at start and stop), after any in progress."""
        self.wait()
        path = write_snapshot(self.directory, record_no, payload)
        prune_snapshots(self.directory, keep=self.keep)
        return path

    def _write(self, record_no: int, encode: Callable[[], bytes]) -> None:
        started = time.perf_counter()
        try:
            payload = encode()
            write_snapshot(self.directory, record_no, payload)
            prune_snapshots(self.directory, keep=self.keep)
        except Exception:  # the older snapshots remain; recovery replays more journal
            logger.exception("snapshot at record %d could not be written", record_no)
            return
        took = time.perf_counter() - started
        self.last = (record_no, len(payload), took)
        logger.info(
            "snapshot at record %d written: %d bytes, encoded and written in %.3fs "
            "(off the kernel thread)",
            record_no, len(payload), took,
        )  # fmt: skip


def latest_snapshot(directory: Path) -> tuple[int, bytes] | None:
    """(record_no, payload) of the newest valid snapshot, or None if there is none.

    A damaged snapshot is skipped with a warning and an older one is tried.
    """
    for record_no, path in reversed(_snapshots(Path(directory))):
        payload = _load(path, record_no)
        if payload is not None:
            return record_no, payload
    return None


def prune_snapshots(directory: Path, keep: int = 2) -> list[Path]:
    """Remove snapshots older than the newest `keep` valid ones; returns the removed paths.

    Also removes temporary files left by a crash, when older than the newest kept snapshot.
    """
    if keep < 1:
        raise ValueError("keep at least one snapshot")
    directory = Path(directory)
    removed: list[Path] = []
    kept: list[int] = []
    for record_no, path in reversed(_snapshots(directory)):
        if len(kept) >= keep:
            path.unlink()
            removed.append(path)
        elif _load(path, record_no) is not None:
            kept.append(record_no)
    if kept:
        for name in os.listdir(directory):
            match = _TMP.fullmatch(name)
            if match and int(match.group(1)) <= kept[0]:
                (directory / name).unlink()
                removed.append(directory / name)
    return removed


def snapshot_records(directory: Path) -> list[int]:
    """The record numbers of the snapshot files, oldest first (names only: cheap)."""
    return [record_no for record_no, _ in _snapshots(Path(directory))]


def _snapshots(directory: Path) -> list[tuple[int, Path]]:
    """(record_no, path) of every snapshot file, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = _SNAPSHOT.fullmatch(name)
        if match:
            found.append((int(match.group(1)), directory / name))
    found.sort()
    return found


def _load(path: Path, record_no: int) -> bytes | None:
    """The payload of a snapshot file, or None (with a warning) if it is damaged."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem: str | None = f"cannot be read: {exc}"
    else:
        problem = _problem(data, record_no)
    if problem is not None:
        logger.warning("snapshot %s is damaged (%s); skipping it", path, problem)
        return None
    return data[_HEADER.size :]


def _problem(data: bytes, record_no: int) -> str | None:
    """What is wrong with a snapshot file's content, or None."""
    if len(data) < _HEADER.size:
        return f"only {len(data)} bytes"
    magic, crc, number, length = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        return f"bad magic {magic!r}"
    if number != record_no:
        return f"holds record number {number}"
    if length != len(data) - _HEADER.size:
        return f"payload is {len(data) - _HEADER.size} bytes, header says {length}"
    if zlib.crc32(memoryview(data)[8:]) != crc:
        return "CRC mismatch"
    return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
