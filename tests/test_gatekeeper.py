"""The gatekeeper alone: its reading of a first message, its Logout, and connections that
never send a Logon. (Hand-overs to the real QuickFIX acceptor: test_gateway.py.)"""

from __future__ import annotations

import socket
import time

import pytest

from venue.fix.gatekeeper import Gatekeeper, Refusal, first_message, logout


def framed(body: bytes, begin: bytes = b"FIX.4.4", length: bytes | None = None) -> bytes:
    """A message with the given body; BodyLength as given (default: the right one) and the
    right CheckSum for the bytes as written."""
    head = b"8=%s\x019=%s\x01" % (begin, length if length is not None else b"%d" % len(body))
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


LOGON = framed(b"35=A\x01")
LOGON_X = framed(b"35=A\x0149=X\x0156=VENUE\x01")


def test_first_message_is_cut_at_its_checksum() -> None:
    assert first_message(LOGON + b"8=FIX.4.4\x019=") == LOGON


@pytest.mark.parametrize("cut", [0, 1, 2, 5, 10, 12, 13, len(LOGON) - 1])
def test_first_message_waits_for_the_rest(cut: int) -> None:
    assert first_message(LOGON[:cut]) is None


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n", b"9=5\x018=FIX.4.4\x01", b"8=FIX.4.4\x019=x\x01", b"8=" + b"F" * 60],
    ids=["http", "fields-out-of-order", "length-not-a-number", "begin-string-too-long"],
)
def test_first_message_refuses_what_cannot_be_fix(data: bytes) -> None:
    with pytest.raises(ValueError):
        first_message(data)


def test_first_message_longer_than_a_logon_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        first_message(b"8=FIX.4.4\x019=999999\x01")


@pytest.mark.parametrize("width", [1, 3, 7, 10])
def test_zero_padded_body_length_is_legal(width: int) -> None:
    body = b"35=A\x0149=CLIENT1\x0156=VENUE\x0134=1\x0152=20250101-00:00:00\x0198=0\x01"
    length = b"%0*d" % (width, len(body))  # 9=0000069 with width 7
    message = framed(body, length=length)
    assert first_message(message + b"8=FIX.4.4\x01") == message


@pytest.mark.parametrize(
    "data",
    [
        framed(b"35=A\x0149=VENUE\x0156=X\x01", length=b"12"),  # too short: "49=VE"
        framed(b"35=A\x0149=VENUE\x0156=X\x01", length=b"20"),  # ends inside a field
        framed(b"35=A\x0149=VENUE\x01")[:-4] + b"000\x01",  # wrong CheckSum
        framed(b"49=X\x0135=A\x01"),  # MsgType not third
        b"8=FIX.4.4\x019=0\x0110=000\x01",  # empty body
    ],
    ids=["length-too-short", "length-inside-a-field", "bad-checksum", "msgtype-late", "empty"],
)
def test_garbled_first_message_is_refused_and_nothing_beyond_its_length_is_read(
    data: bytes,
) -> None:
    with pytest.raises(ValueError, match="garbled"):
        first_message(data + b"8=FIX.4.4\x019=5\x01")


def test_logout_comes_from_the_venue_to_the_sender_and_checks_out() -> None:
    text = logout("FIX.4.2", "VENUE", "NOBODY", "unknown\x01CompID")
    fields = dict(f.split("=", 1) for f in text.decode().split("\x01")[:-1])
    assert (fields["8"], fields["35"], fields["49"], fields["56"], fields["34"]) == (
        "FIX.4.2", "5", "VENUE", "NOBODY", "1",
    )  # fmt: skip
    assert fields["58"] == "unknown CompID"  # no SOH inside a value
    body = text[text.index(b"35=") : text.index(b"10=")]
    assert int(fields["9"]) == len(body)
    assert int(fields["10"]) == sum(text[: text.index(b"10=")]) % 256


REFUSAL = Refusal("no")


