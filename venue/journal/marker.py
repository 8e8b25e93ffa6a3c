"""A journal record number kept in a small file beside the journal, overwritten in place.

`released` holds the last record whose reports were handed to QuickFIX: it is written
only after that record's batch was made durable, so it is also the bound of what the SQL
projection may read (a record past it may still be lost by a power cut). Each drop-copy
session has one too (`copied-<CompID>`): the last record copied to it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_NUMBER = struct.Struct("<Q")
RELEASED = "released"


class RecordMarker:
    """One 8-byte record number in a file; written without fsync (a lost write only means
    an older number, and every number it ever held was durable when written)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def read(self, default: int) -> int:
        data = os.pread(self._fd, _NUMBER.size, 0)
        return _NUMBER.unpack(data)[0] if len(data) == _NUMBER.size else default

    def write(self, record_no: int) -> None:
        os.pwrite(self._fd, _NUMBER.pack(record_no), 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
