"""Append-only journal in numbered segment files, with group commit and crash recovery.

Format. A journal is a directory of segments ``journal-<first record number, 20 digits>.log``.
A segment is a run of records, each a 16-byte header ``struct "<IIQ"`` (payload length,
CRC, record number) followed by the payload. The CRC is zlib's CRC-32 of the 8 record-number
bytes followed by the payload (header bytes 8..16 and the payload, which are contiguous).
Record numbers start at 1 and go up by one across segments.

Group commit. `Journal.append` writes a whole batch with one write and one fdatasync; the
caller releases nothing of the batch before it returns.

Recovery. A crash mid-write leaves at most a torn tail on the last segment: an incomplete
header or payload, a final record whose CRC fails, or zero bytes a file system appended.
`Journal.open` cuts it off and logs it; `read_records` stops before it. Any other damage (a
bad record with valid data after it, a bad record in an earlier segment, a gap in the
numbers) raises JournalCorrupt naming the file, the byte offset and the record number: the
venue must not start on a journal it would have to guess about.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import logging
import os
import re
import struct
import time
import zlib
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<IIQ")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 1 << 28
"""Longest payload accepted; a longer length field is damage, not a torn write."""

_RECORD_NO = struct.Struct("<Q")
_SEGMENT = re.compile(r"journal-(\d{20})\.log")


class JournalCorrupt(Exception):
    """The journal is damaged beyond a torn tail; recovery must stop rather than guess."""


def segment_name(first: int) -> str:
    return f"journal-{first:020d}.log"


# -- writer -------------------------------------------------------------------------------


class Journal:
    """The writer. One per directory (an exclusive flock on the directory enforces it).

    Owned by one thread, the kernel's. Appending is the only way to change the journal.
    """

    def __init__(
        self,
        directory: Path,
        dir_fd: int,
        path: Path,
        fd: int,
        size: int,
        last_record_no: int,
        fsync: bool,
        segment_bytes: int,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self.last_times = (0.0, 0.0)  # the last batch's write and fsync, in seconds
        self.segment_bytes = segment_bytes
        self.last_record_no = last_record_no
        self._dir_fd = dir_fd
        self._path = path
        self._fd = fd
        self._size = size

    @classmethod
    def open(cls, directory: Path, *, fsync: bool = True, segment_bytes: int = 64 << 20) -> Journal:
        """Open (or create) the journal in directory, cutting off a torn tail.

        Reads the whole last segment to check it: O(segment_bytes). Raises JournalCorrupt on
        damage, BlockingIOError if another Journal has the directory open.
        """
        directory = Path(directory)
        if not directory.is_dir():
            directory.mkdir(parents=True)
            if fsync:
                _fsync_dir(directory.parent)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BlockingIOError(
                    errno.EWOULDBLOCK, f"journal {directory} is already open for writing"
                ) from None
            segments = _segments(directory)
            if segments:
                first, path = segments[-1]
                last_record_no, size = _recover(path, first, fsync)
                if size == 0 and len(segments) > 1:
                    _check_ends_before(*segments[-2], first)
            else:
                path, last_record_no, size = directory / segment_name(1), 0, 0
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if not segments and fsync:
                os.fsync(dir_fd)
            elif fsync:
                # Records a killed process wrote but never synced are in the page cache only:
                # make them durable before they are treated as journaled (re-sent, projected).
                os.fsync(fd)
        except BaseException:
            os.close(dir_fd)
            raise
        return cls(directory, dir_fd, path, fd, size, last_record_no, fsync, segment_bytes)

    def append(self, payloads: Sequence[bytes]) -> int:
        """Write one batch: one os.write and, if fsync is on, one fdatasync. O(batch bytes).

        Returns the number of the batch's last record; when it returns the batch is on disk.
        On an OSError the batch does not count: the journal cuts it off (best effort), closes
        itself and raises. Stop the venue then; a failed fsync cannot be retried safely.
        """
        if self._fd < 0:
            raise ValueError(f"journal {self.directory} is closed")
        if not payloads:
            return self.last_record_no
        pack, pack_no, crc32 = HEADER.pack, _RECORD_NO.pack, zlib.crc32
        parts: list[bytes] = []
        no = self.last_record_no
        for payload in payloads:
            if len(payload) > MAX_PAYLOAD:
                raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
            no += 1
            parts.append(pack(len(payload), crc32(payload, crc32(pack_no(no))), no))
            parts.append(payload)
        buf = b"".join(parts)
        try:
            if self._size and self._size + len(buf) > self.segment_bytes:
                self._roll()
            started = time.perf_counter()
            _write_all(self._fd, buf)
            written = time.perf_counter()
            if self.fsync:
                _sync(self._fd)
            self.last_times = (written - started, time.perf_counter() - written)
        except OSError:
            self._fail()
            raise
        self._size += len(buf)
        self.last_record_no = no
        return no

    def close(self) -> None:
        """Close the segment and release the directory. Idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _roll(self) -> None:
        """Start a new segment at the next record number and make its name durable."""
        path = self.directory / segment_name(self.last_record_no + 1)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fd = os.open(path, flags, 0o644)
        os.close(self._fd)
        self._path, self._fd, self._size = path, fd, 0
        if self.fsync:
            os.fsync(self._dir_fd)

    def _fail(self) -> None:
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            logger.exception("journal %s: could not cut off a failed write", self._path)
        logger.error(
            "journal %s: write failed at record %d; closing", self._path, self.last_record_no + 1
        )
        self.close()


