"""The front door: the public listener in front of QuickFIX's acceptor.

QuickFIX C++ drops a connection whose Logon names a CompID it does not serve, without a
word (it has no catch-all session). A venue must say why instead. So clients connect here:
the gatekeeper peeks at the first message (MSG_PEEK: the bytes stay in the socket),
answers a Logon QuickFIX would drop with a Logout whose Text says why, and hands every
other connection to QuickFIX, which then reads the Logon itself.

The hand-over costs nothing per message afterwards: the gatekeeper opens a connection to
QuickFIX's own listener, finds the socket QuickFIX accepted for it, and puts the client's
socket in its place with dup2. QuickFIX keeps reading and writing the same file descriptor
number, which now is the client's connection. Linux only (/proc/self/fd).

QuickFIX's own listener is private (take_over_listener): QuickFIX 1.16 binds its TCP port
on every interface, so at start its listening socket is replaced (dup2 again) by a Unix
socket in the data directory, which only the venue's own user can reach; the TCP port is
shut. Nothing but the gatekeeper's hand-overs and the venue's internal stopper session
ever reaches QuickFIX.

What the gatekeeper reads is only ever the first message, cut at its declared BodyLength
and checked as QuickFIX would check it (BeginString, BodyLength, MsgType third, CheckSum);
a first message that fails is garbled and the connection is closed without an answer.

The hop (setting `fix_hop`, on by default): instead of the dup2, the gatekeeper keeps the
client's socket and the Unix-socket connection it opened to QuickFIX, and one thread (Hop)
relays both ways for every connection. Inbound it frames the stream as QuickFIX would
(8=, 9=, 10=) and drops, with a log line saying why, what QuickFIX would take as garbled
or write into its message log as a forged line: a message whose declared body runs into
the next `8=FIX` (QuickFIX would wait for the declared bytes and swallow the next message
with it), a BodyLength that does not end where CheckSum(10) starts, a wrong CheckSum,
MsgType not third, a raw CR or LF. The next message goes on at once; QuickFIX then sees a
sequence gap and asks for a resend, the standard recovery. Outbound it copies bytes as
they come and holds what the client does not read, up to `send_buffer` bytes per
connection: past that the client is a slow consumer and is disconnected (both sides
closed: QuickFIX sees the disconnect). The cost is one more copy of every message, on one
Python thread: see the README's figures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger("venue.fix.gatekeeper")

MAX_LOGON_BYTES = 16384  # a first message longer than this is not a Logon: hang up
MAX_HELD = 1024  # refusals held back for their delay at once; past it, answered at once
# BodyLength may carry leading zeros (9=0000073 is legal FIX; jspurefix sends it).
_HEADER = re.compile(rb"8=([^\x01]{1,16})\x019=(\d{1,10})\x01")
_HEADER_START = re.compile(rb"(8(=([^\x01]{0,16}(\x01(9(=\d{0,10})?)?)?)?)?)?")  # of _HEADER
_TRAILER = re.compile(rb"10=(\d{3})\x01")
# A CompID the gatekeeper may echo back as TargetCompID: printable ASCII, no SOH, bounded.
_COMP_ID = re.compile(r"[\x21-\x7e]{1,64}")


@dataclass(frozen=True)
class Refusal:
    """Why a connection is refused: the Text of its Logout. A refusal that is not final
    (a session still logged on from a connection that is just closing) is checked again
    for up to `settle` seconds before it is sent."""

    text: str
    final: bool = True
    silent: bool = False  # close without an answer: nothing sane can be said
    delay: float = 0.0  # answer only after this many seconds (a guesser that is shut out)


# fields of the first message and the peer's address -> None to hand the connection to
# QuickFIX, or why not
Check = Callable[[dict[str, str], str], Refusal | None]


def first_message(data: bytes) -> bytes | None:
    """The first complete FIX message in data, or None if more bytes are needed.

    Raises ValueError when data cannot be the start of a FIX message, or when its first
    message is garbled: its BodyLength does not end where CheckSum(10) starts, MsgType(35)
    is not its third field, or its CheckSum is wrong (QuickFIX drops such a message; the
    gatekeeper never reads a field beyond the declared body).
    """
    match = _HEADER.match(data)
    if match is None:
        if _HEADER_START.fullmatch(data) is None:
            raise ValueError("not FIX: no BeginString(8) and BodyLength(9) at the start")
        return None
    body_end = match.end() + int(match.group(2))
    end = body_end + 7  # "10=nnn\x01"
    if end > MAX_LOGON_BYTES:
        raise ValueError("first message too long for a Logon")
    if len(data) < end:
        return None
    trailer = _TRAILER.fullmatch(data, body_end, end)
    if trailer is None or body_end == match.end() or data[body_end - 1] != 1:
        raise ValueError("garbled: BodyLength(9) does not end where CheckSum(10) starts")
    if not data.startswith(b"35=", match.end()):
        raise ValueError("garbled: MsgType(35) is not the third field")
    if int(trailer.group(1)) != sum(data[:body_end]) % 256:
        raise ValueError("garbled: wrong CheckSum(10)")
    return data[:end]


MAX_RELAYED_BYTES = 8 << 20  # a declared BodyLength past this is garbled, not waited for
_NEXT = b"\x018=FIX"  # where the next message starts (after its predecessor's SOH)


def next_message(data: bytes | bytearray, pos: int = 0) -> tuple[int, str | None] | None:
    """Frame the inbound stream at data[pos:]: (end, None) for a sound message
    data[pos:end]; (end, why) for bytes to drop (a garbled message, or junk before the next
    `8=FIX`); None when more bytes are needed to tell. What QuickFIX's parser would accept
    passes; what it would drop as garbled, or what would forge a line in its message log,
    does not."""
    size = len(data)
    if not data.startswith(b"8=", pos):
        start = data.find(b"8=FIX", pos)
        if start == -1:  # keep a tail that may be the start of "8=FIX"
            start = max(pos, size - 4)
            while start < size and not b"8=FIX".startswith(bytes(data[start:size])):
                start += 1
            if start == pos:
                return None
        return start, "not FIX: bytes before BeginString(8)"
    match = _HEADER.match(data, pos)
    if match is None:
        if _HEADER_START.fullmatch(data, pos) is not None:
            return None
        following = data.find(_NEXT, pos)
        return (following + 1 if following != -1 else pos + 2), "garbled: no BodyLength(9)"
    body_start = match.end()
    declared = int(match.group(2))
    if declared > MAX_RELAYED_BYTES:
        return body_start, f"garbled: BodyLength(9)={declared} is past {MAX_RELAYED_BYTES}"
    body_end = body_start + declared
    end = body_end + 7  # "10=nnn\x01"
    # The next message starting before this one's declared end: the length is wrong, and
    # QuickFIX would read the next message as part of this one.
    following = data.find(_NEXT, body_start - 1, min(size, end + 4))
    if following != -1:
        return following + 1, (
            f"garbled: BodyLength(9)={declared} runs into the next message "
            f"({following + 1 - body_start} bytes of body)"
        )
    if size < end:
        return None
    if (
        _TRAILER.fullmatch(data, body_end, end) is None
        or body_end == body_start
        or data[body_end - 1] != 1
    ):
        return end, "garbled: BodyLength(9) does not end where CheckSum(10) starts"
    if not data.startswith(b"35=", body_start):
        return end, "garbled: MsgType(35) is not the third field"
    if int(data[end - 4 : end - 1]) != sum(memoryview(data)[pos:body_end]) % 256:
        return end, "garbled: wrong CheckSum(10)"
    if data.find(b"\n", pos, end) != -1 or data.find(b"\r", pos, end) != -1:
        return end, "a raw CR or LF in the message (it would forge a line in the message log)"
    return end, None


def logout(begin_string: str, sender: str, target: str, text: str) -> bytes:
    """A Logout from `sender` (the venue) to `target` (MsgSeqNum 1: there is no session)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")
    clean = text.replace("\x01", " ")
    body = (f"35=5\x0149={sender}\x0156={target}\x0134=1\x0152={stamp}\x0158={clean}\x01").encode()
    head = b"8=%s\x019=%d\x01" % (begin_string.encode(), len(body))
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