@pytest.fixture
def gatekeeper(free_port: int, tmp_path):
    keeper = Gatekeeper(
        "127.0.0.1", free_port, str(tmp_path / "none.sock"), lambda *_: REFUSAL, logon_timeout=0.5
    )  # nothing is handed over here
    keeper.start()
    yield keeper
    keeper.close()  # stop, and the hop thread too


def test_connection_that_sends_no_logon_is_closed_after_the_logon_timeout(gatekeeper) -> None:
    started = time.monotonic()
    with socket.create_connection(gatekeeper.address, timeout=5) as silent:
        silent.sendall(LOGON[:10])  # part of a message, then nothing
        assert silent.recv(100) == b""
    assert 0.4 < time.monotonic() - started < 3


def test_refused_logon_gets_the_logout_then_end_of_stream(gatekeeper) -> None:
    with socket.create_connection(gatekeeper.address, timeout=5) as client:
        client.sendall(LOGON_X)
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    assert answer.startswith(b"8=FIX.4.4\x01") and b"\x0158=no\x01" in answer
    assert b"\x0149=VENUE\x0156=X\x01" in answer


@pytest.mark.parametrize(
    "data",
    [framed(b"35=A\x0149=X\x0156=VENUE\x01", length=b"12"), LOGON_X[:-4] + b"999\x01"],
    ids=["length-too-short", "bad-checksum"],
)
def test_garbled_logon_is_closed_without_an_answer(gatekeeper, data: bytes) -> None:
    with socket.create_connection(gatekeeper.address, timeout=5) as client:
        client.sendall(data)
        assert client.recv(4096) == b""


def test_silent_refusal_closes_without_an_answer(free_port: int, tmp_path) -> None:
    keeper = Gatekeeper(
        "127.0.0.1", free_port, str(tmp_path / "x"), lambda *_: Refusal("?", silent=True)
    )
    keeper.start()
    try:
        with socket.create_connection(keeper.address, timeout=5) as client:
            client.sendall(LOGON_X)
            assert client.recv(4096) == b""
    finally:
        keeper.close()


def test_fault_with_one_connection_closes_it_and_the_next_is_served(gatekeeper) -> None:
    real_decide, faults = gatekeeper._decide, []

    def decide_once_faulty(connection, message):
        if not faults:
            faults.append(connection)
            raise RuntimeError("a bug")
        real_decide(connection, message)

    gatekeeper._decide = decide_once_faulty
    with socket.create_connection(gatekeeper.address, timeout=5) as client:
        client.sendall(LOGON_X)
        assert client.recv(4096) == b""  # closed, not left waiting for the logon timeout
    assert faults
    with socket.create_connection(gatekeeper.address, timeout=5) as client:
        client.sendall(LOGON_X)
        assert b"\x0158=no\x01" in client.recv(4096)  # the thread lived on


def test_stop_closes_the_port_and_waiting_connections(gatekeeper) -> None:
    waiting = socket.create_connection(gatekeeper.address, timeout=5)
    time.sleep(0.1)
    gatekeeper.stop()
    assert waiting.recv(100) == b""
    waiting.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(gatekeeper.address, timeout=1).close()


def test_refusal_that_may_clear_is_sent_only_after_the_settle_time(free_port: int) -> None:
    checks = []

    def busy(fields: dict[str, str], peer: str) -> Refusal:
        checks.append(fields["49"])
        return Refusal("session X is already logged on", final=False)

    keeper = Gatekeeper("127.0.0.1", free_port, "/nonexistent", busy, settle=0.3)
    keeper.start()
    try:
        with socket.create_connection(keeper.address, timeout=5) as client:
            client.sendall(LOGON_X)
            started = time.monotonic()
            answer = client.recv(4096)
            waited = time.monotonic() - started
    finally:
        keeper.close()
    assert b"\x0158=session X is already logged on\x01" in answer
    assert waited >= 0.25 and len(checks) > 2  # asked again while it waited


