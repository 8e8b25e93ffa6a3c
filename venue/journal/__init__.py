"""The journal: every command and its events, on disk before any report leaves.

`Journal` appends batches of records (group commit), `read_records` replays or tails them,
`encode_record`/`decode_record` turn (ts, command, events) into a record's payload and
back, and snapshots let recovery start from a recent state instead of record 1.
"""

from venue.journal.codec import decode_record, encode_record, record_last_seq
from venue.journal.journal import Journal, JournalCorrupt, read_records
from venue.journal.marker import RELEASED, RecordMarker
from venue.journal.snapshot import latest_snapshot, prune_snapshots, write_snapshot

__all__ = [
    "RELEASED",
    "Journal",
    "JournalCorrupt",
    "RecordMarker",
    "decode_record",
    "encode_record",
    "latest_snapshot",
    "prune_snapshots",
    "read_records",
    "record_last_seq",
    "write_snapshot",
]
