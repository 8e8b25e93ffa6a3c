"""The QuickFIX wrapper: sessions in, commands to the kernel, reports out. Nothing else.

QuickFIX owns the session layer (logon, sequence numbers, resend, heartbeats, dictionary
checks). `fromApp` runs on the acceptor's one thread for all sessions and only does
parse -> decode -> submit; `send` may be called from any thread.

QuickFIX's Python binding ends the whole process (Py_Exit) when a callback raises anything
but the few FIX exceptions it maps, so every callback here catches and logs its errors.

Stopping works around a QuickFIX 1.16 race (see FixGateway.stop): the gateway adds one
internal session, STOPPER_COMP_ID, that only it logs on to, through QuickFIX's private
listener (a Unix socket only this process reaches; the gatekeeper refuses that CompID).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import string
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import quickfix as fix

from venue.domain.commands import Command
from venue.domain.reference import Role
from venue.fix.auth import LogonGuard, check_logon
from venue.fix.codec import FIXT11, ORDER_MSG_TYPES, business_reject, decode, parse
from venue.fix.gatekeeper import Gatekeeper, Refusal, connect_backend, take_over_listener
from venue.fix.mdcodec import FEED_MSG_TYPES, MD_MSG_TYPES
from venue.fix.message_log import MessageLogFactory

log = logging.getLogger("venue.fix")

NOT_AUTHORIZED = "6"  # BusinessRejectReason(380)
UNSUPPORTED_MESSAGE_TYPE = "3"  # BusinessRejectReason(380)
FIX50SP2 = "9"  # ApplVerID(1128) / DefaultApplVerID(1137): the one FIXT.1.1 sessions speak
STOPPER_COMP_ID = "VENUE-STOPPER"  # internal session used by stop(), never a client
HANDOVER_SOCKET = "handover.sock"  # QuickFIX's private listener, in <data_dir>/fix
SHUT_OUT_DELAY = 1.0  # seconds before a Logon refused by the backoff is answered


DICTIONARY_DIR = Path(__file__).resolve().parent / "dictionaries"


def dictionary_dir() -> Path:
    """The venue's own FIX data dictionaries (venue/fix/dictionaries, shipped in the package).

    QuickFIX's stock files extended with the venue's own fields (spec/session-layer.md);
    clients load the same files (`venue dictionaries --out DIR` copies them out).
    """
    if not (DICTIONARY_DIR / "FIX44.xml").is_file():
        raise FileNotFoundError(f"no FIX44.xml in {DICTIONARY_DIR}")
    return DICTIONARY_DIR


# The venue's own data dictionaries (FIXT 1.1 and FIX 5.0 SP2 with the venue's fields),
# published for clients: spec/fixt.md.
VENUE_DICTIONARIES = Path(__file__).resolve().parent / "dictionaries"


def render_settings(template: Path, *, port: int, data_dir: Path) -> fix.SessionSettings:
    """Fill ${port}, ${data_dir}, ${dict_dir}, ${venue_dict_dir} in the acceptor template
    and load it.

    The rendered file is written to <data_dir>/fix/acceptor.cfg for reference.
    """
    data_dir = Path(data_dir).resolve()
    text = string.Template(Path(template).read_text()).substitute(
        port=port, data_dir=data_dir, dict_dir=dictionary_dir(), venue_dict_dir=VENUE_DICTIONARIES
    )
    fix_dir = data_dir / "fix"
    for sub in ("store", "log"):
        (fix_dir / sub).mkdir(parents=True, exist_ok=True)
    rendered = fix_dir / "acceptor.cfg"
    rendered.write_text(text)
    return fix.SessionSettings(str(rendered))


class FixGateway:
    """A QuickFIX SocketAcceptor serving every configured session.

    submit: where decoded commands go (the kernel's queue); called on the acceptor thread.
    roles: counterparty CompID -> Role; only ORDER_ENTRY sessions may send orders.
    on_logon / on_logout: optional, called with the CompID (for cancel on disconnect).
    listen: (host, port) of the Gatekeeper in front: clients connect there, a Logon
      QuickFIX would drop in silence gets a Logout saying why, credentials are checked
      there, and QuickFIX itself listens only on a private Unix socket
      (<data_dir>/fix/handover.sock) for the gatekeeper's hand-overs: its TCP
      SocketAcceptPort is shut as soon as it is bound.
    """

    def __init__(
        self,
        settings: fix.SessionSettings,
        submit: Callable[[Command], None],
        roles: Mapping[str, Role],
        on_logon: Callable[[str], None] | None = None,
        on_logout: Callable[[str], None] | None = None,
        credentials: Mapping[str, tuple[str | None, str]] | None = None,
        message_log: bool = True,
        *,
        listen: tuple[str, int],
        market_data: Callable[[str, str], None] | None = None,
        hop: bool = True,
        send_buffer: int = 16 << 20,
    ) -> None:
        self._submit = submit
        self._market_data = market_data  # (session, raw) for V/x/c/e of market_data sessions
        # session -> (username or None, password hash): sessions listed here must log on
        # with Username(553)/Password(554).
        self._credentials = dict(credentials or {})
        self._roles = dict(roles)
        self._on_logon = on_logon
        self._on_logout = on_logout
        self._session_ids: dict[str, fix.SessionID] = {}
        self._begin_strings: dict[str, str] = {}
        # For send_grouped: one DataDictionary per file, shared by the sessions that name it
        # (FIX50SP2.xml costs ~60 MB loaded), and each session's pick of them.
        self._dictionaries: dict[str, fix.DataDictionary] = {}  # path -> dictionary
        self._session_dictionaries: dict[str, fix.DataDictionary] = {}  # CompID -> one above
        self._timestamp_digits: dict[str, int] = {}  # CompID -> TimestampPrecision setting
        self._logon_answers: dict[str, int] = {}  # CompID -> MsgSeqNum of our Logon answer
        self._last_in: dict[str, float] = {}  # CompID -> time.time() of its last message
        self._stored_unsent: set[str] = set()  # CompIDs with a report stored in that window
        self._accuracy_rejected: set[str] = set()  # last Reject sent was 373=10 (SendingTime)
        self._settings = settings
        defaults = settings.get()
        self._sender = defaults.getString("SenderCompID")
        self._port = defaults.getInt("SocketAcceptPort")
        latency = defaults.getInt("MaxLatency") if defaults.has("MaxLatency") else 120
        self._accuracy_text = (
            f"SendingTime accuracy problem: SendingTime(52) must be within {latency} s of the"
            " venue's clock (UTC) and not before OrigSendingTime(122)"
        )
        self._stopper = fix.SessionID("FIX.4.4", self._sender, STOPPER_COMP_ID)
        stopper = fix.Dictionary()
        stopper.setString("DataDictionary", str(dictionary_dir() / "FIX44.xml"))
        if not settings.has(self._stopper):
            settings.set(self._stopper, stopper)
        self._guard = LogonGuard()
        self._app = _Application(self)
        # QuickFIX keeps raw pointers to these: they must live as long as the acceptor.
        self._store_factory = fix.FileStoreFactory(settings)
        # The message log (every message in and out, session events) is for reading by
        # people; the journal and the message store are what the venue relies on. Sessions
        # with a password get a log that blanks it (QuickFIX's FileLog would not).
        self._log_factory = (
            MessageLogFactory(settings, Path(defaults.getString("FileLogPath")), self._credentials)
            if message_log
            else None
        )
        if self._log_factory is not None:
            acceptor = fix.SocketAcceptor(
                self._app, self._store_factory, settings, self._log_factory
            )
        else:
            acceptor = fix.SocketAcceptor(self._app, self._store_factory, settings)
        self._acceptor: fix.SocketAcceptor | None = acceptor
        # The hand-over socket is reached through a descriptor of its directory: a data
        # directory path may be longer than a Unix socket address allows (108 bytes).
        fix_dir = Path(defaults.getString("FileStorePath")).parent
        self._fix_dir_fd = os.open(fix_dir, os.O_PATH | os.O_DIRECTORY)
        self._handover = f"/proc/self/fd/{self._fix_dir_fd}/{HANDOVER_SOCKET}"
        self._gatekeeper = Gatekeeper(
            *listen,
            backend=self._handover,
            check=self.check_first_message,
            logon_timeout=defaults.getInt("LogonTimeout") if defaults.has("LogonTimeout") else 10,
            comp_id=self._sender,
            hop=hop,  # relay and frame every message (see gatekeeper.py), or dup2
            send_buffer=send_buffer,
        )
        self._started = False
        self._stopped = False

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen and serve (QuickFIX runs its own thread)."""
        if self._acceptor is None or self._stopped:
            raise RuntimeError("a stopped FixGateway cannot start again: make a new one")
        self._acceptor.start()
        self._started = True
        take_over_listener(self._port, self._handover)  # nobody but us reaches QuickFIX
        self._gatekeeper.start()  # after QuickFIX listens: it hands connections over

    @property
    def quickfix_port(self) -> int:
        """The TCP port QuickFIX binds, behind the gatekeeper (shut once it has started:
        QuickFIX then accepts on its private Unix socket only)."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: the gatekeeper's address, or QuickFIX's own port."""
        return self._gatekeeper.address

    def stop(self, force: bool = False, timeout: float = 10.0) -> None:
        """Log every session out and stop listening. Not restartable.

        Without force, logged-on counterparties get a Logout and up to `timeout` seconds to
        answer it; with force they are just disconnected. The sessions and their stores stay
        open: send() after stop() still stores the message, with its sequence number, for
        resending when the counterparty logs on to the next run.
        """
        self._gatekeeper.stop()
        if not self._started or self._acceptor is None:
            self._gatekeeper.close()
            return
        self._started = False
        self._stopped = True
        try:
            if not force:
                self._logout_all(timeout)  # through the hop, which still relays
            self._stop_acceptor(self._acceptor)
        finally:
            self._gatekeeper.close()

    def close(self) -> None:
        """stop(force=True) and free QuickFIX's objects now; send() then drops messages."""
        self.stop(force=True)
        self._stopped = True
        acceptor, self._acceptor = self._acceptor, None
        # The acceptor owns the sessions, which use the store and log factories: destroy it
        # first, while they are alive, rather than in whatever order garbage collection picks.
        del acceptor
        if self._log_factory is not None:
            self._log_factory.close()
        if self._fix_dir_fd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(self._handover)
            os.close(self._fix_dir_fd)
            self._fix_dir_fd = -1

    def _stop_acceptor(self, acceptor: fix.SocketAcceptor) -> None:
        """Acceptor.stop without QuickFIX 1.16's use-after-free.

        SocketAcceptor::stop shuts the listening socket down on this thread, which wakes
        the acceptor thread; if no session is logged on, that thread deletes the socket
        server while this one is still closing it (a segfault, seen in about one stop in
        five right after some traffic). While any session is logged on, the acceptor thread
        waits for it instead. So: log the internal session on, stop, and only then drop it.
        """
        connection = self._logon_stopper()
        if connection is None:
            log.warning("internal session %s did not log on; stopping anyway", STOPPER_COMP_ID)
            acceptor.stop(True)
            return
        release = threading.Timer(0.2, connection.close)
        release.start()
        try:
            acceptor.stop(True)
        finally:
            release.join()

    def _logon_stopper(self, timeout: float = 5.0) -> socket.socket | None:
        stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
        body = (
            f"35=A\x0149={STOPPER_COMP_ID}\x0156={self._sender}\x0134=1\x0152={stamp}\x01"
            "98=0\x01108=30\x01141=Y\x01"
        )
        head = f"8=FIX.4.4\x019={len(body)}\x01{body}".encode()
        logon = head + b"10=%03d\x01" % (sum(head) % 256)
        try:
            connection = connect_backend(self._handover, timeout=timeout)
            connection.sendall(logon)
        except OSError as exc:
            log.warning("internal logon failed: %s", exc)
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            session = fix.Session.lookupSession(self._stopper)
            if session is not None and session.isLoggedOn():
                return connection
            time.sleep(0.01)
        connection.close()
        return None

    def _logout_all(self, timeout: float) -> None:
        live = []
        for session_id in self._session_ids.values():
            session = fix.Session.lookupSession(session_id)
            if session is not None and session.isLoggedOn():
                session.logout("the venue is shutting down")
                live.append(session)
        deadline = time.monotonic() + timeout
        while any(s.isLoggedOn() for s in live) and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- sessions -------------------------------------------------------------------------

    @property
    def sessions(self) -> list[str]:
        """The configured counterparties' CompIDs."""
        return list(self._session_ids)

    def check_first_message(self, fields: Mapping[str, str], peer: str = "") -> Refusal | None:
        """Why a connection starting with this message must not reach QuickFIX (None: let
        it through). Runs on the gatekeeper's thread, which is also where credentials are
        checked (scrypt, ~50 ms: never on QuickFIX's thread) and failed logons counted
        per CompID and per peer address (LogonGuard)."""
        begin, sender, target = fields.get("8", ""), fields.get("49", ""), fields.get("56", "")
        msg_type = fields.get("35", "")
        if begin not in self._begin_strings.values():
            # A version the venue does not speak: it cannot be answered in it, and a client
            # of it would not read an answer in another. QuickFIX also just disconnects.
            return Refusal(f"unsupported BeginString(8) '{begin}'", silent=True)
        if msg_type != "A":
            return Refusal(f"the first message must be a Logon (35=A), not 35={msg_type}")
        if target != self._sender:
            return Refusal(f"unknown TargetCompID(56) '{target}': this venue is {self._sender}")
        if sender not in self._begin_strings:
            return Refusal(f"unknown SenderCompID(49) '{sender}': no session is configured for it")
        if begin != self._begin_strings[sender]:
            configured = self._begin_strings[sender]
            return Refusal(f"session {sender} is configured for {configured}, not {begin}")
        if begin == FIXT11 and fields.get("1137") != FIX50SP2:
            # QuickFIX closes in silence without it, and takes any other value without a
            # dictionary to check it against.
            given = fields.get("1137")
            told = "is required" if given is None else f"is {given}, which is not served here"
            return Refusal(f"DefaultApplVerID(1137) {told}: use 9 (FIX.5.0SP2)")
        shut = self._guard.refusal(sender, peer)
        if shut is not None:
            # Answered after a second: a guesser gets one answer per connection per second
            # instead of as many as it can open (each costs the gatekeeper's thread).
            return Refusal(shut, delay=SHUT_OUT_DELAY)
        credentials = self._credentials.get(sender)
        if credentials is None and (fields.get("554") or fields.get("925")):
            # It would be written in clear to QuickFIX's message log: refuse it unread.
            return Refusal(
                f"session {sender} has no credentials configured: "
                "log on without Password(554) and NewPassword(925)"
            )
        if self.logged_on(sender):
            # Not final: a client that reconnects at once may come before QuickFIX has seen
            # its previous connection close.
            return Refusal(f"session {sender} is already logged on", final=False)
        if credentials is not None:
            refused = check_logon(dict(fields), *credentials)
            if refused is not None:
                self._guard.failed(sender, peer)
                log.warning("logon refused for %s from %s: %s", sender, peer or "?", refused)
                return Refusal(f"Rejected Logon Attempt: {refused}")
            self._guard.succeeded(sender, peer)
        return None

    def begin_string(self, session: str) -> str:
        """The session's FIX version: "FIX.4.2", "FIX.4.4" or "FIXT.1.1" (FIX 5.0 SP2)."""
        return self._begin_strings[session]

    def timestamp_digits(self, session: str) -> int | None:
        """The session's TimestampPrecision (SendingTime; TransactTime follows it), or None."""
        return self._timestamp_digits.get(session)

    def logged_on(self, session: str) -> bool:
        found = fix.Session.lookupSession(self._session_ids[session])
        return found is not None and found.isLoggedOn()

    def session_state(self, session: str) -> dict[str, object]:
        """Logged on or not and the next sequence numbers, for the operator console."""
        found = fix.Session.lookupSession(self._session_ids[session])
        last_in = self._last_in.get(session)
        if found is None:
            return {"logged_on": False, "next_in": None, "next_out": None, "last_in": last_in}
        return {
            "logged_on": found.isLoggedOn(),
            "next_in": found.getExpectedTargetNum(),
            "next_out": found.getExpectedSenderNum(),
            "last_in": last_in,  # epoch seconds of the last message received, or None
        }

    def send(self, session: str, text: str) -> None:
        """Send one message built by the codec (placeholders for BodyLength and CheckSum).

        Callable from any thread. If the session is logged out the message is still stored
        with the next sequence number and is resent when the counterparty logs on again.
        Raises KeyError for a session that is not configured.
        """
        session_id = self._session_ids[session]
        if self._acceptor is None:
            log.error("gateway closed: message to %s dropped: %r", session, text)
            return
        self._send(session_id, text)

    @property
    def loaded_dictionaries(self) -> list[str]:
        """The data dictionary files send_grouped has loaded (each once)."""
        return list(self._dictionaries)

    def send_grouped(self, session: str, text: str) -> None:
        """send() for a message with repeating groups (market data): parsed with the
        session's data dictionary, without which QuickFIX sorts a group's fields by tag.
        Call from one thread (the dictionaries are cached unlocked)."""
        session_id = self._session_ids[session]
        if self._acceptor is None:
            log.error("gateway closed: message to %s dropped: %r", session, text)
            return
        dictionary = self._session_dictionaries.get(session)
        if dictionary is None:
            found = self._settings.get(session_id)
            key = "AppDataDictionary" if found.has("AppDataDictionary") else "DataDictionary"
            path = found.getString(key)
            if path not in self._dictionaries:
                self._dictionaries[path] = fix.DataDictionary(path)
            dictionary = self._session_dictionaries[session] = self._dictionaries[path]
        message = fix.Message()
        message.setString(text, False, dictionary)
        fix.Session.sendToTarget(message, session_id)

    @staticmethod
    def _send(session_id: fix.SessionID, text: str) -> None:
        message = fix.Message()
        # One parse, no validation; QuickFIX fills the header (CompIDs, MsgSeqNum,
        # SendingTime) and recomputes BodyLength and CheckSum when it sends.
        message.setString(text, False)
        fix.Session.sendToTarget(message, session_id)

    # -- callbacks (acceptor thread) ------------------------------------------------------

    def _created(self, session_id: fix.SessionID) -> None:
        begin = session_id.getBeginString().getValue()
        comp_id = session_id.getTargetCompID().getValue()
        if comp_id == STOPPER_COMP_ID:
            return
        # Keep our own copy: the callback's SessionID belongs to QuickFIX.
        own = fix.SessionID(begin, session_id.getSenderCompID().getValue(), comp_id)
        self._session_ids[comp_id] = own
        self._begin_strings[comp_id] = begin
        session_settings = self._settings.get(own)
        if session_settings.has("TimestampPrecision"):
            self._timestamp_digits[comp_id] = session_settings.getInt("TimestampPrecision")

    def _logged_on(self, session_id: fix.SessionID) -> None:
        comp_id = session_id.getTargetCompID().getValue()
        if comp_id == STOPPER_COMP_ID:
            return
        log.info("%s logged on", comp_id)
        # QuickFIX marks the session logged on only after its Logon answer is out; an
        # application message sent in between is stored but not written. Only if that
        # happened (_to_app saw one) does a Heartbeat show the client the gap at once, so it
        # asks for a resend; otherwise nothing of ours follows the Logon answer and the
        # sequence is the one a scripted session test expects. (Admin messages QuickFIX
        # sends in that window, a ResendRequest after a Logon numbered too high, are written.)
        self._logon_answers.pop(comp_id, None)
        if comp_id in self._stored_unsent:
            self._stored_unsent.discard(comp_id)
            begin = session_id.getBeginString().getValue()
            self._send(session_id, f"8={begin}\x019=0\x0135=0\x0110=000\x01")
        if self._on_logon is not None:
            self._on_logon(comp_id)

    def _to_admin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        """Note that our Logon answer is out and the session not yet logged on (_logged_on)."""
        header = message.getHeader()
        msg_type = header.getField(35)
        if msg_type == "A":
            comp_id = session_id.getTargetCompID().getValue()
            self._logon_answers[comp_id] = int(header.getField(34))
            self._stored_unsent.discard(comp_id)
        elif msg_type == "3":
            # QuickFIX follows a SendingTime accuracy Reject with a bare Logout: say why.
            comp_id = session_id.getTargetCompID().getValue()
            if message.isSetField(373) and message.getField(373) == "10":
                self._accuracy_rejected.add(comp_id)
            else:
                self._accuracy_rejected.discard(comp_id)
        elif msg_type == "5" and self._accuracy_rejected:
            comp_id = session_id.getTargetCompID().getValue()
            if comp_id in self._accuracy_rejected:
                self._accuracy_rejected.discard(comp_id)
                if not message.isSetField(58):
                    message.setField(fix.Text(self._accuracy_text))

    def _to_app(self, session_id: fix.SessionID) -> None:
        """An application message is being sent: in the logon window it is only stored."""
        if self._logon_answers:  # cheap test first: this runs for every report
            comp_id = session_id.getTargetCompID().getValue()
            if comp_id in self._logon_answers:
                self._stored_unsent.add(comp_id)

    def _logged_out(self, session_id: fix.SessionID) -> None:
        comp_id = session_id.getTargetCompID().getValue()
        self._logon_answers.pop(comp_id, None)
        if comp_id == STOPPER_COMP_ID:
            return
        log.info("%s logged out", comp_id)
        if self._on_logout is not None:
            self._on_logout(comp_id)

    def _from_app(self, text: str, session_id: fix.SessionID) -> bool:
        """Handle one application message; True means "unsupported message type"."""
        fields = parse(text)
        msg_type = fields.get("35", "")
        # The message's BeginString is its session's: QuickFIX refuses any other.
        fixt = fields.get("8") == FIXT11
        if fixt and fields.get("1128", FIX50SP2) != FIX50SP2:
            raise _WrongApplVerID()
        if msg_type in MD_MSG_TYPES and self._market_data is not None:
            return self._market_data_request(text, fields, msg_type, session_id)
        if msg_type not in ORDER_MSG_TYPES:
            if not fixt:
                return True
            # QuickFIX 1.16's own reject on FIXT.1.1 carries DefaultApplVerID(1137) in its
            # body, which a 5.0 SP2 client rejects: build it here instead.
            reject = business_reject(
                FIXT11, fields.get("34", ""), msg_type, "", UNSUPPORTED_MESSAGE_TYPE,
                f"Unsupported Message Type: MsgType(35)={msg_type} is not accepted here",
            )  # fmt: skip
            self._send(session_id, reject)
            return False
        session = fields.get("49", "")
        if not text.isascii() and _has_undecodable(text):
            # Bytes that are not UTF-8 cannot be journaled, echoed or stored as they came:
            # refuse the message without echoing any of its fields.
            reject = business_reject(
                self._begin_strings.get(session, "FIX.4.4"), fields.get("34", ""), msg_type,
                "", "0", "message refused: it contains bytes that are not valid UTF-8",
            )  # fmt: skip
            self._send(session_id, reject)
            return False
        if self._roles.get(session) is not Role.ORDER_ENTRY:
            reject = business_reject(
                self._begin_strings.get(session, "FIX.4.4"),
                fields.get("34", ""),
                msg_type,
                fields.get("11", ""),
                NOT_AUTHORIZED,
                f"session {session} is not authorized to enter orders",
            )
            self._send(session_id, reject)
            return False
        self._submit(decode(fields, session))
        return False

    def _market_data_request(
        self, text: str, fields: dict[str, str], msg_type: str, session_id: fix.SessionID
    ) -> bool:
        """V, x, c, e: served on market_data sessions only (spec/market-data.md)."""
        session = fields.get("49", "")
        if self._roles.get(session) is Role.MARKET_DATA:
            assert self._market_data is not None
            self._market_data(session, text)
            return False
        reject = business_reject(
            self._begin_strings.get(session, "FIX.4.4"), fields.get("34", ""), msg_type,
            fields.get("262", fields.get("320", fields.get("324", ""))), NOT_AUTHORIZED,
            f"session {session} is not authorized for market data: MsgType(35)={msg_type} "
            "is served on market_data sessions only",
        )  # fmt: skip
        self._send(session_id, reject)
        return False


class _WrongApplVerID(Exception):
    """An application message on FIXT.1.1 whose ApplVerID(1128) is not FIX.5.0SP2."""


def _has_undecodable(text: str) -> bool:
    """QuickFIX hands over invalid UTF-8 as lone surrogates; they cannot be encoded back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _Application(fix.Application):
    """QuickFIX callbacks (QuickFIX's names). Each catches everything: an exception that
    escapes, other than the FIX ones QuickFIX maps, ends the process."""

    def __init__(self, gateway: FixGateway) -> None:
        super().__init__()
        self._gateway = gateway

    def onCreate(self, session_id: fix.SessionID) -> None:
        try:
            self._gateway._created(session_id)
        except Exception:
            log.exception("onCreate %s", session_id)

    def onLogon(self, session_id: fix.SessionID) -> None:
        try:
            self._gateway._logged_on(session_id)
        except Exception:
            log.exception("onLogon %s", session_id)

    def onLogout(self, session_id: fix.SessionID) -> None:
        try:
            self._gateway._logged_out(session_id)
        except Exception:
            log.exception("onLogout %s", session_id)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            self._gateway._to_admin(message, session_id)
        except Exception:
            log.exception("toAdmin %s", session_id)

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        # credentials were checked by the gatekeeper, before QuickFIX read the Logon
        self._gateway._last_in[session_id.getTargetCompID().getValue()] = time.time()
        _check_poss_dup(message.toString())

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        # Market data is never resent after a reconnect: QuickFIX gap-fills it instead and
        # the consumer subscribes again (spec/market-data.md).
        header = message.getHeader()
        possdup = header.isSetField(43) and header.getField(43) == "Y"
        if possdup and header.getField(35) in FEED_MSG_TYPES:
            raise fix.DoNotSend()
        try:
            self._gateway._to_app(session_id)
        except Exception:
            log.exception("toApp %s", session_id)

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self._gateway._last_in[session_id.getTargetCompID().getValue()] = time.time()
        unsupported = False
        text = message.toString()
        _check_poss_dup(text)
        _check_group_types(text)
        try:
            unsupported = self._gateway._from_app(text, session_id)
        except _WrongApplVerID:
            # Session-level Reject, SessionRejectReason 5 (value incorrect) on tag 1128:
            # only FIX.5.0SP2 is served, and QuickFIX has no dictionary for the others.
            raise fix.IncorrectTagValue(1128) from None
        except Exception:
            # A bug on our side: log it, keep the session. The client gets no answer to this
            # message; the log line has what is needed to find out why.
            log.exception("fromApp failed on %s: %r", session_id, _safe_text(message))
        if unsupported:
            raise fix.UnsupportedMessageType()


def _check_poss_dup(text: str) -> None:
    """PossDupFlag(43)=Y needs OrigSendingTime(122), not later than SendingTime(52).

    QuickFIX 1.16 checks this only on a MsgSeqNum that is too low; the venue checks every
    message. Raises the FIX exceptions QuickFIX answers with a Reject: missing 122 ->
    373=1 on an admin message (380=5 BusinessMessageReject on an application message),
    122 after 52 -> 373=5 naming 122. The message is not processed."""
    if "\x0143=Y\x01" not in text:
        return
    fields = parse(text)
    orig = fields.get("122")
    if not orig:
        raise fix.FieldNotFound(122)
    # UTCTimestamps of one format compare as text; pad the shorter fraction.
    if orig.ljust(24, "0") > fields.get("52", "").ljust(24, "0"):
        raise fix.IncorrectTagValue(122)


# Integer fields inside the repeating groups an order message may carry (Parties): QuickFIX
# 1.16 checks the types of top-level fields only, not of fields inside a group.
_GROUP_INT_TAGS = frozenset(("452", "802", "803"))
_GROUP_START = ("\x01453=", "\x01802=")


def _check_group_types(text: str) -> None:
    """An integer field of a repeating group that is not an integer: Reject 373=6."""
    if not any(start in text for start in _GROUP_START):
        return
    for tag, value in _ALL_FIELDS.findall(text):
        if tag in _GROUP_INT_TAGS and not (value.isdigit() and value.isascii()):
            raise fix.IncorrectDataFormat(int(tag))


_ALL_FIELDS = re.compile("([^=\x01]*)=([^\x01]*)\x01")


def _safe_text(message: fix.Message) -> str:
    try:
        return message.toString().replace("\x01", "|")
    except Exception:
        return "<unreadable message>"