def test_refusal_with_a_delay_is_answered_after_it_and_others_meanwhile(
    free_port: int, tmp_path
) -> None:
    def check(fields: dict[str, str], peer: str) -> Refusal:
        if fields.get("49") == "X":
            return Refusal("shut out", delay=2.0)
        return Refusal("at once")

    keeper = Gatekeeper("127.0.0.1", free_port, str(tmp_path / "none"), check)
    keeper.start()
    try:
        held = socket.create_connection(keeper.address, timeout=5)
        held.sendall(LOGON_X)
        started = time.monotonic()
        with socket.create_connection(keeper.address, timeout=5) as other:
            other.sendall(framed(b"35=A\x0149=Y\x0156=VENUE\x01"))
            assert b"\x0158=at once\x01" in other.recv(4096)
        held.setblocking(False)
        with pytest.raises(BlockingIOError):  # answered meanwhile, the held one not yet
            held.recv(4096)
        held.setblocking(True)
        answer = held.recv(4096)
        assert time.monotonic() - started >= 1.9
        assert b"\x0158=shut out\x01" in answer and held.recv(100) == b""
        held.close()
    finally:
        keeper.close()


# -- the hop's framing of what follows the Logon --------------------------------------------

ORDER = framed(b"35=D\x0134=2\x0111=a\x01")


def test_sound_messages_pass_whole_and_a_cut_one_waits() -> None:
    from venue.fix.gatekeeper import next_message

    data = ORDER + ORDER[:20]
    assert next_message(data) == (len(ORDER), None)
    assert next_message(data, len(ORDER)) is None


def test_body_running_into_the_next_message_is_dropped_up_to_it() -> None:
    from venue.fix.gatekeeper import next_message

    long = framed(b"35=D\x0134=2\x0111=a\x01", length=b"232")
    end, why = next_message(long + ORDER) or (0, None)
    assert end == len(long) and why is not None and "runs into the next message" in why
    assert next_message(long + ORDER, end) == (end + len(ORDER), None)
    # the declared bytes not there yet and no next message: wait
    assert next_message(long) is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (framed(b"35=D\x0111=a\x01", length=b"5"), "does not end where CheckSum"),
        (framed(b"11=a\x0135=D\x01"), "MsgType(35) is not the third field"),
        (ORDER[:-4] + b"999\x01", "wrong CheckSum"),
        (framed(b"35=D\x0111=a\nb\x01"), "raw CR or LF"),
        (framed(b"35=D\x0111=a\rb\x01"), "raw CR or LF"),
        (b"junk", "bytes before BeginString"),
        (b"8=FIX.4.4\x019=9999999999\x01", "BodyLength(9)=9999999999 is past"),
    ],
)
def test_garbled_input_is_dropped_with_the_reason(data: bytes, why: str) -> None:
    from venue.fix.gatekeeper import next_message

    cut = next_message(data + ORDER)
    assert cut is not None and cut[1] is not None and why in cut[1]
    pos = cut[0]
    while (cut := next_message(data + ORDER, pos)) is not None and cut[1] is not None:
        pos = cut[0]  # junk left over is dropped too, up to the next message
    assert cut == (len(data) + len(ORDER), None)


# -- the hop alone, on socket pairs -----------------------------------------------------------


def _relay_pair(hop, name: str) -> tuple[socket.socket, socket.socket]:
    """(the client's end, QuickFIX's end) of a new relay."""
    client, client_hop = socket.socketpair()
    backend_hop, quickfix = socket.socketpair()
    hop.add(client_hop, backend_hop, name)
    return client, quickfix


def test_hop_closes_a_relay_whose_quickfix_end_stopped_reading_and_relays_the_next() -> None:
    from venue.fix.gatekeeper import Hop

    hop = Hop()
    try:
        client, quickfix = _relay_pair(hop, "gone")
        quickfix.shutdown(socket.SHUT_RD)  # QuickFIX's end takes no more: sends get EPIPE
        client.sendall(LOGON_X)
        client.settimeout(5)
        assert client.recv(100) == b""  # the relay was closed, not left half open
        client2, quickfix2 = _relay_pair(hop, "next")
        client2.sendall(LOGON_X)
        quickfix2.settimeout(5)
        assert quickfix2.recv(1000) == LOGON_X  # the hop thread lived on
        assert hop.connections == 1
    finally:
        hop.close()
