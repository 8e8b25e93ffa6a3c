"""One journal record: (ts, command, events) <-> bytes.

The payload is JSON: ``[ts, [type_name, {field: value}], [[type_name, {...}], ...]]``, the
plain form of `venue.domain.serde.to_plain` for the command and each event. Encoding lets
orjson serialise the frozen dataclasses directly, which gives the same bytes as `to_plain`
five times faster (tests hold the two equal for every command and event type). Decoding
goes through `serde.from_plain`.

orjson handles integers of 64 bits at most and reads longer ones back as floats. A record
holding a longer integer (a large `cum_notional`, say) is written by the standard `json`
module instead, with one leading space so that it is still plain JSON, and is read back by
the same module, exactly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from venue.domain.commands import Command
from venue.domain.events import Event
from venue.domain.serde import from_plain, to_plain

_WIDE = b" "  # first byte of a record written by the json module (integers beyond 64 bits)


def encode_record(ts: int, command: Command, events: list[Event]) -> bytes:
    """Encode one record. O(size of the record); a few microseconds for a typical order."""
    try:
        return orjson.dumps(
            [ts, [type(command).__name__, command], [[type(e).__name__, e] for e in events]]
        )
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits (or a bug)
        plain = [ts, to_plain(command), [to_plain(e) for e in events]]
        return _WIDE + json.dumps(plain, separators=(",", ":")).encode()


def decode_record(payload: bytes) -> tuple[int, Command, list[Event]]:
    """Decode what encode_record wrote. O(size of the record)."""
    plain: Any = json.loads(payload) if payload[:1] == _WIDE else orjson.loads(payload)
    ts, command, events = plain
    return ts, from_plain(command), [from_plain(e) for e in events]


def record_last_seq(payload: bytes) -> int:
    """The seq of the record's last event (0 if it has none), without building objects.
    Lets a reader skip records it has already applied. O(size of the record)."""
    plain: Any = json.loads(payload) if payload[:1] == _WIDE else orjson.loads(payload)
    events = plain[2]
    return events[-1][1]["seq"] if events else 0