def echoable(comp_id: str) -> bool:
    """Whether a CompID a client sent can be written back as a TargetCompID."""
    return _COMP_ID.fullmatch(comp_id) is not None


class Gatekeeper:
    """Listens on (host, port); hands accepted connections to QuickFIX's private listener
    at the Unix socket path `backend` (see take_over_listener).

    check: called on the gatekeeper's thread with the first message's fields and the peer's
    address; returns None to let the connection through or the Refusal that its Logout
    carries. The Logout comes from `comp_id` (the venue's CompID).
    """

    def __init__(
        self,
        host: str,
        port: int,
        backend: str,
        check: Check,
        logon_timeout: float = 10.0,
        settle: float = 1.0,
        *,
        comp_id: str = "VENUE",
        hop: bool = True,
        send_buffer: int = 16 << 20,
    ) -> None:
        self._backend = backend
        self._hop_on = hop
        self._send_buffer = send_buffer
        self._hop: Hop | None = None
        self._comp_id = comp_id
        self._check = check
        self._logon_timeout = logon_timeout
        self._settle = settle
        self.address: tuple[str, int] = (host, port)
        self._waiting: dict[socket.socket, float] = {}  # connection -> when it came
        # Of those, the ones read again on a short tick rather than when readable: part of a
        # message in (it stays readable: the selector would spin), or a refusal that may clear.
        self._polled: set[socket.socket] = set()
        self._patience: dict[socket.socket, float] = {}  # until when a refusal may clear
        # refused connections whose Logout is held back: connection -> (when, the Logout)
        self._held: dict[socket.socket, tuple[float, bytes]] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._listener: socket.socket | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="fix-gatekeeper", daemon=True)

    def start(self) -> None:
        """Listen (binds here, so a port in use fails the start) and serve on a thread."""
        self._listener = socket.create_server(self.address, backlog=128)
        self._listener.setblocking(False)
        self.address = self._listener.getsockname()[:2]
        self._selector.register(self._listener, selectors.EVENT_READ)
        if self._hop_on:
            self._hop = Hop(self._send_buffer)
        self._thread.start()

    @property
    def relayed(self) -> int:
        """Connections the hop relays now (0 without the hop)."""
        return self._hop.connections if self._hop is not None else 0

    def close(self) -> None:
        """stop(), and close the connections the hop relays (QuickFIX sees them go)."""
        self.stop()
        if self._hop is not None:
            self._hop.close()

    def stop(self) -> None:
        """Stop listening; connections not yet handed over are closed (the hop keeps
        relaying those handed over until close()). Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        for connection in [*self._waiting, *self._held]:
            connection.close()
        self._waiting.clear()
        self._held.clear()
        self._selector.close()
        if self._listener is not None:
            self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the loop (gatekeeper thread) -----------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            timeout = 0.01 if self._polled else 0.5
            if self._held:
                due = min(when for when, _ in self._held.values())
                timeout = min(timeout, max(0.0, due - time.monotonic()))
            for key, _ in self._selector.select(timeout):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    return
                else:
                    self._serve(key.fileobj)  # type: ignore[arg-type]
            for connection in list(self._polled):
                self._serve(connection)
            self._expire()
            self._answer_held()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: keep listening
                log.warning("accept failed: %s", exc)
                return
            connection.setblocking(False)
            self._waiting[connection] = time.monotonic()
            self._selector.register(connection, selectors.EVENT_READ)

    def _serve(self, connection: socket.socket) -> None:
        """_read, where a fault closes this connection only (the thread serves them all)."""
        try:
            self._read(connection)
        except Exception:
            log.exception("connection from %s failed in the gatekeeper; closed", _peer(connection))
            self._waiting.pop(connection, None)
            self._patience.pop(connection, None)
            self._polled.discard(connection)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(connection)
            with contextlib.suppress(OSError):
                connection.recv(MAX_LOGON_BYTES)  # so closing sends FIN, not RST
            connection.close()

    def _read(self, connection: socket.socket) -> None:
        if connection not in self._waiting:
            return
        try:
            data = connection.recv(MAX_LOGON_BYTES, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            self._drop(connection)
            return
        if not data:  # closed before sending a message
            self._drop(connection)
            return
        try:
            message = first_message(data)
        except ValueError as exc:
            log.warning("connection from %s dropped: %s", _peer(connection), exc)
            self._drop(connection)
            return
        if message is None:
            self._poll(connection)
            return
        self._decide(connection, message)

    def _poll(self, connection: socket.socket) -> None:
        if connection not in self._polled:
            self._polled.add(connection)
            self._selector.unregister(connection)

    def _decide(self, connection: socket.socket, message: bytes) -> None:
        fields = _fields(message)
        try:
            refusal = self._check(fields, _peer(connection).rpartition(":")[0])
        except Exception:
            log.exception("logon check failed")
            refusal = Refusal("logon could not be checked")
        if refusal is not None and not refusal.final:
            until = self._patience.setdefault(connection, time.monotonic() + self._settle)
            if time.monotonic() < until:
                self._poll(connection)
                return
        if refusal is not None:
            log.warning("logon from %s refused: %s", _peer(connection), refusal.text)
            target = fields.get("49", "")
            if refusal.silent or not echoable(target):
                self._drop(connection)
                return
            self._forget(connection)
            answer = logout(fields.get("8", ""), self._comp_id, target, refusal.text)
            if refusal.delay > 0 and len(self._held) < MAX_HELD:
                with contextlib.suppress(OSError):
                    connection.recv(MAX_LOGON_BYTES)
                self._held[connection] = (time.monotonic() + refusal.delay, answer)
                return
            _answer(connection, answer)
            return
        self._forget(connection)
        # QuickFIX's own log shows no useful peer for it (it accepted a Unix socket)
        log.info("logon of %s from %s handed to QuickFIX", fields.get("49"), _peer(connection))
        try:
            if self._hop is not None:
                self._relay(connection, f"{fields.get('49')} from {_peer(connection)}")
            else:
                self._hand_over(connection)
        except OSError as exc:
            log.error("could not hand a connection from %s to QuickFIX: %s", _peer(connection), exc)
            connection.close()

    def _relay(self, client: socket.socket, name: str) -> None:
        """Keep the client's socket, and relay it to a connection of ours to QuickFIX."""
        assert self._hop is not None
        backend = connect_backend(self._backend)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._hop.add(client, backend, name)

    def _hand_over(self, client: socket.socket) -> None:
        """Make QuickFIX's accepted socket for a connection of ours be the client's."""
        backend = connect_backend(self._backend)
        try:
            target = _peer_fd(backend.getsockname(), deadline=5.0)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setblocking(True)  # QuickFIX expects a blocking socket, as it accepted it
            os.dup2(client.fileno(), target, inheritable=False)
        finally:
            client.close()
            # Closing our end wakes QuickFIX's select; it then reads the Logon from the
            # client, through the same descriptor number.
            backend.close()

    def _expire(self) -> None:
        now = time.monotonic()
        for connection, since in list(self._waiting.items()):
            if now - since > self._logon_timeout:
                log.warning("no Logon from %s within %ss", _peer(connection), self._logon_timeout)
                self._drop(connection)

    def _answer_held(self) -> None:
        now = time.monotonic()
        for connection, (when, answer) in list(self._held.items()):
            if when <= now:
                del self._held[connection]
                _answer(connection, answer)

    def _forget(self, connection: socket.socket) -> None:
        self._waiting.pop(connection, None)
        self._patience.pop(connection, None)
        if connection in self._polled:
            self._polled.discard(connection)
        else:
            self._selector.unregister(connection)

    def _drop(self, connection: socket.socket) -> None:
        self._forget(connection)
        with contextlib.suppress(OSError):
            connection.recv(MAX_LOGON_BYTES)  # what it sent, so closing sends FIN, not RST
        connection.close()