def _recover(path: Path, first: int, fsync: bool) -> tuple[int, int]:
    """Check the last segment, cut off a torn tail. Returns (last record number, size)."""
    with open(path, "rb") as f:
        data = f.read()
    records = _parse(data, 0, first, path, last=True)
    last_no, end = first - 1, 0
    while True:
        try:
            last_no, _, end = next(records)
        except StopIteration as stop:
            problem = stop.value
            break
    if end < len(data):
        logger.warning(
            "journal %s: torn tail at byte offset %d (record %d: %s); dropping %d bytes",
            path,
            end,
            last_no + 1,
            problem,
            len(data) - end,
        )
        with open(path, "r+b") as f:
            f.truncate(end)
            if fsync:
                os.fsync(f.fileno())
    return last_no, end


def _check_ends_before(first: int, path: Path, next_first: int) -> None:
    """The segment must end with record next_first - 1 (the next one is empty). O(segment)."""
    with open(path, "rb") as f:
        data = f.read()
    last_no = first - 1
    for no, _, _ in _parse(data, 0, first, path, last=False):
        last_no = no
    if last_no != next_first - 1:
        raise JournalCorrupt(
            f"{path}: ends with record {last_no} but the next segment starts at {next_first}"
        )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, buf: bytes) -> None:
    view = memoryview(buf)
    written = 0
    while written < len(buf):
        written += os.write(fd, view[written:])


def _sync(fd: int) -> None:
    # Looked up at each call, not bound at import, so that tests can count the calls.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


# -- reader -------------------------------------------------------------------------------

# Where readers of this process stopped in each segment file, so that a reader tailing the
# journal (the SQL projector) reads only the new bytes on each call:
# (st_dev, st_ino) -> (segment's first record number, next record number, byte offset).
_resume: dict[tuple[int, int], tuple[int, int, int]] = {}
_RESUME_MAX = 1024


