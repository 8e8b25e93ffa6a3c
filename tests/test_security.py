"""The front door and the data directory, against the real venue over TCP: what the
gatekeeper accepts and refuses and in whose name it answers (spec/rules-of-engagement.md,
"Logon refusals, backoff and security"), QuickFIX's private hand-over listener, password
guessing, passwords in logs, and the modes of what a started venue wrote.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixclient import FixClient
from test_venue_risk import GTC, rests, write_reference
from venue_fixtures import fresh_front_door, shared_venue

from venue.app import Venue
from venue.domain.commands import SessionDisconnected
from venue.fix.application import HANDOVER_SOCKET, STOPPER_COMP_ID
from venue.fix.auth import LogonGuard, hash_password
from venue.fix.gatekeeper import connect_backend

BUY = "1"


def stamp() -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())


def framed(body: str, begin: str = "FIX.4.4", length: str | None = None) -> bytes:
    """A message with this body; BodyLength as given (default the right one), CheckSum right
    for the bytes as written."""
    raw = body.encode()
    head = f"8={begin}\x019={length if length is not None else len(raw)}\x01".encode()
    return head + raw + b"10=%03d\x01" % (sum(head + raw) % 256)


def logon_body(sender: str = "CLIENT1", target: str = "VENUE", extra: str = "") -> str:
    return (
        f"35=A\x0149={sender}\x0156={target}\x0134=1\x0152={stamp()}\x01"
        f"98=0\x01108=30\x01141=Y\x01{extra}"
    )


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send data on a new connection; everything the venue says until it closes (or until
    `timeout` without a close: then the connection is still open, which fails a test)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(data)
        with contextlib.suppress(ConnectionResetError):
            while chunk := raw.recv(4096):
                answer += chunk
    return answer


def first_answer(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send data on a new connection; the venue's first message (b"" if it closes first)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(data)
        with contextlib.suppress(ConnectionResetError):
            while not re.search(rb"\x0110=\d{3}\x01", answer) and (chunk := raw.recv(4096)):
                answer += chunk
    return answer


def fields_of(data: bytes) -> dict[str, str]:
    """The fields of the first message in data."""
    end = re.search(rb"\x0110=\d{3}\x01", data)
    message = data[: end.end()] if end else data
    parts = message.decode().split("\x01")[:-1]
    return dict(part.split("=", 1) for part in parts)


def refused(port: int, data: bytes) -> dict[str, str]:
    """The one Logout the venue answers data with before it closes the connection."""
    answer = exchange(port, data)
    assert answer.count(b"\x0110=") == 1, answer
    logout = fields_of(answer)
    assert (logout["35"], logout["34"], logout["49"]) == ("5", "1", "VENUE"), logout
    return logout


@pytest.fixture(scope="class")
def demo_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    yield from shared_venue(tmp_path_factory.mktemp("front-door"))


def kernel_seq(venue: Venue) -> int:
    """The kernel's event count once every command queued so far is handled."""
    venue.execute(SessionDisconnected("NOBODY"))  # an unknown session: a no-op
    return venue.kernel.counters.seq