class _Relay:
    """One client connection and its connection to QuickFIX, as the hop holds them."""

    __slots__ = ("client", "backend", "name", "inbound", "to_quickfix", "to_client",
                 "watching", "closing_until", "logon_passed", "held")  # fmt: skip

    def __init__(self, client: socket.socket, backend: socket.socket, name: str) -> None:
        self.client = client
        self.backend = backend
        self.name = name  # "CLIENT1 from 127.0.0.1:50312", for the log
        self.inbound = bytearray()  # from the client, not framed yet
        self.to_quickfix = bytearray()  # framed, not yet taken by QuickFIX
        self.to_client = bytearray()  # from QuickFIX, not yet taken by the client
        self.watching: dict[socket.socket, int] = {}  # socket -> selector events
        self.closing_until = 0.0  # QuickFIX has closed: deliver to_client until then
        # What follows the Logon waits in `held` until QuickFIX answers it: QuickFIX reads
        # a message that came in the same read as the Logon only when more bytes arrive.
        self.logon_passed = False
        self.held: bytearray | None = None


DRAIN_SECONDS = 2.0  # after QuickFIX closes, how long its last messages may take to leave
_CHUNK = 262144


class Hop:
    """Relays every handed-over connection on one thread (see the module's docstring).

    send_buffer: bytes from QuickFIX held for a client that does not read them; past it
    the connection is closed as a slow consumer.
    """

    def __init__(self, send_buffer: int = 16 << 20) -> None:
        self._send_buffer = send_buffer
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._added: list[_Relay] = []  # handed over by the gatekeeper's thread
        self._lock = threading.Lock()
        self._relays: set[_Relay] = set()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="fix-hop", daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        return len(self._relays)

    def add(self, client: socket.socket, backend: socket.socket, name: str) -> None:
        """Relay between client (its Logon still unread) and backend (to QuickFIX)."""
        client.setblocking(False)
        backend.setblocking(False)
        with self._lock:
            self._added.append(_Relay(client, backend, name))
        self._wake()

    def close(self) -> None:
        """Close every relayed connection and stop. Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(5)
        for relay in list(self._relays):
            self._close(relay)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- the loop (hop thread) ------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing:
            draining = any(r.closing_until for r in self._relays)
            for key, events in self._selector.select(0.1 if draining else 1.0):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                relay: _Relay = key.data
                if relay not in self._relays:
                    continue  # closed by an earlier event of this round
                try:
                    if key.fileobj is relay.client:
                        self._client_event(relay, events)
                    else:
                        self._backend_event(relay, events)
                except Exception:  # one connection's fault must not stop every other one
                    log.exception("relay of %s failed; closed", relay.name)
                    self._close(relay)
            with self._lock:
                added, self._added = self._added, []
            for relay in added:
                self._relays.add(relay)
                self._watch(relay)
            if draining:
                now = time.monotonic()
                for relay in [r for r in self._relays if 0 < r.closing_until < now]:
                    self._close(relay)

    def _client_event(self, relay: _Relay, events: int) -> None:
        if events & selectors.EVENT_WRITE and not self._send_client(relay):
            return
        if events & selectors.EVENT_READ and not relay.closing_until:
            try:
                data = relay.client.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:  # the client went: QuickFIX sees the disconnect
                self._close(relay)
                return
            relay.inbound += data
            self._frame(relay)
            if not self._send_quickfix(relay):
                return  # QuickFIX's end is gone (EPIPE): the relay is closed
        self._watch(relay)

    def _backend_event(self, relay: _Relay, events: int) -> None:
        if events & selectors.EVENT_WRITE and not self._send_quickfix(relay):
            return
        if events & selectors.EVENT_READ:
            try:
                data = relay.backend.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:  # QuickFIX closed (after a Logout, say): deliver what is left
                if not relay.to_client:
                    self._close(relay)
                    return
                relay.closing_until = time.monotonic() + DRAIN_SECONDS
                relay.to_quickfix.clear()
                if relay.watching.pop(relay.backend, 0):
                    self._selector.unregister(relay.backend)
                relay.backend.close()
            else:
                relay.to_client += data
                if relay.held is not None:  # QuickFIX answered the Logon
                    relay.to_quickfix += relay.held
                    relay.held = None
                    if not self._send_quickfix(relay):
                        return
            if not self._send_client(relay):
                return
            if len(relay.to_client) > self._send_buffer:
                log.warning(
                    "slow consumer %s: %d bytes unread, past fix_send_buffer_mb; disconnected",
                    relay.name,
                    len(relay.to_client),
                )
                self._close(relay)
                return
        self._watch(relay)

    def _frame(self, relay: _Relay) -> None:
        data, pos = relay.inbound, 0
        while (cut := next_message(data, pos)) is not None:
            end, why = cut
            if why is None and relay.held is not None:
                relay.held += memoryview(data)[pos:end]
            elif why is None:
                relay.to_quickfix += memoryview(data)[pos:end]
                if not relay.logon_passed:
                    relay.logon_passed = True
                    relay.held = bytearray()
            else:
                log.warning(
                    "dropped %d bytes from %s: %s: %r", end - pos, relay.name, why,
                    bytes(data[pos : min(end, pos + 120)]),
                )  # fmt: skip
            pos = end
        del data[:pos]

    def _send_quickfix(self, relay: _Relay) -> bool:
        """Pass framed messages on; False if the relay had to be closed."""
        if relay.to_quickfix:
            try:
                sent = relay.backend.send(relay.to_quickfix)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                self._close(relay)
                return False
            del relay.to_quickfix[:sent]
        return True

    def _send_client(self, relay: _Relay) -> bool:
        if relay.to_client:
            try:
                sent = relay.client.send(relay.to_client)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                self._close(relay)
                return False
            del relay.to_client[:sent]
        if relay.closing_until and not relay.to_client:
            self._close(relay)
            return False
        return True

    def _watch(self, relay: _Relay) -> None:
        """Select what each side can use now: the client is read only while QuickFIX keeps
        up with what it sent (else it would be held here), written while bytes wait."""
        client = selectors.EVENT_WRITE if relay.to_client else 0
        backend = selectors.EVENT_WRITE if relay.to_quickfix else 0
        held = len(relay.held) if relay.held is not None else 0
        if not relay.to_quickfix and not relay.closing_until and held < _CHUNK:
            client |= selectors.EVENT_READ
        if not relay.closing_until:
            backend |= selectors.EVENT_READ
        for sock, events in ((relay.client, client), (relay.backend, backend)):
            now = relay.watching.get(sock, 0)
            if events == now:
                continue
            if not events:
                self._selector.unregister(sock)
                del relay.watching[sock]
            elif not now:
                self._selector.register(sock, events, relay)
                relay.watching[sock] = events
            else:
                self._selector.modify(sock, events, relay)
                relay.watching[sock] = events

    def _close(self, relay: _Relay) -> None:
        self._relays.discard(relay)
        for sock in (relay.client, relay.backend):
            if sock in relay.watching:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.close()
        relay.watching.clear()


def _answer(connection: socket.socket, answer: bytes) -> None:
    """Send a refusal's Logout and close (its Logon read first: closing unread data would
    send a reset, which can destroy the Logout in flight)."""
    with contextlib.suppress(OSError):  # (BlockingIOError: read already)
        connection.recv(MAX_LOGON_BYTES)
    try:
        connection.settimeout(1.0)
        connection.sendall(answer)
        connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    connection.close()


def spare_port() -> int:
    """A TCP port free on every interface now (QuickFIX binds 0.0.0.0 and takes no 0)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
        return port


