"""The rules of engagement, played: every scenario under spec/scenarios/ runs twice, the same
text both times:

- in process, on venue.testing.harness (codec, kernel, journal and report path of the live
  venue, a fake gateway, the injected clock): milliseconds each. Scenarios that need
  QuickFIX's session layer or the gatekeeper (a 35=3 reject, a refused logon) are left out.
- on a live venue over FIX (SQLite), one FixClient per session it names: most share one
  venue, each with its own copies of the demo instruments (AAPL -> AAPL<n>), its leftovers
  canceled and the trading day ended after it; those that change what would outlive them
  (firm or session limits, trade ids, drop-copy sessions) get a venue of their own.

The scenario format is described in spec/scenarios/README.md. In short, one step a line:

    # Title of the rule (rules-of-engagement.md#section)      first line: what it proves
    CLIENT1 -> D 11=a1 55=AAPL 54=1 38=100 40=2 44=190 59=0   send (60 and 4.2's 21 added)
    CLIENT1 <- 8 11=a1 150=0 39=0 37=$buy 17=*                the next application message
    CLIENT1 <- nothing                                         nothing more arrives (*)
    CLIENT1 disconnect | logout | logon                        session events
    NOBODY logon refused 58="..."                             Logout (tags checked), closed
    $ venue ctl halt AAPL                                      an operator command (the CLI)
    VENUE end-of-day                                           the trading day ends now
    xfail: bug: ...                                            a known bug (strict xfail)

Only the tags listed on a `<-` line are checked: `tag=value` exact, `tag=*` present,
`tag=-` absent, `tag=$name` binds a name on first use and must match it afterwards (a
`$name` in a send is replaced by its value).

(*) proved by positive signals, not by silence: live, a TestRequest round trip on every
session, a command through the kernel, another round trip on the session; in process, the
harness has delivered everything once a call returns.

A second group of tests keeps the document and the scenarios together: every scenario is
linked from rules-of-engagement.md, in the section its title names, and every link from the
document to a scenario points at a file that exists.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner
from fix_fixtures import find_free_port
from fixclient import FixClient, FixTimeout, Message, describe

from venue.app import Venue, now_us
from venue.cli import main as venue_cli
from venue.config import FIX_CONFIG_DIR, VenueSettings
from venue.domain.commands import ExpireDayOrders, OperatorAction, SessionDisconnected
from venue.testing.harness import Harness

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
DOC = SPEC_DIR / "rules-of-engagement.md"
SCENARIO_DIR = SPEC_DIR / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.txt"))

ADMIN_MSG_TYPES = frozenset(["0", "1", "2", "4", "5", "A"])  # session housekeeping, never checked
RECEIVE_TIMEOUT = 5.0  # seconds a `<-` line waits for its message
_CLOCK = re.compile(r"@now(?P<sign>[+-])(?P<secs>\d+)s|(?P<today>@today)")
NEEDS_TRANSACT_TIME = frozenset(["D", "F", "G", "q"])
NEEDS_HANDL_INST_42 = frozenset(["D", "G"])
_TITLE = re.compile(r"^#\s*(?P<title>.+?)\s*\(rules-of-engagement\.md#(?P<anchor>[\w-]+)\)\s*$")


# -- the format -----------------------------------------------------------------------------


class ScenarioError(Exception):
    """The scenario file itself is malformed."""


@dataclass(frozen=True)
class Step:
    line: int
    text: str  # the line as written, for messages
    actor: str  # a session's CompID, "$" (operator) or "VENUE"
    kind: str  # send | expect | nothing | logon | logon-refused | disconnect | logout | ctl | eod
    msg_type: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()


@dataclass
class Scenario:
    path: Path
    title: str
    anchor: str
    steps: list[Step]
    xfail: str = ""  # reason, when the scenario shows a known bug

    @property
    def name(self) -> str:
        return self.path.name


def _fields(tokens: list[str], where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for token in tokens:
        tag, sep, value = token.partition("=")
        if not sep or not tag.isdigit():
            raise ScenarioError(f"{where}: {token!r} is not tag=value")
        out.append((tag, value))
    return tuple(out)


def parse_scenario(path: Path) -> Scenario:
    lines = path.read_text().splitlines()
    title = _TITLE.match(lines[0]) if lines else None
    if title is None:
        raise ScenarioError(
            f"{path.name}:1: the first line must be '# Title (rules-of-engagement.md#section)'"
        )
    scenario = Scenario(path, title["title"], title["anchor"], [])
    for number, raw in enumerate(lines[1:], start=2):
        where = f"{path.name}:{number}"
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("xfail:"):
            scenario.xfail = text.removeprefix("xfail:").strip()
            continue
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        if not tokens:
            continue
        actor, rest = tokens[0], tokens[1:]
        step: Step
        if actor == "$":
            if rest[:2] != ["venue", "ctl"] or len(rest) < 3:
                raise ScenarioError(f"{where}: operator lines read '$ venue ctl <command> ...'")
            step = Step(number, text, "$", "ctl", args=tuple(rest[2:]))
        elif actor == "VENUE":
            if rest != ["end-of-day"]:
                raise ScenarioError(f"{where}: the only VENUE step is 'VENUE end-of-day'")
            step = Step(number, text, "VENUE", "eod")
        elif rest[:1] == ["->"] and len(rest) >= 2:
            step = Step(number, text, actor, "send", rest[1], _fields(rest[2:], where))
        elif rest == ["<-", "nothing"]:
            step = Step(number, text, actor, "nothing")
        elif rest[:1] == ["<-"] and len(rest) >= 2:
            step = Step(number, text, actor, "expect", rest[1], _fields(rest[2:], where))
        elif rest in (["logon"], ["disconnect"], ["logout"]):
            step = Step(number, text, actor, rest[0])
        elif rest[:2] == ["logon", "refused"]:
            step = Step(number, text, actor, "logon-refused", "5", _fields(rest[2:], where))
        else:
            raise ScenarioError(f"{where}: cannot read {text!r}")
        scenario.steps.append(step)
    if not scenario.steps:
        raise ScenarioError(f"{path.name}: no steps")
    return scenario


# -- playing --------------------------------------------------------------------------------


class ScenarioFailed(AssertionError):
    pass


class Backend:
    """Where a scenario is played: the live venue over TCP, or the in-process harness."""

    def begin_string(self, session: str) -> str:
        raise NotImplementedError

    def connected(self, session: str) -> bool:
        raise NotImplementedError

    def logon(self, session: str) -> None:
        """First logon with ResetSeqNumFlag=Y; later ones keep sequence numbers."""
        raise NotImplementedError

    def logon_refused(self, session: str) -> list[Message]:
        """A Logon the venue must refuse: what it answered before closing."""
        raise NotImplementedError

    def disconnect(self, session: str) -> None:
        raise NotImplementedError

    def logout(self, session: str) -> None:
        raise NotImplementedError

    def send(self, session: str, msg_type: str, fields: list[tuple[int, str]]) -> None:
        raise NotImplementedError

    def next_app_message(self, session: str, timeout: float) -> Message | None:
        """The session's next application message, or None if none comes."""
        raise NotImplementedError

    def rest(self, session: str) -> list[Message]:
        """Every further application message the venue has for the session by now (for
        `<- nothing`), established by a positive signal, never by waiting for silence."""
        raise NotImplementedError

    def ctl(self, args: list[str]) -> None:
        raise NotImplementedError

    def end_of_day(self) -> None:
        raise NotImplementedError

    def utc_now(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LiveBackend(Backend):
    """FixClients over TCP to a started Venue (in this process, so that `<- nothing` can
    use the kernel as a barrier)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.clients: dict[str, FixClient] = {}
        self.pending: dict[str, list[Message]] = {}  # received during another's `nothing`

    def begin_string(self, session: str) -> str:
        try:
            return self.venue.gateway.begin_string(session)
        except KeyError:
            return "FIX.4.4"  # not configured: the venue will not answer anyway

    def connected(self, session: str) -> bool:
        client = self.clients.get(session)
        return client is not None and client.logged_on

    def logon(self, session: str) -> None:
        client = self.clients.get(session)
        if client is None:
            self.clients[session] = self._connect(session)
        else:  # back after a disconnect: sequence numbers kept, missed reports resent
            self._relogon(client)

    def _connect(self, session: str) -> FixClient:
        """First logon; on a shared venue the previous scenario's connection of this
        session may not be noticed closed yet: try again for a few seconds."""
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while True:
            try:
                return FixClient.connect(
                    self.venue.settings.port, session, self.begin_string(session)
                )
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @staticmethod
    def _relogon(client: FixClient) -> None:
        """Log on again, as a FIX engine does: if the venue has not yet noticed that the
        previous connection closed, it drops the new one; try again for a few seconds."""
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while True:
            try:
                client.reconnect(reset=False)
                return
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def logon_refused(self, session: str) -> list[Message]:
        client = FixClient(
            self.venue.settings.port, session, self.begin_string(session), "VENUE", 30
        )
        try:
            client.reconnect(reset=True)
        except ConnectionError:
            return client.received
        finally:
            client.close()
        raise ScenarioFailed("expected the logon to be refused, it was accepted")

    def disconnect(self, session: str) -> None:
        self.clients[session].close()

    def logout(self, session: str) -> None:
        self.clients[session].logout()

    def send(self, session: str, msg_type: str, fields: list[tuple[int, str]]) -> None:
        self.clients[session].send(msg_type, fields)

    def next_app_message(self, session: str, timeout: float) -> Message | None:
        if self.pending.get(session):
            return self.pending[session].pop(0)
        client = self.clients[session]
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = client.receive(remaining)
            except FixTimeout:
                return None
            if msg.get(35) not in ADMIN_MSG_TYPES:
                return msg
        return None

    def _round_trip(self, client: FixClient) -> list[Message]:
        """TestRequest -> Heartbeat with its TestReqID: what arrives before it."""
        return [m for m in client.sync(RECEIVE_TIMEOUT) if m.get(35) not in ADMIN_MSG_TYPES]

    def rest(self, session: str) -> list[Message]:
        """QuickFIX serves each session's messages in order: a TestRequest round trip on
        every connected session puts what they sent before into the kernel's inbox; a
        command through the kernel (one that changes nothing) then releases every report
        before it; a second round trip on this session brings in what was sent to it."""
        for name, client in self.clients.items():
            if client.logged_on:
                self.pending.setdefault(name, []).extend(self._round_trip(client))
        self.venue.execute(SessionDisconnected(BARRIER_SESSION))
        extra = self.pending.pop(session, [])
        return extra + self._round_trip(self.clients[session])

    def ctl(self, args: list[str]) -> None:
        args = ["ctl", "--data-dir", str(self.venue.data_dir), "--operator", "spec", *args]
        result = CliRunner().invoke(venue_cli, args)
        if result.exit_code != 0:
            raise ScenarioFailed(f"venue ctl failed (exit {result.exit_code}): {result.output}")

    def end_of_day(self) -> None:
        self.venue.execute(ExpireDayOrders(now_us() + 1))

    def utc_now(self) -> str:
        return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()) + ".000"

    def close(self) -> None:
        """Log every session out, and wait until the venue has seen it (so that the next
        scenario on a shared venue can log the same sessions on)."""
        for client in self.clients.values():
            if client.logged_on:
                client.logout(timeout=RECEIVE_TIMEOUT)
            client.close()
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while any(
            self.venue.gateway.logged_on(s)
            for s in self.clients
            if s in self.venue.gateway.sessions
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)


class HarnessBackend(Backend):
    """The in-process harness: no sockets, no waiting, the injected clock."""

    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.logged: set[str] = set()
        self.pending: dict[str, list[Message]] = {}

    def begin_string(self, session: str) -> str:
        return self.h.begin_string(session)

    def connected(self, session: str) -> bool:
        return session in self.logged

    def logon(self, session: str) -> None:
        self.h.logon(session)
        self.logged.add(session)

    def logon_refused(self, session: str) -> list[Message]:
        raise ScenarioFailed("logon refusals are the gatekeeper's: live venue only")

    def disconnect(self, session: str) -> None:
        self.logged.discard(session)
        self.h.disconnect(session)

    def logout(self, session: str) -> None:
        self.logged.discard(session)
        self.h.logout(session)

    def send(self, session: str, msg_type: str, fields: list[tuple[int, str]]) -> None:
        self.h.send(session, msg_type, fields)

    def next_app_message(self, session: str, timeout: float) -> Message | None:
        queue = self.pending.setdefault(session, [])
        queue += [m for m in self.h.received(session) if m.get(35) not in ADMIN_MSG_TYPES]
        return queue.pop(0) if queue else None

    def rest(self, session: str) -> list[Message]:
        out = []
        while (msg := self.next_app_message(session, 0)) is not None:
            out.append(msg)
        return out

    def ctl(self, args: list[str]) -> None:
        try:
            self.h.ctl(*args, operator="spec")
        except AssertionError as exc:
            raise ScenarioFailed(str(exc)) from None

    def end_of_day(self) -> None:
        self.h.end_of_day()

    def utc_now(self) -> str:
        ts = self.h.clock()
        return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ts // 1_000_000)) + ".000"

    def close(self) -> None:
        self.h.close()


SYMBOLS = ("AAPL", "MSFT", "IBM", "TSLA", "SPY")
_SYMBOL = re.compile(r"\b(" + "|".join(SYMBOLS) + r")\b")


@dataclass
class Player:
    """Plays one scenario on a backend. rename maps the demo symbols to this scenario's own
    (on a shared live venue); names are `$name` bindings."""

    backend: Backend
    scenario: Scenario
    rename: Callable[[str], str] = lambda text: text
    names: dict[str, str] = field(default_factory=dict)  # $name -> value
    seen: dict[str, list[Message]] = field(default_factory=dict)  # per session, checked so far

    def play(self) -> None:
        try:
            for step in self.scenario.steps:
                try:
                    self._run(step)
                except ScenarioFailed as exc:
                    if str(exc).startswith(str(self.scenario.path.relative_to(SPEC_DIR.parent))):
                        raise
                    self.fail(step, str(exc))
        finally:
            self.backend.close()

    def fail(self, step: Step, problem: str, received: list[Message] | None = None) -> NoReturn:
        rel = self.scenario.path.relative_to(SPEC_DIR.parent)
        lines = [f"{rel}:{step.line}: {step.text}", f"  {problem}"]
        if step.actor in self.seen:
            history = self.seen[step.actor] + (received or [])
            lines.append(f"  {step.actor} received in this scenario ({len(history)}):")
            lines += [f"    {describe(m)}" for m in history] or ["    (nothing)"]
        raise ScenarioFailed("\n".join(lines))

    def _run(self, step: Step) -> None:
        handlers: dict[str, Callable[[Step], None]] = {
            "send": self._send,
            "expect": self._expect,
            "nothing": self._nothing,
            "logon": self._logon,
            "logon-refused": self._logon_refused,
            "disconnect": self._disconnect,
            "logout": self._logout,
            "ctl": self._ctl,
            "eod": self._end_of_day,
        }
        handlers[step.kind](step)

    # -- sessions

    def _session(self, step: Step) -> str:
        if step.actor not in self.seen:
            self._logon(step)
        elif not self.backend.connected(step.actor):
            self.fail(step, f"{step.actor} is not logged on (add '{step.actor} logon')")
        return step.actor

    def _logon(self, step: Step) -> None:
        try:
            self.backend.logon(step.actor)
        except (ConnectionError, FixTimeout, KeyError) as exc:
            self.fail(step, f"logon failed: {exc}")
        self.seen.setdefault(step.actor, [])

    def _logon_refused(self, step: Step) -> None:
        try:
            answers = self.backend.logon_refused(step.actor)
        except FixTimeout as exc:
            self.fail(step, f"expected a Logout, the connection stayed open: {exc}")
        if len(answers) != 1:
            said = "; ".join(describe(m) for m in answers) or "nothing"
            self.fail(step, f"expected one Logout, then the connection closed; got: {said}")
        problems = self._mismatches(step, answers[0])
        if problems:
            self.fail(step, f"received {describe(answers[0])}\n  " + "\n  ".join(problems))

    def _disconnect(self, step: Step) -> None:
        self.backend.disconnect(self._session(step))

    def _logout(self, step: Step) -> None:
        self.backend.logout(self._session(step))

    # -- messages

    def _value(self, step: Step, value: str) -> str:
        clock = _CLOCK.fullmatch(value)
        if clock is not None:  # @now+2s: a UTC timestamp; @today: the UTC date
            if clock["today"]:
                return time.strftime("%Y%m%d", time.gmtime())
            when = time.time() + int(clock["sign"] + clock["secs"])
            return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(when)) + ".000"
        if value.startswith("$"):
            if value not in self.names:
                self.fail(step, f"{value} is used before a '<-' line binds it")
            return self.names[value]
        return self.rename(value)

    def _send(self, step: Step) -> None:
        session = self._session(step)
        fields = [(int(tag), self._value(step, value)) for tag, value in step.fields]
        tags = {tag for tag, _ in fields}
        if step.msg_type in NEEDS_TRANSACT_TIME and 60 not in tags:
            fields.append((60, self.backend.utc_now()))
        if (
            self.backend.begin_string(session) == "FIX.4.2"
            and step.msg_type in NEEDS_HANDL_INST_42
            and 21 not in tags
        ):
            fields.append((21, "1"))
        self.backend.send(session, step.msg_type, fields)

    def _expect(self, step: Step) -> None:
        session = self._session(step)
        try:
            msg = self.backend.next_app_message(session, RECEIVE_TIMEOUT)
        except ConnectionError as exc:
            self.fail(step, f"connection lost: {exc}")
        want = f"35={step.msg_type} " + " ".join(f"{t}={v}" for t, v in step.fields)
        if msg is None:
            self.fail(step, f"expected {want}\n  received nothing within {RECEIVE_TIMEOUT}s")
        problems = self._mismatches(step, msg)
        if problems:
            self.fail(
                step,
                f"expected {want}\n  received {describe(msg)}\n  " + "\n  ".join(problems),
                [msg],
            )
        self.seen[step.actor].append(msg)

    def _mismatches(self, step: Step, msg: Message) -> list[str]:
        out = []
        if msg.get(35) != step.msg_type:
            out.append(f"35: expected {step.msg_type!r}, received {msg.get(35)!r}")
        bound: dict[str, str] = {}
        for tag_text, want in step.fields:
            tag = int(tag_text)
            got = msg.get(tag)
            if want == "*":
                if got is None:
                    out.append(f"{tag}: expected present, absent")
            elif want == "-":
                if got is not None:
                    out.append(f"{tag}: expected absent, received {got!r}")
            elif want.startswith("$") and want not in self.names:
                if got is None:
                    out.append(f"{tag}: expected present (to bind {want}), absent")
                else:
                    bound[want] = got
            else:
                expected = self._value(step, want)
                if got != expected:
                    shown = f"{want} = {expected!r}" if want.startswith("$") else repr(expected)
                    out.append(f"{tag}: expected {shown}, received {got!r}")
        if not out:
            self.names.update(bound)
        return out

    def _nothing(self, step: Step) -> None:
        session = self._session(step)
        try:
            extra = self.backend.rest(session)
        except ConnectionError as exc:
            self.fail(step, f"connection lost: {exc}")
        except FixTimeout as exc:
            self.fail(step, f"no answer to a TestRequest: {exc}")
        if extra:
            lines = "\n  ".join(describe(m) for m in extra)
            self.fail(step, f"expected nothing more, received:\n  {lines}", extra)

    # -- the operator and the clock

    def _ctl(self, step: Step) -> None:
        self.backend.ctl([self.rename(arg) for arg in step.args])

    def _end_of_day(self, step: Step) -> None:
        self.backend.end_of_day()


# -- where each scenario runs ------------------------------------------------------------------

BARRIER_SESSION = "SPEC-BARRIER"  # no such session: disconnecting it changes nothing


def needs_session_layer(scenario: Scenario) -> bool:
    """QuickFIX's dictionary checks (35=3 rejects), the gatekeeper's logon refusals and the
    venue's own timer (a GTD expiring at `@now+Ns` of the wall clock) are not in the harness:
    such scenarios run on the live venue only."""
    return any(
        s.kind == "logon-refused"
        or (s.kind == "expect" and s.msg_type == "3")
        or any(_CLOCK.fullmatch(value) and "now" in value for _, value in s.fields)
        for s in scenario.steps
    )


def needs_own_venue(scenario: Scenario) -> bool:
    """Scenarios that change what outlives them on a shared venue (firm and session limits,
    trade ids, drop-copy markers) get a fresh live venue; the others share one, each with
    its own copies of the demo instruments."""
    for step in scenario.steps:
        if step.actor.startswith("DROPCOPY"):
            return True
        if step.kind == "ctl" and (
            step.args[:1] == ("bust",)
            or step.args[:2] in (("set-limit", "firm"), ("set-limit", "session"))
        ):
            return True
    return False


def _scenarios() -> list[tuple[Path, Scenario | str]]:
    out: list[tuple[Path, Scenario | str]] = []
    for path in SCENARIOS:
        try:
            out.append((path, parse_scenario(path)))
        except ScenarioError as exc:
            out.append((path, f"spec/scenarios/{exc}"))
    return out


def _params(where: str) -> list[object]:
    """One test per scenario file; a file that cannot be read fails its own test only."""
    params: list[object] = []
    for path, scenario in _scenarios():
        if isinstance(scenario, Scenario):
            if where == "harness" and needs_session_layer(scenario):
                continue
            shared = not needs_own_venue(scenario)
            if where == "shared" and not shared or where == "own" and shared:
                continue
        elif where != "own":
            continue
        marks = []
        if isinstance(scenario, Scenario) and scenario.xfail:
            marks.append(
                pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=scenario.xfail)
            )
        params.append(pytest.param(scenario, id=path.stem, marks=marks))
    return params


def _play(player: Player) -> None:
    failure = ""
    try:
        player.play()
    except ScenarioFailed as exc:
        failure = str(exc)
    if failure:
        pytest.fail(failure, pytrace=False)


@pytest.mark.parametrize("scenario", _params("harness"))
def test_scenario_holds_in_process(scenario: Scenario, tmp_path: Path) -> None:
    _play(Player(HarnessBackend(Harness(tmp_path / "data")), scenario))


@pytest.mark.parametrize("scenario", _params("own"))
def test_scenario_holds_on_its_own_live_venue(
    scenario: Scenario | str, venue_factory: Callable[..., Venue]
) -> None:
    if isinstance(scenario, str):
        pytest.fail(f"cannot read the scenario: {scenario}", pytrace=False)
    venue = venue_factory()  # SQLite under the test's tmp dir, fresh books and sequences
    _play(Player(LiveBackend(venue), scenario))


def shared_reference(path: Path, count: int) -> Path:
    """venue.toml with count copies of each demo instrument: AAPL -> AAPL1, AAPL2, ..."""
    text = (FIX_CONFIG_DIR / "venue.toml").read_text()
    blocks = re.split(r"(?m)^(?=\[)", text)
    out = []
    for block in blocks:
        match = re.match(r"\[instruments\.(\w+)\]", block)
        if match is None:
            out.append(block)
            continue
        out.append(block)
        for n in range(1, count + 1):
            out.append(
                block.replace(f"[instruments.{match[1]}]", f"[instruments.{match[1]}{n}]", 1)
            )
    path.write_text("".join(out))
    return path


_SHARED = [p.values[0] for p in _params("shared")]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def shared_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    home = tmp_path_factory.mktemp("shared-venue")
    reference = shared_reference(home / "venue.toml", len(_SHARED))
    venue = Venue(
        VenueSettings(port=find_free_port(), data_dir=home / "data", reference_config=reference)  # type: ignore[call-arg]
    )
    venue.start()
    yield venue
    venue.stop()


@pytest.mark.parametrize("scenario", _params("shared"))
def test_scenario_holds_on_a_shared_live_venue(scenario: Scenario, shared_venue: Venue) -> None:
    """Each scenario on the one venue gets its own instruments (AAPL -> AAPL<n>); what it
    leaves in the books is canceled and the trading day ended after it."""
    n = _SHARED.index(scenario) + 1
    try:
        _play(
            Player(
                LiveBackend(shared_venue), scenario, rename=lambda v: _SYMBOL.sub(rf"\g<1>{n}", v)
            )
        )
    finally:
        shared_venue.execute(OperatorAction("spec", "cancel_all", "venue", "", "", None))
        shared_venue.execute(ExpireDayOrders(now_us() + 1))


def test_there_are_scenarios_for_at_least_twenty_rules() -> None:
    assert len(SCENARIOS) >= 20, f"only {len(SCENARIOS)} scenarios under {SCENARIO_DIR}"


# -- document <-> scenarios ------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
_SCENARIO_LINK = re.compile(r"\]\((scenarios/[^)#\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\[|\]\([^)]*\)", "", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def doc_sections() -> dict[str, str]:
    """anchor -> the section's text, down to the next heading of the same or a higher level
    (so a section includes its subsections)."""
    lines = DOC.read_text().splitlines()
    headings = []
    in_code = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            headings.append((i, len(match[1]), slug(match[2])))
    sections = {}
    for n, (start, level, anchor) in enumerate(headings):
        end = next((i for i, lv, _ in headings[n + 1 :] if lv <= level), len(lines))
        sections[anchor] = "\n".join(lines[start:end])
    return sections


def test_every_scenario_is_linked_from_the_section_it_proves() -> None:
    sections = doc_sections()
    problems = []
    for path in SCENARIOS:
        try:
            scenario = parse_scenario(path)
        except ScenarioError as exc:
            problems.append(str(exc))
            continue
        link = f"scenarios/{path.name}"
        section = sections.get(scenario.anchor)
        if section is None:
            problems.append(f"{path.name}: no section #{scenario.anchor} in {DOC.name}")
        elif f"({link})" not in section:
            problems.append(f"{path.name}: section #{scenario.anchor} does not link {link}")
    assert not problems, "\n".join(problems)


def test_every_scenario_link_in_the_document_points_at_a_scenario() -> None:
    links = set(_SCENARIO_LINK.findall(DOC.read_text()))
    missing = sorted(link for link in links if not (SPEC_DIR / link).is_file())
    assert links, f"{DOC.name} links no scenario"
    assert not missing, f"{DOC.name} links scenarios that do not exist: {missing}"


def test_every_link_to_a_section_of_the_document_resolves() -> None:
    anchors = set(doc_sections())
    text = DOC.read_text()
    broken = sorted(set(re.findall(r"\]\(#([\w-]+)\)", text)) - anchors)
    assert not broken, f"{DOC.name} links sections that do not exist: {broken}"


def test_scenario_parser_reads_every_step_kind(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text(
        "# A rule (rules-of-engagement.md#a-rule)\n"
        "xfail: bug: something\n"
        "CLIENT1 -> D 11=a 44=190  # trailing comment\n"
        'CLIENT1 <- 8 11=a 150=0 37=$id 17=* 20=- 58="two words"\n'
        "CLIENT1 <- nothing\n"
        "CLIENT1 disconnect\nCLIENT1 logon\nCLIENT1 logout\nNOBODY logon refused 58=*\n"
        "$ venue ctl set-limit firm FIRM1 stp_mode A\n"
        "VENUE end-of-day\n"
    )

    scenario = parse_scenario(path)

    assert (scenario.title, scenario.anchor, scenario.xfail) == (
        "A rule",
        "a-rule",
        "bug: something",
    )
    kinds = [s.kind for s in scenario.steps]
    assert kinds == [
        "send", "expect", "nothing", "disconnect", "logon", "logout", "logon-refused", "ctl", "eod",
    ]  # fmt: skip
    assert scenario.steps[0].fields == (("11", "a"), ("44", "190"))
    assert scenario.steps[1].fields[-1] == ("58", "two words")
    assert scenario.steps[7].args == ("set-limit", "firm", "FIRM1", "stp_mode", "A")


def test_scenario_parser_rejects_a_file_without_its_rule(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("CLIENT1 -> D 11=a\n")

    with pytest.raises(ScenarioError, match="first line"):
        parse_scenario(path)