class TestFrontDoor:
    """On one demo venue, each test at a fresh front door (fresh_front_door). Orders that
    tests leave are GTC, so that the disconnects of other tests change nothing."""

    @pytest.fixture(autouse=True)
    def fresh(self, demo_venue: Venue) -> None:
        fresh_front_door(demo_venue)

    # -- 1. zero-padded BodyLength ----------------------------------------------------------

    def test_logon_with_zero_padded_body_length_logs_on_and_trades(self, demo_venue) -> None:
        venue = demo_venue
        body = logon_body("CLIENT1")
        client = FixClient(venue.settings.port, "CLIENT1", "FIX.4.4", "VENUE", 30)
        client._sock = socket.create_connection(("127.0.0.1", venue.settings.port), timeout=10)
        try:
            client.send_raw(framed(body, length=f"{len(body):07d}"))  # 9=0000073, jspurefix style
            client.next_out = 2
            client.expect("A", MsgSeqNum="1")
            client.logged_on = True
            rests(client, "padded", "AAPL", BUY, 100, "190.00", tif=GTC)
        finally:
            client.close()

    # -- 2. refusals speak as the venue, only from the bytes of the first message ------------

    def test_refusals_come_from_the_venue_to_the_sender_in_the_logon_version(
        self, demo_venue
    ) -> None:
        port = demo_venue.settings.port
        logout = refused(port, framed(logon_body("CLIENT1", target="OTHER")))
        assert (logout["8"], logout["56"]) == ("FIX.4.4", "CLIENT1")
        assert logout["58"] == "unknown TargetCompID(56) 'OTHER': this venue is VENUE"
        logout = refused(port, framed(logon_body("NOBODY"), begin="FIX.4.2"))
        assert (logout["8"], logout["56"]) == ("FIX.4.2", "NOBODY")
        assert logout["58"] == "unknown SenderCompID(49) 'NOBODY': no session is configured for it"
        logout = refused(port, framed(logon_body("CLIENT1", extra="1137=9\x01"), begin="FIXT.1.1"))
        assert (logout["8"], logout["56"]) == ("FIXT.1.1", "CLIENT1")
        assert logout["58"] == "session CLIENT1 is configured for FIX.4.4, not FIXT.1.1"

    def test_logon_in_a_version_the_venue_does_not_speak_is_closed_without_an_answer(
        self, demo_venue
    ) -> None:
        port = demo_venue.settings.port
        assert exchange(port, framed(logon_body("CLIENT1"), begin="FIX.3.9")) == b""
        assert exchange(port, framed(logon_body("CLIENT1"), begin="FIXT.9.9")) == b""
        FixClient.connect(port).logout()  # the venue still serves

    def test_first_message_that_is_not_a_logon_is_refused_as_such(self, demo_venue) -> None:
        port = demo_venue.settings.port
        order = (
            f"35=D\x0149=CLIENT1\x0156=OTHER\x0134=1\x0152={stamp()}\x0111=o1\x0155=AAPL\x01"
            f"54=1\x0160={stamp()}\x0140=2\x0138=100\x0144=190\x01"
        )
        logout = refused(port, framed(order))
        assert logout["58"] == "the first message must be a Logon (35=A), not 35=D"
        assert logout["56"] == "CLIENT1"

    @pytest.mark.parametrize(
        "data",
        [
            # 9= too short: the body would end inside TargetCompID ("56=VE"); the gatekeeper
            # reads nothing past it and does not answer from a truncated CompID
            framed(logon_body("CLIENT1"), length="21"),
            framed(logon_body("CLIENT1"))[:-4] + b"000\x01",  # wrong CheckSum
            framed(logon_body("CLIENT1"), length="abc"),  # BodyLength not a number
            framed("49=CLIENT1\x01" + logon_body("CLIENT1")),  # MsgType not the third field
        ],
        ids=["body-length-too-short", "bad-checksum", "body-length-not-a-number", "msgtype-late"],
    )
    def test_garbled_first_message_is_closed_without_an_answer(
        self, demo_venue, data: bytes
    ) -> None:
        venue = demo_venue
        seq = kernel_seq(venue)
        assert exchange(venue.settings.port, data) == b""
        assert kernel_seq(venue) == seq  # nothing reached the kernel
        FixClient.connect(venue.settings.port).logout()  # the venue still serves

    # -- 3. QuickFIX's hand-over listener is private ------------------------------------------

    def test_quickfix_listens_only_on_a_private_unix_socket(self, demo_venue) -> None:
        venue = demo_venue
        with pytest.raises(ConnectionRefusedError):  # its TCP port is shut, on every address
            socket.create_connection(("127.0.0.1", venue.gateway.quickfix_port), timeout=2).close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("0.0.0.0", venue.gateway.quickfix_port), timeout=2).close()
        private = venue.data_dir / "fix" / HANDOVER_SOCKET
        info = private.lstat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert stat.S_IMODE((venue.data_dir / "fix").stat().st_mode) == 0o700
        assert stat.S_IMODE(venue.data_dir.stat().st_mode) == 0o700
        client = FixClient.connect(venue.settings.port)  # through the gatekeeper: served
        rests(client, "private", "AAPL", BUY, 100, "190.00", tif=GTC)
        client.close()

    def test_connections_that_never_send_a_logon_are_closed(self, demo_venue) -> None:
        venue = demo_venue
        gatekeeper = venue.gateway._gatekeeper
        configured, gatekeeper._logon_timeout = gatekeeper._logon_timeout, 0.5  # 10 s, shortened
        silent = [socket.create_connection(("127.0.0.1", venue.settings.port)) for _ in range(20)]
        try:
            for connection in silent:
                connection.settimeout(10)
                assert connection.recv(100) == b""  # closed by the gatekeeper
        finally:
            gatekeeper._logon_timeout = configured
            for connection in silent:
                connection.close()

    def test_a_connection_to_the_private_socket_is_a_handover_only_this_process_makes(
        self, demo_venue
    ) -> None:
        # The same user could reach the socket (it is 0600 in a 0700 directory: nobody else
        # can); what the gatekeeper connects there is never written to by it.
        venue = demo_venue
        path = str(venue.data_dir / "fix" / HANDOVER_SOCKET)
        connect_backend(path).close()  # QuickFIX accepts and, at end of stream, drops it
        FixClient.connect(venue.settings.port).logout()


