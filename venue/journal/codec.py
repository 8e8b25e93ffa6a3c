"""One journal record: (ts, command, events) <-> bytes, versioned by its first byte.

Every format holds the plain form of `venue.domain.serde.to_plain`:
``[ts, [type_name, {field: value}], [[type_name, {...}], ...]]``.

- ``0x01`` + MessagePack (version 1, what this release writes). msgspec encodes the frozen
  dataclasses directly (the same plain form as `to_plain`; tests hold them equal) about three
  times faster than orjson wrote JSON, and the records are about 30% smaller.
- ``[`` JSON written by orjson (version 0, the releases before): still read, so a journal
  written by the previous release recovers under this one.
- `` `` (a space) + JSON written by the `json` module: a record holding an integer beyond 64
  bits (a large `cum_notional`, say), which neither MessagePack nor orjson can hold; read
  back exactly.

Upcasting: an older record decodes through the same `serde.from_plain`, which fills fields
that record does not have with their defaults (the dataclasses define one for every field
added after the first release).

A version 1 record is decoded by msgspec straight into the dataclasses (one decoder per
type, from the annotations; missing fields get their defaults, as from_plain does), about
five times faster than building them from the plain form in Python; a record msgspec
will not take as typed goes the plain way.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

from venue.domain.commands import Command
from venue.domain.events import Event
from venue.domain.serde import CLASSES, from_plain, to_plain

VERSION = 1
_V1 = b"\x01"
_V0 = b"["  # orjson JSON, the releases before this one
_WIDE = b" "  # first byte of a record written by the json module (integers beyond 64 bits)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()
# [ts, [name, {...}], [[name, {...}], ...]] with the objects left undecoded, then each by type
_outline = msgspec.msgpack.Decoder(
    tuple[int, tuple[str, msgspec.Raw], list[tuple[str, msgspec.Raw]]]
)
_typed: dict[str, msgspec.msgpack.Decoder[Any]] = {
    name: msgspec.msgpack.Decoder(cls) for name, cls in CLASSES.items()
}


def encode_record(ts: int, command: Command, events: list[Event]) -> bytes:
    """Encode one record. O(size of the record); a few microseconds for a typical order."""
    try:
        return _V1 + _encoder.encode(
            [ts, [type(command).__name__, command], [[type(e).__name__, e] for e in events]]
        )
    except OverflowError:  # an integer beyond 64 bits
        plain = [ts, to_plain(command), [to_plain(e) for e in events]]
        return _WIDE + json.dumps(plain, separators=(",", ":")).encode()


def _plain(payload: bytes) -> Any:
    first = payload[:1]
    if first == _V1:
        return _decoder.decode(memoryview(payload)[1:])
    if first == _V0:
        return orjson.loads(payload)
    if first == _WIDE:
        return json.loads(payload)
    raise ValueError(f"journal record of an unknown format (first byte {first!r})")


def record_version(payload: bytes) -> int:
    """The format version of a record: 1 (MessagePack) or 0 (JSON, older releases, or a
    record with an integer beyond 64 bits)."""
    return VERSION if payload[:1] == _V1 else 0


def decode_record(payload: bytes) -> tuple[int, Command, list[Event]]:
    """Decode what encode_record wrote, in this release or an earlier one."""
    if payload[:1] == _V1:
        record = decode_typed(payload)
        if record is not None:
            return record
    ts, command, events = _plain(payload)
    return ts, from_plain(command), [from_plain(e) for e in events]


def decode_typed(payload: bytes) -> tuple[int, Command, list[Event]] | None:
    """A version 1 record decoded by msgspec into the classes; None if it will not take it
    (decode_record then builds it from the plain form)."""
    try:
        ts, (name, raw), raw_events = _outline.decode(memoryview(payload)[1:])
        typed = _typed
        return ts, typed[name].decode(raw), [typed[n].decode(r) for n, r in raw_events]
    except (msgspec.ValidationError, KeyError):
        return None


def record_last_seq(payload: bytes) -> int:
    """The seq of the record's last event (0 if it has none), without building objects.
    Lets a reader skip records it has already applied. O(size of the record)."""
    events = _plain(payload)[2]
    return events[-1][1]["seq"] if events else 0
