"""The FIX edge alone: a real FixGateway (gatekeeper on a free loopback port, QuickFIX on a
spare one behind it), a recording `submit`, simplefix clients over TCP. (Whole-venue tests
run the kernel behind it: venue_fixtures.)
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fix_fixtures import ClientFactory, find_free_port
from fixclient import FixClient
from venue_fixtures import fresh_gateway

from venue.domain.codes import RejectCode
from venue.domain.commands import Command, MassCancel, NewOrder, RejectMessage
from venue.domain.reference import Role, StpMode
from venue.domain.values import OrdType, Side, TimeInForce
from venue.fix.application import STOPPER_COMP_ID, FixGateway, render_settings
from venue.fix.gatekeeper import spare_port

CONFIG = Path(__file__).resolve().parent.parent / "fix_config" / "acceptor.cfg"
ROLES = {
    "CLIENT1": Role.ORDER_ENTRY,
    "CLIENT2": Role.ORDER_ENTRY,
    "CLIENT3": Role.ORDER_ENTRY,
    "DROPCOPY": Role.DROP_COPY,
    "DROPCOPY1": Role.DROP_COPY,
    "CLIENT5": Role.ORDER_ENTRY,  # FIXT.1.1 (test_fixt.py)
    "CLIENT6": Role.ORDER_ENTRY,
    "DROPCOPY5": Role.DROP_COPY,
    "MDFEED1": Role.MARKET_DATA,  # FIX 4.4 (test_marketdata.py)
    "MDFEED2": Role.MARKET_DATA,  # FIX 4.2
    "MDFEED5": Role.MARKET_DATA,  # FIXT.1.1
}
REPORT = (
    "8=FIX.4.4\x019=0\x0135=8\x0137=41\x0117={exec_id}\x01150=0\x0139=0\x0111=o1\x01"
    "55=AAPL\x0154=1\x0138=100\x0140=2\x0144=190.01\x0114=0\x01151=100\x016=0\x01"
    "60=20231114-22:13:20.123456\x0110=000\x01"
)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.01)


@dataclass
class Edge:
    """A started gateway, what it submitted, and the clients connected to it."""

    gateway: FixGateway
    clients: ClientFactory
    data_dir: Path
    commands: list[Command] = field(default_factory=list)
    fail_on: str = ""  # submit raises for this ClOrdID (a bug behind the gateway)

    def submit(self, command: Command) -> None:
        if self.fail_on and getattr(command, "cl_ord_id", "") == self.fail_on:
            raise RuntimeError("bug behind the gateway")
        self.commands.append(command)

    def wait_commands(self, count: int, timeout: float = 5.0) -> list[Command]:
        wait_until(lambda: len(self.commands) >= count, timeout, f"{count} command(s)")
        return self.commands

    def client(self, sender: str = "CLIENT1", **kwargs: object) -> FixClient:
        return self.clients(sender, **kwargs)


def start_gateway(edge: Edge, port: int) -> FixGateway:
    settings = render_settings(CONFIG, port=spare_port(), data_dir=edge.data_dir)
    gateway = FixGateway(settings, edge.submit, ROLES, listen=("127.0.0.1", port))
    gateway.start()
    return gateway


@pytest.fixture
def edge(tmp_path: Path, free_port: int, fix_client_factory: ClientFactory) -> Iterator[Edge]:
    e = Edge(gateway=None, clients=fix_client_factory, data_dir=tmp_path / "data")  # type: ignore[arg-type]
    e.gateway = start_gateway(e, free_port)
    yield e
    fix_client_factory.close_all()  # else stop() waits for them to answer its Logout
    e.gateway.close()


# -- settings -------------------------------------------------------------------------------


def test_render_settings_fills_placeholders_and_keeps_a_copy(tmp_path: Path) -> None:
    render_settings(CONFIG, port=12345, data_dir=tmp_path)
    rendered = (tmp_path / "fix" / "acceptor.cfg").read_text()
    assert "SocketAcceptPort=12345" in rendered
    assert f"FileStorePath={tmp_path.resolve()}/fix/store" in rendered
    assert "${" not in rendered
    for line in rendered.splitlines():
        if line.startswith("DataDictionary="):
            assert Path(line.split("=", 1)[1]).is_file()


# -- on a gateway of their own: sequence numbers, restarts, stops, what is stored ----------


def refusal(port: int, sender: str, begin_string: str = "FIX.4.4", target: str = "VENUE") -> str:
    """Log on as given; return the Text of the Logout that refused it (the connection must
    then be closed). The Logout comes from the venue's own CompID, in the Logon's version."""
    client = FixClient(port, sender, begin_string, target, 30)
    try:
        with pytest.raises(ConnectionError, match="logon refused"):
            client.reconnect(reset=True, timeout=5)
        [logout] = client.received
        assert (logout[8], logout[35], logout[34], logout[49], logout[56]) == (
            begin_string, "5", "1", "VENUE", sender,
        )  # fmt: skip
        with pytest.raises(ConnectionError, match="closed the connection"):
            client.receive(timeout=5)
        return logout[58]
    finally:
        client.close()


NO_SESSION = "no session is configured for it"
STOPPER = STOPPER_COMP_ID
REFUSALS = [
    ("NOBODY", "FIX.4.4", "VENUE", f"unknown SenderCompID(49) 'NOBODY': {NO_SESSION}"),
    ("CLIENT1", "FIX.4.4", "OTHER", "unknown TargetCompID(56) 'OTHER': this venue is VENUE"),
    ("CLIENT3", "FIX.4.4", "VENUE", "session CLIENT3 is configured for FIX.4.2, not FIX.4.4"),
    (STOPPER, "FIX.4.4", "VENUE", f"unknown SenderCompID(49) '{STOPPER}': {NO_SESSION}"),
]  # fmt: skip


def raw_logon(sender: str) -> bytes:
    stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
    body = f"35=A\x0149={sender}\x0156=VENUE\x0134=1\x0152={stamp}\x0198=0\x01108=30\x01141=Y\x01"
    head = f"8=FIX.4.4\x019={len(body)}\x01{body}".encode()
    return head + b"10=%03d\x01" % (sum(head) % 256)


def test_sequence_numbers_continue_across_logons(edge: Edge) -> None:
    client = edge.client()
    client.new_order("o1", "AAPL", "1", 100, price="190.01")
    edge.wait_commands(1)
    client.logout()
    out_before, in_before = client.next_out, client.next_in
    logon = client.reconnect(reset=False)
    assert int(logon[34]) == in_before
    assert client.next_out == out_before + 1


def test_reset_seq_num_flag_starts_both_sides_from_one(edge: Edge) -> None:
    client = edge.client()
    client.new_order("o1", "AAPL", "1", 100, price="190.01")
    edge.wait_commands(1)
    client.logout()
    logon = client.reconnect(reset=True)
    assert (logon[34], logon.get(141)) == ("1", "Y")
    assert client.new_order("o2", "AAPL", "1", 100, price="190.01") == 2
    assert edge.wait_commands(2)[1].cl_ord_id == "o2"  # type: ignore[union-attr]


def test_sequence_numbers_survive_a_gateway_restart(edge: Edge) -> None:
    client = edge.client()
    client.new_order("o1", "AAPL", "1", 100, price="190.01")
    edge.wait_commands(1)
    client.logout()
    edge.gateway.close()
    edge.gateway = start_gateway(edge, edge.clients.port)
    logon = client.reconnect(reset=False)
    assert int(logon[34]) > 1
    client.new_order("o2", "AAPL", "1", 100, price="190.01")
    assert edge.wait_commands(2)[1].cl_ord_id == "o2"  # type: ignore[union-attr]


def read_until_closed(client: FixClient, timeout: float = 5.0) -> list[dict[int, str]]:
    """What the venue sent before it closed the connection."""
    got = []
    with pytest.raises(ConnectionError):
        while True:
            got.append(client.receive(timeout))
    return got


def test_stop_logs_sessions_out_and_closes_the_port(edge: Edge) -> None:
    client = edge.client()
    wait_until(lambda: edge.gateway.logged_on("CLIENT1"))
    stopping = threading.Thread(target=edge.gateway.stop)
    started = time.monotonic()
    stopping.start()
    got = [m[35] for m in read_until_closed(client)]
    assert [t for t in got if t != "0"] == ["5"]  # answered by the client; 0 = heartbeats
    stopping.join()
    assert time.monotonic() - started < 3
    assert not edge.gateway.logged_on("CLIENT1")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", edge.clients.port), timeout=1).close()


def test_message_sent_after_stop_is_resent_by_the_next_run(edge: Edge) -> None:
    client = edge.client()
    client.logout()
    edge.gateway.stop()
    edge.gateway.send("CLIENT1", REPORT.format(exec_id=88))  # stored for the next run
    edge.gateway.close()
    edge.gateway = start_gateway(edge, edge.clients.port)
    client.reconnect(reset=False)
    client.expect("8", ExecID="88", PossDupFlag="Y")


def test_message_sent_while_logged_out_is_resent_on_next_logon(edge: Edge) -> None:
    client = edge.client()
    client.logout()
    wait_until(lambda: not edge.gateway.logged_on("CLIENT1"))
    edge.gateway.send("CLIENT1", REPORT.format(exec_id=77))
    client.reconnect(reset=False)
    resent = client.expect("8", ExecID="77", PossDupFlag="Y")
    assert 122 in resent  # OrigSendingTime


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_market_data_sessions_naming_one_dictionary_share_one_load(tmp_path: Path) -> None:
    """send_grouped loads each data dictionary file once, whatever the number of sessions
    that name it (a FIX50SP2.xml costs ~60 MB loaded)."""
    import quickfix as fix

    settings = render_settings(CONFIG, port=spare_port(), data_dir=tmp_path / "data")
    feed1 = fix.SessionID("FIX.4.4", "VENUE", "MDFEED1")
    extra = fix.Dictionary()
    extra.setString("PersistMessages", "N")
    extra.setString("DataDictionary", settings.get(feed1).getString("DataDictionary"))
    settings.set(fix.SessionID("FIX.4.4", "VENUE", "MDFEED9"), extra)
    roles = {**ROLES, "MDFEED9": Role.MARKET_DATA}
    gateway = FixGateway(settings, lambda command: None, roles, listen=("127.0.0.1", spare_port()))
    try:
        snapshot = (
            "8=FIX.4.4\x019=0\x0135=W\x0155=AAPL\x01268=2\x01269=0\x01270=1.5\x01271=10\x01"
            "269=1\x01270=1.6\x01271=20\x0110=000\x01"
        )
        for session in ("MDFEED1", "MDFEED9", "MDFEED1", "MDFEED2"):
            gateway.send_grouped(session, snapshot.replace("FIX.4.4", "FIX.4.2")
                                 if session == "MDFEED2" else snapshot)  # fmt: skip
        loaded = [Path(p).name for p in gateway.loaded_dictionaries]
        assert sorted(loaded) == ["FIX42MD.xml", "FIX44MD.xml"]
    finally:
        gateway.close()


# -- on one gateway for the class ------------------------------------------------------------


@pytest.fixture(scope="class")
def one_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    port = find_free_port()
    data_dir = tmp_path_factory.mktemp("gateway") / "data"
    e = Edge(gateway=None, clients=ClientFactory(port), data_dir=data_dir)  # type: ignore[arg-type]
    e.gateway = start_gateway(e, port)
    yield e
    e.clients.close_all()
    e.gateway.close()


class TestOnOneGateway:
    """What needs only a gateway nobody is logged on to, with nothing submitted yet: one
    gateway for the class (a start builds QuickFIX's acceptor: about 1.5 s), made fresh
    before each test (fresh_gateway: the last test's sessions gone, no failed logons
    counted; its commands forgotten). Sequence numbers: every client logs on with
    ResetSeqNumFlag=Y."""

    @pytest.fixture
    def edge(self, one_gateway: Edge) -> Iterator[Edge]:
        one_gateway.clients.close_all()
        one_gateway.clients.clients.clear()
        fresh_gateway(one_gateway.gateway)
        one_gateway.commands.clear()
        one_gateway.fail_on = ""
        yield one_gateway
        one_gateway.clients.close_all()

    def test_gateway_knows_every_configured_session(self, edge: Edge) -> None:
        assert sorted(edge.gateway.sessions) == sorted(ROLES)
        assert edge.gateway.begin_string("CLIENT3") == "FIX.4.2"
        assert edge.gateway.begin_string("CLIENT1") == "FIX.4.4"

    # -- session layer ----------------------------------------------------------------------

    def test_logon_and_logout(self, edge: Edge) -> None:
        client = edge.client()
        wait_until(lambda: edge.gateway.logged_on("CLIENT1"), what="CLIENT1 logged on")
        answer = client.logout()
        assert answer is not None and answer[35] == "5"
        wait_until(lambda: not edge.gateway.logged_on("CLIENT1"), what="CLIENT1 logged out")

    @pytest.mark.parametrize(
        ("sender", "begin_string", "target", "why"), REFUSALS,
        ids=["unknown-sender", "unknown-target", "wrong-version", "internal-session"],
    )  # fmt: skip
    def test_logon_the_venue_cannot_serve_gets_a_logout_saying_why(
        self, edge: Edge, sender: str, begin_string: str, target: str, why: str
    ) -> None:
        assert refusal(edge.clients.port, sender, begin_string, target) == why
        client = edge.client()  # the venue still serves the sessions it knows
        client.new_order("o1", "AAPL", "1", 100, price="190.01")
        assert [c.cl_ord_id for c in edge.wait_commands(1)] == ["o1"]  # type: ignore[attr-defined]

    def test_second_connection_of_a_logged_on_session_gets_a_logout_and_the_first_stays(
        self, edge: Edge
    ) -> None:
        first = edge.client()
        wait_until(lambda: edge.gateway.logged_on("CLIENT1"), what="CLIENT1 logged on")
        assert refusal(edge.clients.port, "CLIENT1") == "session CLIENT1 is already logged on"
        first.new_order("o1", "AAPL", "1", 100, price="190.01")
        assert [c.cl_ord_id for c in edge.wait_commands(1)] == ["o1"]  # type: ignore[attr-defined]

    def test_logon_arriving_a_few_bytes_at_a_time_is_served(self, edge: Edge) -> None:
        logon = raw_logon("CLIENT2")
        with socket.create_connection(("127.0.0.1", edge.clients.port), timeout=5) as raw:
            for i in range(0, len(logon), 7):  # 7-byte pieces, 20 ms apart
                raw.sendall(logon[i : i + 7])
                time.sleep(0.02)
            answer = raw.recv(4096)
            assert b"\x0135=A\x01" in answer and b"\x0156=CLIENT2\x01" in answer
            wait_until(lambda: edge.gateway.logged_on("CLIENT2"), what="CLIENT2 logged on")

    def test_bytes_that_are_not_fix_are_closed_without_an_answer(self, edge: Edge) -> None:
        with socket.create_connection(("127.0.0.1", edge.clients.port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: venue\r\n\r\n")
            try:
                said = raw.recv(1024)
            except ConnectionResetError:  # closed with our bytes unread
                said = b""
            assert said == b""  # closed, nothing said
        edge.client()  # and the venue still serves

    # -- order messages ---------------------------------------------------------------------

    def test_new_order_reaches_submit_as_new_order(self, edge: Edge) -> None:
        client = edge.client()
        client.new_order("o1", "AAPL", "2", 100, price="190.01", Account="ACC")
        [command] = edge.wait_commands(1)
        assert command == NewOrder(
            "CLIENT1", "o1", "AAPL", Side.SELL, OrdType.LIMIT, TimeInForce.DAY, 100, 19_001_000_000,
            "ACC",
        )  # fmt: skip

    def test_fix42_new_order_reaches_submit(self, edge: Edge) -> None:
        client = edge.client("CLIENT3", begin_string="FIX.4.2")
        client.new_order("o1", "AAPL", "1", 5, price="10")
        [command] = edge.wait_commands(1)
        assert isinstance(command, NewOrder)
        assert (command.session, command.qty, command.price) == ("CLIENT3", 5, 1_000_000_000)

    def test_cancel_replace_status_and_mass_cancel_reach_submit(self, edge: Edge) -> None:
        client = edge.client()
        client.cancel("c1", "o1", "AAPL", "1", qty=100, order_id="7")
        client.replace("r1", "o1", "AAPL", "1", 50, price="190.00")
        client.status("o1", "AAPL", "1")
        client.send("q", [(11, "m1"), (530, "7"), (60, client.utc_now())])
        commands = edge.wait_commands(4)
        assert [type(c).__name__ for c in commands] == [
            "CancelOrder", "ReplaceOrder", "QueryOrder", "MassCancel",
        ]  # fmt: skip
        assert commands[0].order_id == 7  # type: ignore[union-attr]
        assert commands[3] == MassCancel("CLIENT1", "m1", "7", "")

    def test_self_trade_prevention_tag_passes_the_dictionary(self, edge: Edge) -> None:
        client = edge.client()
        client.send(
            "D",
            [(11, "o1"), (55, "AAPL"), (54, "1"), (60, client.utc_now()), (38, "10"), (40, "2"),
             (44, "1"), (7928, "D")],
        )  # fmt: skip
        [command] = edge.wait_commands(1)
        assert isinstance(command, NewOrder) and command.stp is StpMode.DECREMENT

    def test_unsupported_order_characteristic_reaches_the_kernel_as_reject(
        self, edge: Edge
    ) -> None:
        client = edge.client()
        client.new_order("o1", "AAPL", "1", 100, price="190.01", ord_type="P")
        [command] = edge.wait_commands(1)
        assert isinstance(command, RejectMessage)
        assert command.code is RejectCode.UNSUPPORTED_CHARACTERISTIC
        assert command.text.startswith("OrdType(40)=P (pegged) is not supported")

    def test_missing_order_qty_passes_the_dictionary_and_is_rejected_by_the_edge(
        self, edge: Edge
    ) -> None:
        # OrderQty is optional in both dictionaries (CashOrderQty is the alternative).
        client = edge.client()
        client.new_order("o1", "AAPL", "1", None, price="190.01")
        [command] = edge.wait_commands(1)
        assert isinstance(command, RejectMessage) and command.code is RejectCode.MISSING_FIELD
        assert command.text == "OrderQty(38) is required"

    # -- what the dictionary and the gateway stop -------------------------------------------

    def test_unsupported_message_type_gets_business_reject_3(self, edge: Edge) -> None:
        client = edge.client()
        seq = client.send("c", [(320, "r1"), (321, "3")])  # SecurityDefinitionRequest
        client.expect("j", RefSeqNum=str(seq), RefMsgType="c", BusinessRejectReason="3")
        client.new_order("o1", "AAPL", "1", 100, price="190.01")
        assert edge.wait_commands(1)[0].cl_ord_id == "o1"  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("tag", "value", "reason"),
        [(54, "Z", "5"), (40, "X", "5"), (38, "abc", "6")],  # 5 value incorrect, 6 bad format
    )
    def test_invalid_value_gets_session_reject_and_session_stays_up(
        self, edge: Edge, tag: int, value: str, reason: str
    ) -> None:
        client = edge.client()
        fields = {11: "bad", 55: "AAPL", 54: "1", 60: client.utc_now(), 38: "100", 40: "2", 44: "1"}
        fields[tag] = value
        seq = client.send("D", fields)
        client.expect(
            "3", RefSeqNum=str(seq), RefTagID=str(tag), SessionRejectReason=reason, RefMsgType="D"
        )
        client.new_order("o1", "AAPL", "1", 100, price="190.01")
        assert [c.cl_ord_id for c in edge.wait_commands(1)] == ["o1"]  # type: ignore[union-attr]
        assert edge.gateway.logged_on("CLIENT1")

    def test_missing_required_field_gets_session_reject(self, edge: Edge) -> None:
        client = edge.client()
        seq = client.send("D", {11: "bad", 55: "AAPL", 60: client.utc_now(), 38: "1", 40: "1"})
        client.expect("3", RefSeqNum=str(seq), RefTagID="54", SessionRejectReason="1")
        assert edge.commands == []

    def test_mass_cancel_is_not_fix42(self, edge: Edge) -> None:
        client = edge.client("CLIENT3", begin_string="FIX.4.2")
        seq = client.send("q", [(11, "m1"), (530, "7"), (60, client.utc_now())])
        client.expect("3", RefSeqNum=str(seq))
        assert edge.commands == []

    def test_drop_copy_session_cannot_enter_orders(self, edge: Edge) -> None:
        client = edge.client("DROPCOPY")
        seq = client.new_order("x1", "AAPL", "1", 100, price="190.01")
        reject = client.expect(
            "j", RefSeqNum=str(seq), RefMsgType="D", BusinessRejectRefID="x1",
            BusinessRejectReason="6",
        )  # fmt: skip
        assert reject[58] == "session DROPCOPY is not authorized to enter orders"
        client.cancel("x2", "x1", "AAPL", "1")
        client.expect("j", RefMsgType="F", BusinessRejectReason="6")
        time.sleep(0.1)
        assert edge.commands == []

    def test_bug_behind_the_gateway_is_logged_and_the_session_survives(
        self, edge: Edge, caplog: pytest.LogCaptureFixture
    ) -> None:
        edge.fail_on = "boom"
        client = edge.client()
        with caplog.at_level(logging.ERROR, logger="venue.fix"):
            client.new_order("boom", "AAPL", "1", 100, price="190.01")
            client.new_order("o1", "AAPL", "1", 100, price="190.01")
            assert [c.cl_ord_id for c in edge.wait_commands(1)] == ["o1"]  # type: ignore[union-attr]
        assert any("fromApp failed" in r.message for r in caplog.records)
        assert edge.gateway.logged_on("CLIENT1")

    # -- sending ----------------------------------------------------------------------------

    def test_send_delivers_a_report_with_a_complete_header(self, edge: Edge) -> None:
        client = edge.client()
        # QuickFIX marks the session logged on just after its Logon leaves: a message sent in
        # between is stored (and resent on the next gap) but not written at once.
        wait_until(lambda: edge.gateway.logged_on("CLIENT1"))
        edge.gateway.send("CLIENT1", REPORT.format(exec_id=1))
        report = client.expect("8", OrderID="41", ExecID="1", ExecType="0", Price="190.01")
        # The Logon answer is 34=1; nothing else comes in between (no Heartbeat after a logon).
        assert (report[49], report[56]) == ("VENUE", "CLIENT1") and report[34] == "2"
        assert 52 in report
        assert report[60] == "20231114-22:13:20.123456"

    def test_send_from_another_thread_while_orders_arrive(self, edge: Edge) -> None:
        client = edge.client()
        wait_until(lambda: edge.gateway.logged_on("CLIENT1"))
        sender = threading.Thread(
            target=lambda: [
                edge.gateway.send("CLIENT1", REPORT.format(exec_id=i)) for i in range(50)
            ]
        )
        sender.start()
        for i in range(50):
            client.new_order(f"o{i}", "AAPL", "1", 1, price="1")
        sender.join()
        edge.wait_commands(50)
        got = [client.expect("8")[17] for _ in range(50)]
        assert got == [str(i) for i in range(50)]

    def test_send_to_an_unknown_session_raises(self, edge: Edge) -> None:
        with pytest.raises(KeyError):
            edge.gateway.send("NOBODY", REPORT.format(exec_id=1))

    # -- network ----------------------------------------------------------------------------

    def test_fix_port_listens_on_the_configured_host_only(self, edge: Edge) -> None:
        address = _non_loopback_address()
        if address is None:
            pytest.skip("this machine has no non-loopback IPv4 address")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, edge.clients.port), timeout=2).close()

    def test_quickfix_port_is_shut_once_quickfix_has_bound_it(self, edge: Edge) -> None:
        # QuickFIX 1.16 binds its port on all interfaces; the gateway shuts it at start and
        # QuickFIX accepts only on its private Unix socket (tests/test_security.py goes further).
        for address in filter(None, ("127.0.0.1", _non_loopback_address())):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, edge.gateway.quickfix_port), timeout=2).close()
        edge.client().new_order("o1", "AAPL", "1", 100, price="190.01")
        assert [c.cl_ord_id for c in edge.wait_commands(1)] == ["o1"]  # type: ignore[attr-defined]