def test_the_stopper_session_cannot_be_used_from_outside_and_stop_is_quick(
    venue_factory, caplog
) -> None:
    venue = venue_factory()
    logout = refused(venue.settings.port, framed(logon_body(STOPPER_COMP_ID)))
    assert logout["58"] == (
        f"unknown SenderCompID(49) '{STOPPER_COMP_ID}': no session is configured for it"
    )
    with caplog.at_level(logging.WARNING, logger="venue.fix"):
        venue.stop()
    assert "did not log on" not in caplog.text  # the venue's own stopper logged on at once


# -- 4. password guessing --------------------------------------------------------------------


@pytest.fixture(scope="class")
def locked_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """Every session needs a password (user = CompID lower case, password = pw-<compid>)."""
    home = tmp_path_factory.mktemp("locked")
    names = ("CLIENT1", "CLIENT2", "CLIENT3", "DROPCOPY", "DROPCOPY1")
    sessions = {
        name: {"username": name.lower(), "password_hash": hash_password(f"pw-{name}")}
        for name in names
    }
    reference = write_reference(home / "venue.toml", sessions=sessions)
    yield from shared_venue(home, reference_config=reference)


def logon(venue: Venue, sender: str, password: str | None, begin: str = "FIX.4.4") -> dict:
    extra = f"553={sender.lower()}\x01" + (f"554={password}\x01" if password is not None else "")
    data = framed(logon_body(sender, extra=extra), begin)
    return fields_of(first_answer(venue.settings.port, data))