def _fields(message: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in message.decode("latin-1").split("\x01"):
        tag, sep, value = part.partition("=")
        if sep and tag not in fields:
            fields[tag] = value
    return fields


def _peer(connection: socket.socket) -> str:
    try:
        host, port = connection.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"


def connect_backend(path: str, timeout: float = 5.0) -> socket.socket:
    """A connection to QuickFIX's private listener, from a Unix socket with its own
    (autobound, abstract) name, by which _peer_fd finds the socket QuickFIX accepted."""
    backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        backend.bind("")  # autobind: the kernel picks a unique abstract name
        backend.settimeout(timeout)
        backend.connect(path)
    except OSError:
        backend.close()
        raise
    return backend


def take_over_listener(tcp_port: int, path: str) -> None:
    """Replace QuickFIX's listening TCP socket on tcp_port with a Unix socket at `path`.

    QuickFIX 1.16 binds its acceptor port on every interface (it has no bind-address
    setting) and serves whoever connects: a local user could log on there directly, past
    the gatekeeper's checks. So its listening descriptor becomes, by dup2, a Unix socket
    in the data directory (mode 0600 in a directory only the venue's user can enter), and
    the TCP listener is shut down: QuickFIX keeps accepting on the same descriptor number,
    and only this process (the gatekeeper, the stopper) can connect. The Unix listener is
    non-blocking, so a wake-up with nothing to accept costs QuickFIX nothing (accepted
    sockets do not inherit that flag on Linux). QuickFIX uses poll(2) on the descriptor
    number, so the swap needs no help from it.
    """
    fd = _listening_fd(tcp_port)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    private = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        private.bind(path)
        os.chmod(path, 0o600)
        private.listen(128)
        private.setblocking(False)
        old = socket.socket(fileno=os.dup(fd))
        os.dup2(private.fileno(), fd, inheritable=False)
    finally:
        private.close()  # fd now holds it
    try:
        # QuickFIX's poll may be asleep on the TCP listener still, and a wake-up there makes
        # it look at the descriptor again, now the Unix listener: so have a connection wait
        # on that one first, then wake the poll. Once QuickFIX has accepted it, it polls the
        # Unix listener (else the first hand-over would wait for the poll's 1 s timeout).
        prime = connect_backend(path)
        try:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
            with contextlib.suppress(OSError):
                _peer_fd(prime.getsockname(), deadline=2.0)
        finally:
            prime.close()  # QuickFIX reads end of stream and closes its side
        with contextlib.suppress(OSError):
            old.shutdown(socket.SHUT_RDWR)
    finally:
        old.close()
    # A connection QuickFIX accepted on the TCP port before it was shut (a window of
    # microseconds at start) is cut before it can log on.
    for _, probe in _sockets():
        with contextlib.suppress(OSError):
            if (
                probe.family in (socket.AF_INET, socket.AF_INET6)
                and probe.getsockname()[1] == tcp_port
                and not probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            ):
                probe.shutdown(socket.SHUT_RDWR)


def _sockets() -> Iterator[tuple[int, socket.socket]]:
    """(descriptor, a duplicate of it) for every socket this process has open; the caller
    must not keep the duplicate (it is closed when the iteration moves on)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            yield fd, probe
        finally:
            probe.close()


def _listening_fd(tcp_port: int) -> int:
    for fd, probe in _sockets():
        with contextlib.suppress(OSError):
            if (
                probe.family in (socket.AF_INET, socket.AF_INET6)
                and probe.type == socket.SOCK_STREAM
                and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                and probe.getsockname()[1] == tcp_port
            ):
                return fd
    raise OSError(f"QuickFIX is not listening on port {tcp_port}")


def _peer_fd(local: bytes | str, deadline: float) -> int:
    """The descriptor of the Unix socket this process accepted from the one named `local`."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        for fd, probe in _sockets():
            with contextlib.suppress(OSError):
                if probe.family == socket.AF_UNIX and probe.getpeername() == local:
                    return fd
        time.sleep(0.001)
    raise OSError(f"QuickFIX did not accept the hand-over connection from {local!r}")
