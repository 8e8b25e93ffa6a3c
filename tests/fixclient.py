"""A small blocking FIX client for tests, built on simplefix.

    client = FixClient.connect(port, sender="CLIENT1")        # Logon (141=Y by default)
    client.new_order("o1", "AAPL", "1", 100, price="190.01")
    ack = client.expect("8", ExecType="0", OrdStatus="0")      # names or {tag: value}
    client.logout()

Messages come back as {tag: value} with int tags and str values. The client answers
TestRequest with Heartbeat, asks for a resend when the venue's sequence numbers jump
ahead, follows SequenceReset, and gap-fills the venue's ResendRequests. A wait that times
out fails with everything received so far.

FIX 5.0 SP2 over FIXT 1.1: begin_string="FIXT.1.1"; the Logon then carries
DefaultApplVerID(1137)=default_appl_ver_id ("9", FIX.5.0SP2, unless set to another or None).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Mapping

import simplefix

Fields = Iterable[tuple[int, str]] | Mapping[int, str]
Message = dict[int, str]

# Names accepted by expect() and the **extra arguments of the order helpers.
TAGS: dict[str, int] = {
    "Account": 1, "AvgPx": 6, "BeginSeqNo": 7, "BeginString": 8, "ClOrdID": 11, "CumQty": 14,
    "ExecID": 17, "ExecInst": 18, "ExecTransType": 20, "HandlInst": 21, "LastPx": 31,
    "LastQty": 32, "LastShares": 32, "MsgSeqNum": 34, "MsgType": 35, "NewSeqNo": 36,
    "OrderID": 37, "OrderQty": 38, "OrdStatus": 39, "OrdType": 40, "OrigClOrdID": 41,
    "PossDupFlag": 43, "Price": 44, "RefSeqNum": 45, "SenderCompID": 49, "SendingTime": 52,
    "Side": 54, "Symbol": 55, "TargetCompID": 56, "Text": 58, "TimeInForce": 59,
    "TransactTime": 60, "StopPx": 99, "CxlRejReason": 102, "OrdRejReason": 103,
    "HeartBtInt": 108, "MinQty": 110, "MaxFloor": 111, "TestReqID": 112, "OnBehalfOfCompID": 115,
    "OrigSendingTime": 122, "GapFillFlag": 123, "ExpireTime": 126, "ResetSeqNumFlag": 141,
    "ExecType": 150, "LeavesQty": 151, "RefTagID": 371, "RefMsgType": 372,
    "SessionRejectReason": 373, "BusinessRejectRefID": 379, "BusinessRejectReason": 380,
    "ExpireDate": 432, "CxlRejResponseTo": 434, "CopyMsgIndicator": 797,
    "LastLiquidityInd": 851,
    "ApplVerID": 1128, "DefaultApplVerID": 1137, "MassActionReportID": 1369,
}  # fmt: skip

_MSG_NAMES = {
    "0": "Heartbeat", "1": "TestRequest", "2": "ResendRequest", "3": "Reject",
    "4": "SequenceReset", "5": "Logout", "8": "ExecutionReport", "9": "OrderCancelReject",
    "A": "Logon", "D": "NewOrderSingle", "F": "OrderCancelRequest",
    "G": "OrderCancelReplaceRequest", "H": "OrderStatusRequest", "j": "BusinessMessageReject",
}  # fmt: skip


def describe(msg: Message) -> str:
    """One readable line: "ExecutionReport 34=2 | 37=1 | 150=0 | ..." (header noise left out)."""
    name = _MSG_NAMES.get(msg.get(35, ""), msg.get(35, "?"))
    skip = {8, 9, 10, 35, 49, 56, 52}
    return name + " " + " | ".join(f"{t}={v}" for t, v in msg.items() if t not in skip)


def _tag_values(tags: Mapping[int, str] | None, named: Mapping[str, str]) -> dict[int, str]:
    out = dict(tags or {})
    for name, value in named.items():
        if name not in TAGS:
            raise ValueError(f"unknown tag name {name!r}; pass {{tag: value}} instead")
        out[TAGS[name]] = value
    return out


def _check_framing(raw: simplefix.FixMessage) -> None:
    """BodyLength(9) and CheckSum(10) must match the bytes as received."""
    data = raw.encode(raw=True)
    length_end = data.index(b"\x01", data.index(b"\x019=") + 1) + 1
    checksum_at = data.rindex(b"10=")
    body_length = int(raw.get(9))
    checksum = int(raw.get(10))
    if body_length != checksum_at - length_end or checksum != sum(data[:checksum_at]) % 256:
        raise AssertionError(f"bad BodyLength or CheckSum in {data!r}")


class FixTimeout(AssertionError):
    """A wait ended without the expected message. The text lists what was received."""


class FixClient:
    def __init__(
        self,
        port: int,
        sender: str,
        begin_string: str,
        target: str,
        heartbeat: int,
        host: str = "127.0.0.1",
    ) -> None:
        self.port = port
        self.host = host
        self.sender = sender
        self.target = target
        self.begin_string = begin_string
        self.heartbeat = heartbeat
        # FIXT.1.1 only: DefaultApplVerID(1137) of the Logon (9 = FIX.5.0SP2; None: left out)
        self.default_appl_ver_id: str | None = "9" if begin_string == "FIXT.1.1" else None
        self.next_out = 1  # our next MsgSeqNum
        self.next_in = 1  # the venue's next MsgSeqNum we expect
        self.received: list[Message] = []  # everything, in arrival order
        self._sock: socket.socket | None = None
        self._parser = simplefix.FixParser()
        self._ready: list[Message] = []
        self._resend_until = 0  # a ResendRequest is open until next_in passes this
        self._last_send = time.monotonic()
        self.logged_on = False
        self._logging_out = False
        self._syncs = 0  # TestRequests sent by sync()

    # -- connection -------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        port: int,
        sender: str = "CLIENT1",
        begin_string: str = "FIX.4.4",
        target: str = "VENUE",
        reset: bool = True,
        heartbeat: int = 30,
        host: str = "127.0.0.1",
        timeout: float = 10.0,
    ) -> FixClient:
        """Open a TCP connection and log on; returns once the venue's Logon arrives."""
        client = cls(port, sender, begin_string, target, heartbeat, host)
        client.reconnect(reset=reset, timeout=timeout)
        return client

    def reconnect(self, reset: bool = False, timeout: float = 10.0) -> Message:
        """New TCP connection and Logon. reset=False keeps both sequence numbers."""
        self.close()
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._parser = simplefix.FixParser()
        if reset:
            self.next_out = self.next_in = 1
        fields: list[tuple[int, str]] = [(98, "0"), (108, str(self.heartbeat))]
        if reset:
            fields.append((141, "Y"))
        if self.default_appl_ver_id is not None:
            fields.append((1137, self.default_appl_ver_id))
        self.send("A", fields)
        logon = self.wait_for(lambda m: m.get(35) in ("A", "5"), timeout, "Logon")
        if logon[35] == "5":
            raise ConnectionError(f"{self.sender}: logon refused: {describe(logon)}")
        self.logged_on = True
        return logon

    def logout(self, timeout: float = 10.0) -> Message | None:
        """Send Logout, wait for the venue's Logout, close the socket (sequence numbers kept)."""
        answer = None
        if self._sock is not None:
            self._logging_out = True
            self.send("5", [])
            with contextlib.suppress(FixTimeout, ConnectionError):
                answer = self.wait_for(lambda m: m.get(35) == "5", timeout, "Logout")
        self.close()
        return answer

    def close(self) -> None:
        """Drop the TCP connection without a Logout (sequence numbers kept)."""
        self.logged_on = False
        self._logging_out = False
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    # -- sending ----------------------------------------------------------------------------

    def send(
        self,
        msg_type: str,
        fields: Fields = (),
        *,
        seq: int | None = None,
        poss_dup: bool = False,
    ) -> int:
        """Send one message with a full header; returns its MsgSeqNum.

        seq=None takes the next number; an explicit seq (a resend) leaves the counter alone.
        """
        msg = simplefix.FixMessage()
        number = self.next_out if seq is None else seq
        msg.append_pair(8, self.begin_string, header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, self.sender, header=True)
        msg.append_pair(56, self.target, header=True)
        msg.append_pair(34, str(number), header=True)
        if poss_dup:
            msg.append_pair(43, "Y", header=True)
        now = time.time()  # one instant: OrigSendingTime must not be later than SendingTime
        msg.append_utc_timestamp(52, now, precision=3, header=True)
        if poss_dup:
            msg.append_utc_timestamp(122, now, precision=3, header=True)
        items = fields.items() if isinstance(fields, Mapping) else fields
        for tag, value in items:
            msg.append_pair(tag, value)
        self.send_raw(msg.encode())
        if seq is None:
            self.next_out = number + 1
        return number

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (no header, no sequence number): for malformed input."""
        if self._sock is None:
            raise ConnectionError(f"{self.sender}: not connected")
        self._sock.sendall(data)
        self._last_send = time.monotonic()

    def utc_now(self) -> str:
        """SendingTime/TransactTime text for now (milliseconds)."""
        return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()) + ".000"

    def _terms(self, **extra: str | None) -> list[tuple[int, str]]:
        out = []
        for name, value in extra.items():
            if value is None:
                continue
            if name not in TAGS:
                raise ValueError(f"unknown tag name {name!r}")
            out.append((TAGS[name], str(value)))
        return out

    def new_order(
        self,
        cl_ord_id: str,
        symbol: str,
        side: str,
        qty: int | str | None,
        price: str | None = None,
        ord_type: str = "2",
        tif: str | None = "0",
        **extra: str | None,
    ) -> int:
        """NewOrderSingle (D). None leaves a field out; extra fields by name (Account="A1")."""
        fields = [(11, cl_ord_id), (55, symbol), (54, side), (60, self.utc_now()), (40, ord_type)]
        if self.begin_string == "FIX.4.2":
            fields.append((21, "1"))  # HandlInst is required in 4.2
        if qty is not None:
            fields.append((38, str(qty)))
        if price is not None:
            fields.append((44, str(price)))
        if tif is not None:
            fields.append((59, tif))
        return self.send("D", fields + self._terms(**extra))

    def cancel(
        self,
        cl_ord_id: str,
        orig_cl_ord_id: str,
        symbol: str,
        side: str,
        qty: int | str | None = None,
        order_id: str | None = None,
        **extra: str | None,
    ) -> int:
        """OrderCancelRequest (F)."""
        fields = [(11, cl_ord_id), (41, orig_cl_ord_id), (55, symbol), (54, side)]
        fields.append((60, self.utc_now()))
        if qty is not None:
            fields.append((38, str(qty)))
        if order_id is not None:
            fields.append((37, order_id))
        return self.send("F", fields + self._terms(**extra))

    def replace(
        self,
        cl_ord_id: str,
        orig_cl_ord_id: str,
        symbol: str,
        side: str,
        qty: int | str,
        price: str | None = None,
        ord_type: str = "2",
        tif: str | None = "0",
        order_id: str | None = None,
        **extra: str | None,
    ) -> int:
        """OrderCancelReplaceRequest (G)."""
        fields = [(11, cl_ord_id), (41, orig_cl_ord_id), (55, symbol), (54, side)]
        fields += [(60, self.utc_now()), (40, ord_type), (38, str(qty))]
        if self.begin_string == "FIX.4.2":
            fields.append((21, "1"))
        if price is not None:
            fields.append((44, str(price)))
        if tif is not None:
            fields.append((59, tif))
        if order_id is not None:
            fields.append((37, order_id))
        return self.send("G", fields + self._terms(**extra))

    def status(
        self,
        cl_ord_id: str,
        symbol: str,
        side: str,
        order_id: str | None = None,
        **extra: str | None,
    ) -> int:
        """OrderStatusRequest (H)."""
        fields = [(11, cl_ord_id), (55, symbol), (54, side)]
        if order_id is not None:
            fields.append((37, order_id))
        return self.send("H", fields + self._terms(**extra))

    # -- receiving --------------------------------------------------------------------------

    def receive(self, timeout: float = 10.0) -> Message:
        """The next message from the venue (admin messages included)."""
        deadline = time.monotonic() + timeout
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FixTimeout(self._report(f"nothing received within {timeout}s"))
            self._read(remaining)
        return self._ready.pop(0)

    def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 10.0, what: str = ""
    ) -> Message:
        """Receive until a message satisfies predicate; others are skipped (kept in .received)."""
        deadline = time.monotonic() + timeout
        start = len(self.received) - len(self._ready)
        while True:
            remaining = deadline - time.monotonic()
            try:
                msg = self.receive(max(remaining, 0.0))
            except FixTimeout:
                problem = f"timed out after {timeout}s waiting for {what or predicate}"
                raise FixTimeout(self._report(problem, self.received[start:])) from None
            if predicate(msg):
                return msg

    def expect(
        self,
        msg_type: str,
        tags: Mapping[int, str] | None = None,
        timeout: float = 10.0,
        **named: str,
    ) -> Message:
        """The next message of msg_type, which must carry these values (skips other types).

        expect("8", ExecType="F", LastQty="100") or expect("8", {150: "F", 32: "100"}).
        """
        want = _tag_values(tags, named)
        msg = self.wait_for(lambda m: m.get(35) == msg_type, timeout, f"35={msg_type} {want}")
        wrong = {t: (v, msg.get(t)) for t, v in want.items() if msg.get(t) != v}
        if wrong:
            diff = ", ".join(f"{t}: wanted {w!r} got {g!r}" for t, (w, g) in wrong.items())
            raise AssertionError(f"{self.sender}: {diff}\n  in {describe(msg)}")
        return msg

    def sync(self, timeout: float = 10.0) -> list[Message]:
        """Send a TestRequest and read up to the Heartbeat that answers it; returns what came
        before. The venue reads a session's messages in order, so once the answer is in,
        everything sent before the TestRequest has been handed to the venue, and everything
        the venue had queued for this session before it answered has arrived."""
        self._syncs += 1
        test_req_id = f"sync-{self._syncs}"
        self.send("1", [(112, test_req_id)])
        out = []
        while True:
            msg = self.receive(timeout)
            if msg.get(35) == "0" and msg.get(112) == test_req_id:
                return out
            out.append(msg)

    def drain(self, quiet: float = 0.2) -> list[Message]:
        """Everything that arrives until the line is quiet for `quiet` seconds."""
        out = []
        while True:
            try:
                out.append(self.receive(quiet))
            except FixTimeout:
                return out

    # -- internals --------------------------------------------------------------------------

    def _read(self, timeout: float) -> None:
        if self._sock is None:
            raise ConnectionError(self._report("not connected"))
        if self.logged_on and time.monotonic() - self._last_send > self.heartbeat:
            self.send("0", [])
        self._sock.settimeout(min(timeout, 1.0))
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.close()
            raise ConnectionError(self._report("the venue closed the connection"))
        self._parser.append_buffer(data)
        while (raw := self._parser.get_message()) is not None:
            _check_framing(raw)
            msg = {int(t): v.decode() for t, v in raw.pairs}
            self.received.append(msg)
            self._session_duties(msg)
            self._ready.append(msg)

    def _session_duties(self, msg: Message) -> None:
        """What a FIX engine does by itself: heartbeats, gaps, resets."""
        msg_type = msg.get(35)
        seq = int(msg.get(34, "0"))
        if msg_type == "4":  # SequenceReset (gap fill or reset)
            self.next_in = max(self.next_in, int(msg[36]))
        elif seq > self.next_in and msg.get(141) != "Y":
            if self.next_in > self._resend_until:
                self.send("2", [(7, str(self.next_in)), (16, "0")])
                self._resend_until = seq
            if msg_type == "A":
                return  # the venue's Logon is not resent: its number is filled by the resend
        elif seq >= self.next_in or msg.get(141) == "Y":
            self.next_in = seq + 1
        if msg_type == "1":
            self.send("0", [(112, msg.get(112, ""))])
        elif msg_type == "5" and not self._logging_out:  # the venue logs us out: confirm
            self._logging_out = True
            self.send("5", [])
        elif msg_type == "2":  # the venue wants our messages again: gap-fill them all
            begin = int(msg.get(7, "1"))
            self.send("4", [(123, "Y"), (36, str(self.next_out))], seq=begin, poss_dup=True)

    def _report(self, problem: str, seen: list[Message] | None = None) -> str:
        seen = self.received[-20:] if seen is None else seen
        lines = [f"{self.sender}: {problem}; received {len(seen)} message(s):"]
        lines += [f"  {describe(m)}" for m in seen] or ["  (none)"]
        return "\n".join(lines)

    def __enter__(self) -> FixClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "logged on" if self.logged_on else "disconnected"
        return f"FixClient({self.sender}->{self.target} {self.begin_string} {state})"