class TestPasswordGuessing:
    """On one venue whose sessions all need a password, each test at a fresh front door (no
    failed logons counted). No test here enters an order: the kernel stays at seq 0."""

    @pytest.fixture(autouse=True)
    def fresh(self, locked_venue: Venue) -> None:
        fresh_front_door(locked_venue)

    def test_right_credentials_log_on(self, locked_venue):
        assert logon(locked_venue, "CLIENT1", "pw-CLIENT1", "FIX.4.4")["35"] == "A"

    def test_right_credentials_log_on_fix42(self, locked_venue):
        assert logon(locked_venue, "CLIENT3", "pw-CLIENT3", "FIX.4.2")["35"] == "A"

    @pytest.mark.parametrize(
        ("sender", "begin", "password", "why"),
        [
            ("CLIENT3", "FIX.4.2", "guess", "wrong Username(553) or Password(554)"),
            ("CLIENT3", "FIX.4.2", None, "Username(553) and Password(554) are required"),
            ("CLIENT1", "FIX.4.4", "", "wrong Username(553) or Password(554)"),
        ],
        ids=["fix42-wrong-password", "fix42-no-password", "fix44-empty-password"],
    )
    def test_bad_credentials_get_a_logout_with_a_text(
        self, locked_venue, sender, begin, password, why
    ):
        answer = logon(locked_venue, sender, password, begin)
        header = (answer["8"], answer["35"], answer["49"], answer["56"])
        assert header == (begin, "5", "VENUE", sender)
        assert answer["58"].startswith(f"Rejected Logon Attempt: {why}")
        assert locked_venue.kernel.counters.seq == 0

    def test_failed_logons_of_a_compid_back_off_then_the_right_password_works(self, locked_venue):
        free = LogonGuard.FREE_PER_COMP_ID
        for _ in range(free + 1):
            assert logon(locked_venue, "CLIENT1", "guess")["58"].startswith("Rejected Logon")
        # the first failure past the free ones shuts it for 1 s: even the right password is
        # not checked
        asked = time.monotonic()
        shut = logon(locked_venue, "CLIENT1", "pw-CLIENT1")["58"]
        assert shut == "too many failed logons for session CLIENT1: try again in 1 s"
        assert time.monotonic() - asked >= 0.9  # held back a second (SHUT_OUT_DELAY)
        assert logon(locked_venue, "CLIENT2", "pw-CLIENT2")["35"] == "A"  # others are not shut
        deadline = time.monotonic() + 10
        while (answer := logon(locked_venue, "CLIENT1", "pw-CLIENT1"))["35"] != "A":
            assert answer["58"].startswith("too many failed logons"), answer
            assert time.monotonic() < deadline
            time.sleep(0.2)

    def test_failed_logons_from_one_address_back_off_across_compids(self, locked_venue):
        names = ("CLIENT1", "CLIENT2", "CLIENT3", "DROPCOPY", "DROPCOPY1")
        versions = {"CLIENT3": "FIX.4.2"}
        # 2 failures per CompID (each stays within its 3 free ones), 11 from the address
        attempts = [name for name in names for _ in range(2)] + ["CLIENT1"]
        assert len(attempts) == LogonGuard.FREE_PER_ADDRESS + 1
        assert attempts.count("CLIENT1") <= LogonGuard.FREE_PER_COMP_ID
        for name in attempts:
            answer = logon(locked_venue, name, "guess", versions.get(name, "FIX.4.4"))
            assert answer["58"].startswith("Rejected Logon"), answer
        answer = logon(locked_venue, "CLIENT1", "pw-CLIENT1")
        assert answer["58"] == "too many failed logons from address 127.0.0.1: try again in 1 s"

    def test_credentials_are_checked_before_quickfix_sees_the_logon(self, locked_venue):
        # A refused guess never reaches QuickFIX: the session's sequence numbers do not move
        # and its message log holds no trace of it.
        logon(locked_venue, "CLIENT2", "guess")
        logged = (
            locked_venue.data_dir / "fix" / "log" / "FIX.4.4-VENUE-CLIENT2.messages.current.log"
        )
        assert not logged.exists() or "guess" not in logged.read_text()
        answer = logon(locked_venue, "CLIENT2", "pw-CLIENT2")
        assert (answer["35"], answer["34"]) == ("A", "1")


# -- 5. a password sent to a session without credentials --------------------------------------


def test_password_to_a_session_without_credentials_is_refused_and_never_logged(venue_factory):
    venue = venue_factory()
    body = logon_body("CLIENT1", extra="553=someone\x01554=s3cret-in-clear\x01")
    logout = refused(venue.settings.port, framed(body))
    assert logout["58"] == (
        "session CLIENT1 has no credentials configured: "
        "log on without Password(554) and NewPassword(925)"
    )
    FixClient.connect(venue.settings.port).logout()  # without a password it logs on
    venue.stop()
    leaks = [
        str(path) for path in venue.data_dir.rglob("*")
        if path.is_file() and b"s3cret-in-clear" in path.read_bytes()
    ]  # fmt: skip
    assert leaks == []


# -- 6. the data directory --------------------------------------------------------------------