def read_records(
    directory: Path, after: int = 0, upto: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield (record_no, payload) for every record numbered above after (and, if given, not
    above upto), in order.

    Every record read is checked as on open. A torn tail on the last segment (or a batch a
    writer of this process is appending right now) ends the iteration quietly; any other
    damage raises JournalCorrupt. Holds one segment in memory at a time. O(bytes read): the
    segment holding after+1 is read from its start, or from where a previous call in this
    process stopped, so tailing with after=<last seen> costs only the new records.
    """
    directory = Path(directory)
    segments = _segments(directory)
    if not segments:
        return
    firsts = [first for first, _ in segments]
    if after + 1 < firsts[0]:
        raise JournalCorrupt(
            f"{segments[0][1]}: records {after + 1}..{firsts[0] - 1} are missing "
            f"(the oldest segment starts at record {firsts[0]})"
        )
    start = bisect.bisect_right(firsts, after + 1) - 1
    expected = firsts[start]
    for i in range(start, len(segments)):
        if upto is not None and expected > upto:
            return
        first, path = segments[i]
        if first != expected:
            raise JournalCorrupt(
                f"{path}: segment starts at record {first} but record {expected} was next "
                "(records missing or repeated)"
            )
        expected = yield from _read_segment(
            path, first, after, last=i == len(segments) - 1, upto=upto
        )


def _read_segment(
    path: Path, first: int, after: int, last: bool, upto: int | None = None
) -> Generator[tuple[int, bytes], None, int]:
    """Yield the segment's records numbered above after (up to upto); return the next
    record number. Records past upto are left for a later call (the resume point stays
    before them)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        key = (st.st_dev, st.st_ino)
        start_no, offset = first, 0
        hint = _resume.get(key)
        if hint and hint[0] == first and first <= hint[1] <= after + 1 and hint[2] <= st.st_size:
            start_no, offset = hint[1], hint[2]
            f.seek(offset)
        data = f.read()
        if offset and len(data) >= HEADER_SIZE and HEADER.unpack_from(data)[2] != start_no:
            start_no, offset = first, 0  # not the file the hint came from
            f.seek(0)
            data = f.read()
    next_no, end = start_no, offset
    try:
        for no, payload, record_end in _parse(data, offset, start_no, path, last):
            if upto is not None and no > upto:
                break
            next_no, end = no + 1, record_end
            if no > after:
                yield no, payload
    finally:
        if end > offset:
            if len(_resume) >= _RESUME_MAX:
                _resume.clear()
            _resume[key] = (first, next_no, end)
    return next_no


def _segments(directory: Path) -> list[tuple[int, Path]]:
    """(first record number, path) of every segment file, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = _SEGMENT.fullmatch(name)
        if match:
            first = int(match.group(1))
            if first < 1:
                raise JournalCorrupt(f"{directory / name}: record numbers start at 1")
            found.append((first, directory / name))
    found.sort()
    return found


# -- parsing ------------------------------------------------------------------------------


def _parse(
    data: bytes, base: int, expected: int, path: Path, last: bool
) -> Generator[tuple[int, bytes, int], None, str | None]:
    """Yield (record_no, payload, end) for each record in data.

    data is the segment's content from byte offset base, where record `expected` starts; end
    is the segment offset just past the record. Damage that may be a torn tail ends the
    iteration if last (the segment is the newest) and is returned as a description; any
    other damage raises JournalCorrupt. O(len(data)).
    """
    size = len(data)
    view = memoryview(data)
    unpack, crc32 = HEADER.unpack_from, zlib.crc32
    pos = 0
    while pos < size:
        if size - pos >= HEADER_SIZE:
            length, crc, no = unpack(data, pos)
            end = pos + HEADER_SIZE + length
            if end <= size and crc32(view[pos + 8 : end]) == crc:
                if no != expected:
                    raise JournalCorrupt(
                        f"{path}: byte offset {base + pos}: record number {no} where record "
                        f"{expected} was expected (numbers not contiguous)"
                    )
                yield no, data[pos + HEADER_SIZE : end], base + end
                expected += 1
                pos = end
                continue
        problem, torn = _damage(data, pos, expected)
        if torn and last:
            return problem
        where = "" if last else " (not the last segment, so not a torn write)"
        raise JournalCorrupt(
            f"{path}: byte offset {base + pos}: record {expected}: {problem}{where}"
        )
    return None


def _damage(data: bytes, pos: int, expected: int) -> tuple[str, bool]:
    """Describe the bad record at data[pos:] and say whether it can be a torn tail."""
    rest = len(data) - pos
    if data.count(0, pos) == rest:
        return f"{rest} zero bytes", True
    if rest < HEADER_SIZE:
        return f"incomplete header ({rest} bytes)", True
    length, _, _ = HEADER.unpack_from(data, pos)
    end = pos + HEADER_SIZE + length
    if length > MAX_PAYLOAD:
        return f"bad length {length}", False
    if end > len(data):
        follower = _find_record(data, pos + HEADER_SIZE, expected + 1)
        if follower is not None:
            return (
                f"bad length {length}: record {expected + 1} follows {follower - pos} bytes on",
                False,
            )
        return f"incomplete payload ({rest - HEADER_SIZE} of {length} bytes)", True
    if data.count(0, end) == len(data) - end:
        return "CRC mismatch", True
    return "CRC mismatch followed by more data", False


def _find_record(data: bytes, start: int, no: int) -> int | None:
    """Offset of a valid record numbered no at or after start, or None. O(len(data))."""
    pattern = _RECORD_NO.pack(no)
    at = data.find(pattern, start + 8)
    while at >= 0:
        head = at - 8
        length, crc, _ = HEADER.unpack_from(data, head)
        end = head + HEADER_SIZE + length
        if end <= len(data) and zlib.crc32(memoryview(data)[at:end]) == crc:
            return head
        at = data.find(pattern, at + 1)
    return None
