"""The operator console's login and refusals (Starlette's TestClient, real SQLite), and its
controls and readiness against a real venue over the real control channel.

Browser tests of the pages are in test_console_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from console_fixtures import OPERATOR, PASSWORD
from fix_fixtures import find_free_port
from fixclient import FixClient
from sqlalchemy import text
from starlette.testclient import TestClient

from venue.console.app import create_app
from venue.console.auth import load_operators
from venue.store.db import make_engine, migrate

PAGES = ["/", "/books", "/trades", "/sessions", "/orders", "/controls", "/latency"]


@pytest.fixture
def make_client(tmp_path: Path, sqlite_url: str, operator_hash: str):
    engine = make_engine(sqlite_url)
    migrate(engine)  # as the venue does at its start
    engine.dispose()

    def make(
        data_dir: Path | None = None, db_url: str | None = None, metrics_port: int | None = None
    ) -> TestClient:
        directory = data_dir or tmp_path / "data"
        directory.mkdir(exist_ok=True)
        app = create_app(
            directory, db_url or sqlite_url, {OPERATOR: operator_hash}, metrics_port=metrics_port
        )
        return TestClient(app, follow_redirects=False)

    return make


def csrf_of(client: TestClient) -> str:
    """The session's CSRF token, as the login page's form carries it."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, path: str, data: dict[str, str] | None = None):
    """A form POST as the console's own pages send it: with the session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf": csrf_of(client)})


def log_in(client: TestClient, password: str = PASSWORD, operator: str = OPERATOR):
    return post(client, "/login", {"operator": operator, "password": password})


def test_health_answers_without_a_login_and_ready_says_no_venue(make_client):
    client = make_client()
    assert client.get("/health").json() == {"status": "up"}
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert "venue not reachable" in ready.json()["reason"]
    assert client.get("/login").status_code == 200
    assert client.get("/static/htmx.min.js").status_code == 200  # shipped, no CDN


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_the_login_without_one(make_client, path):
    response = make_client().get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/events/books"),
        ("POST", "/controls/halt"),
        ("POST", "/controls/bust"),
        ("GET", "/nonexistent"),
    ],
)
def test_everything_else_is_refused_with_401_without_a_login(make_client, method, path):
    response = make_client().request(method, path, data={"symbol": "AAPL"})
    assert response.status_code == 401
    assert response.text == "login required"


def test_a_wrong_password_or_unknown_operator_is_refused_and_gives_no_session(make_client):
    client = make_client()
    for operator, password in ((OPERATOR, "wrong"), ("mallory", PASSWORD)):
        refused = log_in(client, password, operator)
        assert refused.status_code == 401
        assert "wrong operator name or password" in refused.text
        assert client.get("/books").status_code == 303


def test_failed_logins_back_off_per_operator(make_client):
    client = make_client()
    for _ in range(4):
        assert log_in(client, "wrong").status_code == 401
    shut = log_in(client)  # the right password, but the name is shut for a while
    assert shut.status_code == 401
    assert "too many failed logins for alice" in shut.text


def test_a_login_opens_the_pages_and_a_logout_closes_them(make_client):
    client = make_client()
    response = log_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/books"
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    for path in PAGES[1:]:
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'id="operator">alice<' in page.text
    assert post(client, "/logout").status_code == 303
    assert client.get("/books").status_code == 303


def test_a_forged_or_foreign_cookie_is_refused(make_client, tmp_path):
    client = make_client()
    log_in(client)
    good = client.cookies["venue_console"]
    # Another console (another data dir, so another secret) does not take this cookie.
    other = make_client(data_dir=tmp_path / "other")
    other.cookies.set("venue_console", good)
    assert other.get("/books").status_code == 303
    forged = make_client()
    forged.cookies.set("venue_console", good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB"))
    assert forged.get("/books").status_code == 303


def test_the_secret_is_private(make_client, tmp_path):
    make_client()
    assert (tmp_path / "data" / "console.secret").stat().st_mode & 0o077 == 0


def test_operators_come_from_the_venue_toml(console_reference, operator_hash):
    assert load_operators(console_reference) == {OPERATOR: operator_hash}


def test_controls_reach_the_venue_as_the_operator_and_are_journaled(
    make_client, venue_factory, sqlite_url, fix_client_factory
):
    venue = venue_factory(database_url=sqlite_url)
    client = make_client(data_dir=venue.data_dir)
    assert client.get("/ready").json()["ready"] is True
    log_in(client)
    bad = post(client, "/controls/kill", {"scope": "planet", "key": "x"})
    assert bad.status_code == 400 and "scope must be one of" in bad.text
    halted = post(client, "/controls/halt", {"symbol": "AAPL"})
    assert "ok: AAPL halted" in halted.text
    c2: FixClient = fix_client_factory("CLIENT2")
    c2.new_order("h1", "AAPL", "2", 100, "189.00")
    c2.expect("8", ClOrdID="h1", ExecType="8", Text="AAPL is halted")
    refused = post(client, "/controls/halt", {"symbol": "NOPE"})
    assert "refused:" in refused.text
    assert "ok: AAPL resumed" in post(client, "/controls/resume", {"symbol": "AAPL"}).text
    venue.wait_until_projected()
    with venue.db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT text, detail FROM order_events "
                "WHERE event_type = 'OperatorActionApplied' ORDER BY seq"
            )
        ).all()
    assert [r.text for r in rows][:1] == [
        "AAPL halted: new orders and replaces rejected, resting orders stay"
    ]
    assert len(rows) == 3 and all('"alice"' in r.detail for r in rows)


def test_metrics_need_no_login_and_show_the_venue_and_the_console(
    make_client, venue_factory, sqlite_url, fix_client_factory
):
    venue = venue_factory(database_url=sqlite_url)
    client = make_client(data_dir=venue.data_dir)
    fix_client_factory("CLIENT1")
    log_in(client)
    post(client, "/controls/halt", {"symbol": "IBM"})
    client.get("/nothing-here")
    lines = client.get("/metrics").text.splitlines()
    for line in (
        "venue_up 1.0",
        "venue_instruments_halted 1.0",
        "venue_fix_sessions_logged_on 1.0",
        'venue_console_http_requests_total{route="/login",status="303"} 1.0',
        'venue_console_http_requests_total{route="other",status="404"} 1.0',
        "venue_console_status_queries_total 1.0",
    ):
        assert line in lines, line
    assert any(x.startswith("venue_console_status_query_seconds_bucket") for x in lines)
    venue.stop()
    assert "venue_up 0.0" in make_client(data_dir=venue.data_dir).get("/metrics").text


def test_venue_run_starts_the_console_as_its_own_process_when_the_port_is_set(tmp_path):
    port, fix_port = find_free_port(), find_free_port()
    env = {**os.environ, "VENUE_CONSOLE_PORT": str(port)}
    command = [sys.executable, "-m", "venue.cli", "run", "--port", str(fix_port),
               "--data-dir", str(tmp_path / "data")]  # fmt: skip
    venue = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 60, None
        while ready is None and time.monotonic() < deadline and venue.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    ready = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert ready is not None and ready["ready"] is True, "console never got ready"
        children = subprocess.run(
            ["ps", "-o", "args=", "--ppid", str(venue.pid)], capture_output=True, text=True
        ).stdout
        assert "venue.cli console" in children  # a child process, not a thread of the venue
    finally:
        venue.send_signal(signal.SIGTERM)
        output = venue.communicate(timeout=60)[0].decode()
    assert venue.returncode == 0, output
    assert "venue stopped" in output
    with pytest.raises(OSError):  # the console went with it
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_latency_page_charts_the_venues_histograms_and_sessions_show_drop_copy_lag(
    make_client, venue_factory, sqlite_url, fix_client_factory
):
    port = find_free_port()
    venue = venue_factory(database_url=sqlite_url, metrics_port=port)
    client = make_client(data_dir=venue.data_dir, metrics_port=port)
    log_in(client)
    c1: FixClient = fix_client_factory("CLIENT1")
    c1.new_order("l1", "AAPL", "1", 100, "189.00")
    c1.expect("8", ClOrdID="l1", ExecType="0")
    c1.new_order("l2", "NOSUCH", "1", 100, "1.00")
    c1.expect("8", ClOrdID="l2", ExecType="8")
    time.sleep(0.05)  # the observation follows the send by a moment
    page = client.get("/latency", headers={"HX-Request": "true"}).text
    for name in ("venue_inbound_to_report_seconds", "venue_journal_fsync_seconds"):
        chart = page.split(f'id="chart-{name}"', 1)[1].split('<div class="chartbox"', 1)[0]
        assert chart.count("<svg") == 2 and 'class="hbar"' in chart, name
    inbound = page.split('id="chart-venue_inbound_to_report_seconds"', 1)[1]
    assert '<tr class="total"><td class="l">since start</td><td>2</td>' in inbound
    assert "UNKNOWN_SYMBOL</td><td>1</td>" in page
    sessions = client.get("/sessions", headers={"HX-Request": "true"}).text
    row = sessions.split('id="session-DROPCOPY"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="lag">2</td>' in row  # the ack and the reject, owed while logged off
    mine = sessions.split('id="session-CLIENT1"', 1)[1].split("</tr>", 1)[0]
    stamp = mine.split('<td class="l lastin">', 1)[1].split("</td>", 1)[0]
    heard = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - heard).total_seconds()) < 30  # CLIENT1's last message
    silent = sessions.split('id="session-CLIENT2"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="l lastin"></td>' in silent  # never connected
    snapshots = sessions.split('id="snapshots"', 1)[1].split("</p>", 1)[0]
    lag = venue.status()["snapshots"]["lag_records"]
    assert lag >= 2 and f'<b class="snaplag">{lag}</b> records after it' in snapshots
    assert "by the replica" in snapshots and "replica not started yet" in snapshots
    venue.stop()
    gone = client.get("/latency", headers={"HX-Request": "true"}).text
    assert 'id="latency-error"' in gone and "not reachable" in gone


def test_latency_page_says_when_the_venue_serves_no_metrics(make_client):
    client = make_client()
    log_in(client)
    assert "start it with VENUE_METRICS_PORT set" in client.get("/latency").text


def test_books_page_draws_cumulative_depth_and_the_phase(
    make_client, venue_factory, sqlite_url, fix_client_factory
):
    venue = venue_factory(database_url=sqlite_url)
    client = make_client(data_dir=venue.data_dir)
    log_in(client)
    c1: FixClient = fix_client_factory("CLIENT1")
    for cl, side, qty, px in (("d1", "1", 300, "419.50"), ("d2", "1", 200, "419.40"),
                              ("d3", "2", 100, "420.50")):  # fmt: skip
        c1.new_order(cl, "MSFT", side, qty, px)
        c1.expect("8", ClOrdID=cl, ExecType="0")
    book = client.get("/books").text.split('id="book-MSFT"', 1)[1].split('<div class="book"')[0]
    assert 'class="depth bid"' in book and "bids: 500 in 2 levels" in book  # cumulative
    assert 'class="depth ask"' in book and "asks: 100 in 1 levels" in book
    assert "phase <b>continuous trading</b>" in book
    assert 'spread <b class="spread">1.00</b>' in book
    post(client, "/controls/halt", {"symbol": "MSFT"})
    time.sleep(0.6)  # the status query is conflated to 2 a second
    book = client.get("/books").text.split('id="book-MSFT"', 1)[1].split('<div class="book"')[0]
    assert "phase <b>halted</b>" in book and "HALTED" in book
    assert "no orders" in client.get("/books").text.split('id="book-IBM"', 1)[1]
    one = client.get("/books/MSFT").text
    assert 'id="book-MSFT"' in one and 'id="book-IBM"' not in one
    assert 'sse-connect="/events/books?symbol=MSFT"' in one
    assert client.get("/books/NOPE").status_code == 404
    assert make_client().get("/books/MSFT").status_code == 303  # no login: to the login page


def test_every_form_post_needs_the_sessions_csrf_token(make_client, venue_factory, sqlite_url):
    venue = venue_factory(database_url=sqlite_url)
    client = make_client(data_dir=venue.data_dir)
    # Login itself: no token (a cross-site form, a script without the page) is refused.
    bare = client.post("/login", data={"operator": OPERATOR, "password": PASSWORD})
    assert bare.status_code == 403 and "CSRF token" in bare.text
    before = csrf_of(client)
    assert log_in(client).status_code == 303
    token = csrf_of(client)
    assert token != before  # a new token for the logged-in session
    page = client.get("/controls").text
    assert page.count(f'name="csrf" value="{token}"') == 1 + 7  # logout + every control
    for path, data in (("/controls/halt", {"symbol": "AAPL"}), ("/logout", {})):
        for given in ({}, {"csrf": before}, {"csrf": token + "x"}):
            refused = client.post(path, data={**data, **given})
            assert refused.status_code == 403, (path, given)
    assert venue.status()["books"]["AAPL"]["halted"] is False  # nothing reached the venue
    by_header = client.post("/controls/halt", data={"symbol": "AAPL"},
                            headers={"X-CSRF-Token": token})  # fmt: skip
    assert "ok: AAPL halted" in by_header.text  # htmx sends it as a header too
    assert client.get("/books").status_code == 200  # still logged in
    # Another session's token does not open this one.
    other = make_client(data_dir=venue.data_dir)
    log_in(other)
    assert client.post("/logout", data={"csrf": csrf_of(other)}).status_code == 403
    assert post(client, "/logout").status_code == 303


def test_ready_checks_recovery_the_journal_and_the_fix_port(make_client, venue_factory, sqlite_url):
    venue = venue_factory(database_url=sqlite_url)
    client = make_client(data_dir=venue.data_dir)
    ready = client.get("/ready")
    assert ready.status_code == 200
    checks = {"recovered": True, "journal_writable": True, "fix_port_accepting": True}
    assert ready.json()["checks"] == checks
    # The journal failed (what a write error sets): not ready, and it says why.
    venue.failed.set()
    time.sleep(0.6)  # past the conflated status
    failed = client.get("/ready")
    assert failed.status_code == 503
    assert failed.json()["checks"]["journal_writable"] is False
    assert "not journal writable" in failed.json()["reason"]
    venue.failed.clear()
    # The FIX port stops accepting (the gateway stopped), the control channel still answers.
    venue.gateway.stop(force=True)
    time.sleep(0.6)
    closed = client.get("/ready")
    assert closed.status_code == 503
    assert closed.json()["checks"] == {**checks, "fix_port_accepting": False}
    assert "not accepting" in closed.json()["reason"]