def modes_under(data_dir: Path) -> dict[str, int]:
    return {
        str(path.relative_to(data_dir)): stat.S_IMODE(path.lstat().st_mode)
        for path in [data_dir, *data_dir.rglob("*")]
    }


def started_and_stopped(venue_factory, **settings: object) -> Venue:
    """A venue that wrote everything it writes: journal, snapshot, SQLite, QuickFIX store and
    logs (a logged-on session and an order), then stopped."""
    venue = venue_factory(**settings)
    client = FixClient.connect(venue.settings.port)
    rests(client, "o1", "AAPL", BUY, 100, "190.00")
    venue.wait_until_projected()
    client.logout()
    venue.stop()
    return venue


def test_what_a_venue_writes_is_readable_by_its_user_only(venue_factory) -> None:
    venue = started_and_stopped(venue_factory)
    modes = modes_under(venue.data_dir)
    names = set(modes)
    for expected in ("journal", "snapshots", "venue.db", "fix/store", "fix/log"):
        assert any(name.startswith(expected) for name in names), (expected, sorted(names))
    assert any(name.startswith("fix/log/FIX.4.4-VENUE-CLIENT1") for name in names)
    assert any(name.startswith("fix/store/FIX.4.4-VENUE-CLIENT1") for name in names)
    loose = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (venue.data_dir / name).is_dir() else 0o600)
        and not name.endswith(HANDOVER_SOCKET)
    }
    assert loose == {}


def test_group_access_lets_an_operator_group_read(venue_factory) -> None:
    venue = started_and_stopped(venue_factory, group_access=True)
    loose = {
        name: oct(mode)
        for name, mode in modes_under(venue.data_dir).items()
        if mode != (0o2750 if (venue.data_dir / name).is_dir() else 0o640)
        and not name.endswith(HANDOVER_SOCKET)
    }
    assert loose == {"control.token": "0o600"}  # it lets its reader act: never the group


def test_an_existing_data_directory_is_tightened_at_start(venue_factory, tmp_path) -> None:
    data = tmp_path / "data"
    (data / "fix" / "log").mkdir(parents=True)
    (data / "fix" / "log" / "old.log").write_text("x")
    for path, mode in ((data, 0o755), (data / "fix", 0o755), (data / "fix/log/old.log", 0o644)):
        path.chmod(mode)
    venue_factory()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "fix").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "fix/log/old.log").stat().st_mode) == 0o600


# -- the backoff schedule alone ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_from_one_second_to_a_minute_after_the_free_failures() -> None:
    clock = Clock()
    guard = LogonGuard(clock=clock)
    waits = []
    for _ in range(12):
        guard.failed("CLIENT1", "10.0.0.1")
        waits.append(guard.comp_ids.wait("CLIENT1"))
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert guard.refusal("CLIENT1", "10.0.0.2") == (
        "too many failed logons for session CLIENT1: try again in 60 s"
    )
    assert guard.refusal("CLIENT2", "10.0.0.1") == (
        "too many failed logons from address 10.0.0.1: try again in 2 s"
    )  # 12 failures from the address: 10 free, then 1 s, 2 s
    clock.now += 30.5
    assert guard.refusal("CLIENT1", "10.0.0.2") == (
        "too many failed logons for session CLIENT1: try again in 30 s"
    )
    guard.succeeded("CLIENT1", "10.0.0.1")
    assert guard.refusal("CLIENT1", "10.0.0.1") is None


def test_backoff_forgets_a_key_that_has_not_failed_for_fifteen_minutes() -> None:
    clock = Clock()
    guard = LogonGuard(clock=clock)
    for _ in range(LogonGuard.FREE_PER_COMP_ID + 1):
        guard.failed("CLIENT1", "10.0.0.1")
    assert guard.comp_ids.wait("CLIENT1") == 1
    clock.now += 900
    assert guard.comp_ids.wait("CLIENT1") == 0
    guard.failed("CLIENT1", "10.0.0.1")  # the count starts again: this one is free
    assert guard.comp_ids.wait("CLIENT1") == 0
