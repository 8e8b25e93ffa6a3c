"""Play a scripted FIX session case against a live venue over TCP and check every field.

The format follows QuickFIX's acceptance scripts (test/definitions/server/ in the quickfix
C++ repository), with `|` for SOH, one action a line:

    # comment
    iCONNECT                    open a TCP connection to the venue
    I35=A|34=1|98=0|108=30|     send: 8= and 9= are put in front and 10= at the end; when
                                49/56/52 are missing they are added right after 35 (and 34)
    R8=FIX.4.4|9=<LEN>|...      send these bytes as written (garbled input): <LEN> and <SUM>
                                become the right BodyLength and CheckSum, anything else stays
    E35=A|34=1|49=VENUE|...     expect the next message: exactly these tags (8, 9, 10 are
                                checked for framing; 8 must be the session's BeginString),
                                with these values; `...` as the last item allows more body
                                fields (never more header fields)
    eDISCONNECT                 expect the venue to close the connection (nothing else first)
    eNOTHING 1.5                expect nothing for 1.5 seconds
    iSLEEP 0.5                  wait
    iDISCONNECT                 close the connection

Placeholders in values: <BEGIN> (the session's BeginString), <CLIENT> (its CompID),
<VENUE> (the venue's CompID), <TIME> (now; in an expectation: any UTCTimestamp of the
session's precision within 60 s of now), <TIME-200> / <TIME+200> (now minus/plus seconds),
<ANY> (an expectation only: any non-empty value), <SAME:tag> (the value the last received
message carried for tag: for ids the venue makes up, such as OrderID).

Session.logon_extra holds fields a version puts on every Logon (35=A): they are appended to
the body of each Logon sent (unless the line has the tag) and added to each Logon expected
(unless the line says otherwise). On FIXT.1.1 that is DefaultApplVerID(1137)=9, so one
script serves FIX 4.2, 4.4 and FIXT.1.1.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

HEADER_TAGS = frozenset(
    (8, 9, 35, 34, 43, 49, 50, 52, 56, 57, 97, 115, 116, 122, 128, 129, 142, 143, 144, 145)
) | {1128, 1129}  # ApplVerID, CstmApplVerID: FIXT.1.1 header
_PLACEHOLDER = re.compile(r"<(BEGIN|CLIENT|VENUE|TIME|TIME[-+]\d+)>")
_TIMESTAMP = re.compile(r"^(\d{8}-\d{2}:\d{2}:\d{2})(\.(\d+))?$")


@dataclass
class Session:
    """Who plays the script: the client's CompID and version, the venue's CompID."""

    begin_string: str
    client: str
    venue: str = "VENUE"
    precision: int = 6  # digits after the second in the venue's SendingTime
    # Fields every Logon (35=A) carries at the end of its body on this version, sent and
    # expected alike: on FIXT.1.1 DefaultApplVerID(1137)=9 (spec/fixt.md).
    logon_extra: tuple[tuple[int, str], ...] = ()


class CaseFailed(AssertionError):
    pass


def _now(offset: float = 0.0) -> str:
    t = time.time() + offset
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _fields(line: str) -> list[tuple[int | str, str]]:
    out: list[tuple[int | str, str]] = []
    for item in line.strip().rstrip("|").split("|"):
        if item == "...":
            out.append(("...", ""))
            continue
        tag, _, value = item.partition("=")
        out.append((int(tag), value))
    return out


@dataclass
class Player:
    host: str
    port: int
    session: Session
    timeout: float = 10.0
    transcript: list[str] = field(default_factory=list)
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    _last: dict[int, str] = field(default_factory=dict)

    # -- substitution -----------------------------------------------------------------------

    def _sub(self, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "BEGIN":
                return self.session.begin_string
            if name == "CLIENT":
                return self.session.client
            if name == "VENUE":
                return self.session.venue
            return _now(float(name[4:]) if len(name) > 4 else 0.0)

        value = _PLACEHOLDER.sub(one, value)
        return re.sub(r"<SAME:(\d+)>", lambda m: self._last.get(int(m.group(1)), ""), value)

    # -- actions ----------------------------------------------------------------------------

    def play(self, script: str) -> None:
        for number, raw in enumerate(script.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                self._step(line)
            except CaseFailed as failure:
                transcript = "\n".join(self.transcript)
                raise CaseFailed(
                    f"line {number}: {line}\n{failure}\n--- transcript\n{transcript}"
                ) from None

    def _step(self, line: str) -> None:
        kind, rest = line[0], line[1:]
        if line == "iCONNECT":
            self.close()
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        elif line == "iDISCONNECT":
            self.close()
        elif line.startswith("iSLEEP"):
            time.sleep(float(line.split()[1]))
        elif line == "eDISCONNECT":
            self._expect_disconnect()
        elif line.startswith("eNOTHING"):
            self._expect_nothing(float(line.split()[1]))
        elif kind == "I":
            self._send(self._compose(rest))
        elif kind == "R":
            self._send(self._raw(rest))
        elif kind == "E":
            self._expect(rest)
        else:
            raise ValueError(f"unknown script line {line!r}")

    def _compose(self, rest: str) -> bytes:
        fields = [(t, self._sub(v)) for t, v in _fields(rest)]
        tags = {t for t, _ in fields}
        defaults = [(49, self.session.client), (56, self.session.venue), (52, _now())]
        missing = [(t, v) for t, v in defaults if t not in tags]
        at = 2 if len(fields) > 1 and fields[1][0] == 34 else 1
        fields[at:at] = missing
        if fields[0] == (35, "A"):
            fields += [f for f in self.session.logon_extra if f[0] not in tags]
        body = "".join(f"{t}={v}\x01" for t, v in fields).encode()
        head = f"8={self.session.begin_string}\x019={len(body)}\x01".encode() + body
        return head + b"10=%03d\x01" % (sum(head) % 256)

    def _raw(self, rest: str) -> bytes:
        text = self._sub(rest).replace("|", "\x01")
        if "<LEN>" in text:
            start = text.index("<LEN>\x01") + len("<LEN>\x01")
            end = text.rindex("\x0110=") + 1 if "\x0110=" in text else len(text)
            text = text.replace("<LEN>", str(len(text[start:end].encode())))
        if "<SUM>" in text:
            head = text[: text.rindex("10=<SUM>")].encode()
            text = text.replace("<SUM>", f"{sum(head) % 256:03d}")
        return text.encode()

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise CaseFailed("not connected")
        self.transcript.append("> " + data.decode(errors="replace").replace("\x01", "|"))
        self._sock.sendall(data)

    # -- receiving --------------------------------------------------------------------------

    def _next_message(self, timeout: float) -> bytes | None:
        """The next complete message, None on timeout; raises ConnectionError on close."""
        if self._sock is None:
            raise ConnectionError("not connected")
        deadline = time.monotonic() + timeout
        while True:
            message = self._split()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                raise ConnectionError("closed")
            self._buffer += data

    def _split(self) -> bytes | None:
        match = re.match(rb"8=[^\x01]*\x019=(\d+)\x01", self._buffer)
        if match is None:
            return None
        end = match.end() + int(match.group(1))
        tail = re.match(rb"10=\d{3}\x01", self._buffer[end:])
        if tail is None:
            if len(self._buffer) > end + 7:
                raise CaseFailed(f"bad framing from the venue: {self._buffer!r}")
            return None
        message, self._buffer = self._buffer[: end + tail.end()], self._buffer[end + tail.end() :]
        checksum = int(message[-4:-1])
        if checksum != sum(message[:end]) % 256:
            raise CaseFailed(f"bad CheckSum from the venue: {message!r}")
        return message

    def _expect(self, rest: str) -> None:
        try:
            data = self._next_message(self.timeout)
        except ConnectionError:
            raise CaseFailed(f"the venue closed the connection; expected {rest}") from None
        if data is None:
            raise CaseFailed(f"nothing received within {self.timeout}s; expected {rest}")
        text = data.decode()
        self.transcript.append("< " + text.replace("\x01", "|"))
        got = [(int(t), v) for t, _, v in (f.partition("=") for f in text.split("\x01")[:-1])]
        got_map = dict(got)
        want = [(t, v) for t, v in _fields(rest)]
        more_allowed = ("...", "") in want
        want_map = {int(t): v for t, v in want if t != "..."}
        if want_map.get(35) == "A":
            want_map = {**dict(self.session.logon_extra), **want_map}
        problems = []
        if got_map.get(8) != self.session.begin_string:
            problems.append(f"8: wanted {self.session.begin_string!r} got {got_map.get(8)!r}")
        for tag, value in want_map.items():
            if tag not in got_map:
                problems.append(f"{tag}: missing (wanted {value!r})")
            elif not self._matches(value, got_map[tag]):
                problems.append(f"{tag}: wanted {value!r} got {got_map[tag]!r}")
        for tag in got_map.keys() - want_map.keys() - {8, 9, 10}:
            if tag in HEADER_TAGS or not more_allowed:
                problems.append(f"{tag}={got_map[tag]!r}: not expected")
        self._last = got_map
        if problems:
            raise CaseFailed("; ".join(problems))

    def _matches(self, want: str, got: str) -> bool:
        if want == "<ANY>":
            return got != ""
        if want == "<TIME>":
            match = _TIMESTAMP.match(got)
            if match is None or len(match.group(3) or "") != self.session.precision:
                return False
            then = time.mktime(time.strptime(match.group(1), "%Y%m%d-%H:%M:%S"))
            return abs(then - time.mktime(time.gmtime())) < 60
        return self._sub(want) == got

    def _expect_disconnect(self) -> None:
        try:
            data = self._next_message(self.timeout)
        except ConnectionError:
            self.close()
            return
        if data is None:
            raise CaseFailed(f"the venue kept the connection open for {self.timeout}s")
        raise CaseFailed("expected a disconnect, got " + data.decode().replace("\x01", "|"))

    def _expect_nothing(self, seconds: float) -> None:
        try:
            data = self._next_message(seconds)
        except ConnectionError:
            raise CaseFailed("the venue closed the connection") from None
        if data is not None:
            raise CaseFailed("expected nothing, got " + data.decode().replace("\x01", "|"))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def load_cases(root: Path) -> list[tuple[str, Path]]:
    """(directory name, file) of every *.case under root: the directory names the sessions
    that play it (see test_session_layer.SESSIONS)."""
    return sorted((p.parent.name, p) for p in root.glob("*/*.case"))
