"""The rules of engagement, played: every scenario under spec/scenarios/ runs against a fresh
live venue (SQLite), over FIX, with one FixClient per session it names.

The scenario format is described in spec/scenarios/README.md. In short, one step a line:

    # Title of the rule (rules-of-engagement.md#section)      first line: what it proves
    CLIENT1 -> D 11=a1 55=AAPL 54=1 38=100 40=2 44=190 59=0   send (60 and 4.2's 21 added)
    CLIENT1 <- 8 11=a1 150=0 39=0 37=$buy 17=*                the next application message
    CLIENT1 <- nothing                                         nothing more arrives (0.3 s)
    CLIENT1 disconnect | logout | logon                        session events
    NOBODY logon refused 58="..."                             Logout (tags checked), closed
    $ venue ctl halt AAPL                                      an operator command (the CLI)
    VENUE end-of-day                                           the trading day ends now
    xfail: bug: ...                                            a known bug (strict xfail)

Only the tags listed on a `<-` line are checked: `tag=value` exact, `tag=*` present,
`tag=-` absent, `tag=$name` binds a name on first use and must match it afterwards (a
`$name` in a send is replaced by its value).

A second group of tests keeps the document and the scenarios together: every scenario is
linked from rules-of-engagement.md, in the section its title names, and every link from the
document to a scenario points at a file that exists.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner
from fixclient import FixClient, FixTimeout, Message, describe

from venue.app import Venue, now_us
from venue.cli import main as venue_cli
from venue.domain.commands import ExpireDayOrders

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
DOC = SPEC_DIR / "rules-of-engagement.md"
SCENARIO_DIR = SPEC_DIR / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.txt"))

ADMIN_MSG_TYPES = frozenset(["0", "1", "2", "4", "5", "A"])  # session housekeeping, never checked
RECEIVE_TIMEOUT = 5.0  # seconds a `<-` line waits for its message
_CLOCK = re.compile(r"@now(?P<sign>[+-])(?P<secs>\d+)s|(?P<today>@today)")
QUIET = 0.3  # seconds of silence that prove `<- nothing`
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


@dataclass
class Player:
    """Plays one scenario against a started venue."""

    venue: Venue
    scenario: Scenario
    clients: dict[str, FixClient] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # $name -> value
    seen: dict[str, list[Message]] = field(default_factory=dict)  # per session, checked so far

    def play(self) -> None:
        try:
            for step in self.scenario.steps:
                self._run(step)
        finally:
            for client in self.clients.values():
                client.close()

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

    def _begin_string(self, session: str) -> str:
        try:
            return self.venue.gateway.begin_string(session)
        except KeyError:
            return "FIX.4.4"  # not configured: the venue will not answer anyway

    def _client(self, step: Step) -> FixClient:
        client = self.clients.get(step.actor)
        if client is None:
            self._logon(step)
            client = self.clients[step.actor]
        elif not client.logged_on:
            self.fail(step, f"{step.actor} is not logged on (add '{step.actor} logon')")
        return client

    def _logon(self, step: Step) -> None:
        client = self.clients.get(step.actor)
        try:
            if client is None:
                client = FixClient.connect(
                    self.venue.settings.port, step.actor, self._begin_string(step.actor)
                )
                self.clients[step.actor] = client
                self.seen[step.actor] = []
            else:  # back after a disconnect: sequence numbers kept, missed reports resent
                self._relogon(client)
        except (ConnectionError, FixTimeout) as exc:
            self.fail(step, f"logon failed: {exc}")

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
                time.sleep(0.1)

    def _logon_refused(self, step: Step) -> None:
        client = FixClient(
            self.venue.settings.port, step.actor, self._begin_string(step.actor), "VENUE", 30
        )
        try:
            client.reconnect(reset=True)
        except ConnectionError:
            answers = client.received
            if len(answers) != 1:
                said = "; ".join(describe(m) for m in answers) or "nothing"
                self.fail(step, f"expected one Logout, then the connection closed; got: {said}")
            problems = self._mismatches(step, answers[0])
            if problems:
                self.fail(step, f"received {describe(answers[0])}\n  " + "\n  ".join(problems))
            return
        except FixTimeout as exc:
            self.fail(step, f"expected a Logout, the connection stayed open: {exc}")
        finally:
            client.close()
        self.fail(step, "expected the logon to be refused, it was accepted")

    def _disconnect(self, step: Step) -> None:
        self._client(step).close()

    def _logout(self, step: Step) -> None:
        self._client(step).logout()

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
        return value

    def _send(self, step: Step) -> None:
        client = self._client(step)
        fields = [(int(tag), self._value(step, value)) for tag, value in step.fields]
        tags = {tag for tag, _ in fields}
        if step.msg_type in NEEDS_TRANSACT_TIME and 60 not in tags:
            fields.append((60, client.utc_now()))
        if (
            client.begin_string == "FIX.4.2"
            and step.msg_type in NEEDS_HANDL_INST_42
            and 21 not in tags
        ):
            fields.append((21, "1"))
        client.send(step.msg_type, fields)

    def _next_app_message(self, client: FixClient, timeout: float) -> Message | None:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = client.receive(remaining)
            except FixTimeout:
                return None
            if msg.get(35) not in ADMIN_MSG_TYPES:
                return msg
        return None

    def _expect(self, step: Step) -> None:
        client = self._client(step)
        try:
            msg = self._next_app_message(client, RECEIVE_TIMEOUT)
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
        client = self._client(step)
        extra = []
        try:
            while (msg := self._next_app_message(client, QUIET)) is not None:
                extra.append(msg)
        except ConnectionError as exc:
            self.fail(step, f"connection lost: {exc}")
        if extra:
            lines = "\n  ".join(describe(m) for m in extra)
            self.fail(step, f"expected nothing more, received:\n  {lines}", extra)

    # -- the operator and the clock

    def _ctl(self, step: Step) -> None:
        args = ["ctl", "--data-dir", str(self.venue.data_dir), "--operator", "spec", *step.args]
        result = CliRunner().invoke(venue_cli, args)
        if result.exit_code != 0:
            self.fail(step, f"venue ctl failed (exit {result.exit_code}): {result.output}")

    def _end_of_day(self, step: Step) -> None:
        self.venue.execute(ExpireDayOrders(now_us() + 1))


# -- the tests ------------------------------------------------------------------------------


def _params() -> list[object]:
    """One test per scenario file; a file that cannot be read fails its own test only."""
    params: list[object] = []
    for path in SCENARIOS:
        try:
            scenario: Scenario | str = parse_scenario(path)
        except ScenarioError as exc:
            scenario = f"spec/scenarios/{exc}"
        marks = []
        if isinstance(scenario, Scenario) and scenario.xfail:
            marks.append(
                pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=scenario.xfail)
            )
        params.append(pytest.param(scenario, id=path.stem, marks=marks))
    return params


@pytest.mark.parametrize("scenario", _params())
def test_scenario_holds_on_the_live_venue(
    scenario: Scenario | str, venue_factory: Callable[..., Venue]
) -> None:
    if isinstance(scenario, str):
        pytest.fail(f"cannot read the scenario: {scenario}", pytrace=False)
    venue = venue_factory()  # SQLite under the test's tmp dir, fresh books and sequences

    failure = ""
    try:
        Player(venue, scenario).play()
    except ScenarioFailed as exc:
        failure = str(exc)
    if failure:
        pytest.fail(failure, pytrace=False)


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
