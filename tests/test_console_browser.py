"""The operator console in headless Chromium (Debian's `chromium`, driven by Playwright's
Python package; nothing is downloaded): a real venue, real FIX clients over TCP, the
console in its own process as `venue console` runs it.

Screenshots of every page (Books live and halted, Trades, Sessions, Orders, Controls,
Latency) go to the test's tmp dir (<basetemp>/test_console_in_a_browser0/screenshots);
with VENUE_UPDATE_SCREENSHOTS=1 the book page also replaces docs/console-book.png (the
README shows it), so a test run never edits the checkout by default.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_fixtures import OPERATOR, PASSWORD
from fix_fixtures import find_free_port

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
BUY, SELL = "1", "2"
WAIT_MS = 20_000  # the page must show it within this (positive signal, generous)


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            "the console's browser tests need Debian's chromium at /usr/bin/chromium: "
            "apt-get update && apt-get install -y chromium (.ci/run does it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def console_url(venue_factory, sqlite_url, console_reference, tmp_path) -> Iterator[str]:
    """A venue on SQLite with console operators and metrics, and `venue console` beside it."""
    metrics_port = find_free_port()
    venue = venue_factory(
        database_url=sqlite_url, reference_config=console_reference, metrics_port=metrics_port
    )
    port = find_free_port()
    env = {
        **os.environ,
        "VENUE_DATABASE_URL": sqlite_url,
        "VENUE_REFERENCE_CONFIG": str(console_reference),
        "VENUE_CONSOLE_PORT": str(port),
        "VENUE_METRICS_PORT": str(metrics_port),
    }
    log = open(tmp_path / "console.log", "wb")  # noqa: SIM115 (closed below)
    child = subprocess.Popen(
        [sys.executable, "-m", "venue.cli", "console", "--data-dir", str(venue.data_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            log.close()
            pytest.fail(f"console did not get ready: {(tmp_path / 'console.log').read_text()}")
        time.sleep(0.1)
    yield url
    child.terminate()
    try:
        child.wait(15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        log.close()


def test_console_in_a_browser(browser, console_url, fix_client_factory, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # Without a login: every page sends you to the login page, actions get 401.
    stranger = browser.new_page()
    stranger.goto(console_url + "/trades")
    assert stranger.url == console_url + "/login"
    assert (
        stranger.request.post(console_url + "/controls/halt", form={"symbol": "AAPL"}).status == 401
    )
    assert stranger.request.get(console_url + "/events/books").status == 401
    stranger.screenshot(path=shots / "login.png")
    stranger.fill("input[name=operator]", OPERATOR)
    stranger.fill("input[name=password]", "not the password")
    stranger.click("button[type=submit]")
    stranger.wait_for_selector("#login-error")
    assert "wrong operator name or password" in stranger.inner_text("#login-error")
    stranger.close()

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(console_url + "/books")
    assert page.url == console_url + "/login"
    page.fill("input[name=operator]", OPERATOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(console_url + "/books")
    assert page.inner_text("#operator") == OPERATOR
    # Logged in, but a POST without the page's CSRF token (what a forged form sends) is refused.
    forged = page.request.post(console_url + "/controls/halt", form={"symbol": "AAPL"})
    assert forged.status == 403 and "CSRF token" in forged.text()

    # An order appears in the book, live (SSE), and a trade on the tape.
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    c1.new_order("rest", "AAPL", BUY, 300, "189.50")
    c1.expect("8", ClOrdID="rest", ExecType="0")
    c2.new_order("ask", "AAPL", SELL, 200, "190.50")
    c2.expect("8", ClOrdID="ask", ExecType="0")
    aapl = page.locator("#book-AAPL")
    bid = aapl.locator("tr.bid", has_text="189.50")
    bid.wait_for(timeout=WAIT_MS)
    assert "300" in bid.inner_text()
    assert "200" in aapl.locator("tr.ask", has_text="190.50").inner_text()
    c2.new_order("hit", "AAPL", SELL, 100, "189.50")
    c2.expect("8", ClOrdID="hit", ExecType="0")
    hit_fill = c2.expect("8", ClOrdID="hit", ExecType="F", LastQty="100", LastPx="189.5")
    rest_fill = c1.expect("8", ClOrdID="rest", ExecType="F", LastQty="100")
    aapl.locator(".last", has_text="189.50").wait_for(timeout=WAIT_MS)
    aapl.locator("tr.bid", has_text="200").wait_for(timeout=WAIT_MS)  # 300 - 100 left
    for cl, client, side, qty, px in (
        ("b2", c1, BUY, 500, "189.40"), ("b3", c1, BUY, 150, "189.30"),
        ("a2", c2, SELL, 800, "190.60"), ("a3", c2, SELL, 350, "190.75"),
    ):  # fmt: skip
        client.new_order(cl, "AAPL", side, qty, px)
        client.expect("8", ClOrdID=cl, ExecType="0")
    aapl.locator("tr.ask", has_text="190.75").wait_for(timeout=WAIT_MS)
    aapl.locator("tr.bid", has_text="189.30").wait_for(timeout=WAIT_MS)
    # Beside the ladder, cumulative depth as SVG, live: 200 + 500 + 150 bid, 200 + 800 + 350 ask.
    aapl.locator("svg.depth polygon.bid", has_text="bids: 850 in 3 levels").wait_for(
        timeout=WAIT_MS
    )
    aapl.locator("svg.depth polygon.ask", has_text="asks: 1350 in 3 levels").wait_for(
        timeout=WAIT_MS
    )
    assert "continuous trading" in aapl.locator(".phase").inner_text()
    page.screenshot(path=shots / "books.png", full_page=True)
    if os.environ.get("VENUE_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=REPO / "docs" / "console-book.png", full_page=True)

    # One book's page: only that book, and pushed only when it changed.
    page.goto(console_url + "/books/AAPL")
    aapl.locator("tr.bid", has_text="189.30").wait_for(timeout=WAIT_MS)
    assert page.locator(".book").count() == 1
    page.evaluate(
        "window.pushes = 0; document.body.addEventListener('htmx:sseMessage', () => pushes++)"
    )
    page.wait_for_timeout(2000)  # four refresh intervals with nothing new in the venue
    assert page.evaluate("window.pushes") == 0
    c1.new_order("b4", "AAPL", BUY, 70, "189.20")
    c1.expect("8", ClOrdID="b4", ExecType="0")
    aapl.locator("tr.bid", has_text="189.20").wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.pushes") >= 1
    page.screenshot(path=shots / "book-AAPL.png", full_page=True)

    page.goto(console_url + "/trades")
    row = page.locator("#trades tr.active", has_text="AAPL")
    row.wait_for(timeout=WAIT_MS)  # the projector may need a moment; the page polls
    assert "FIRM1" in row.inner_text() and "FIRM2" in row.inner_text()
    assert "189.50" in row.inner_text()
    trade_id = row.get_attribute("data-trade")
    page.fill("input[name=symbol]", "MSFT")
    page.click("#trade-filter button")
    page.locator("#trades", has_text="no trades").wait_for(timeout=WAIT_MS)
    page.fill("input[name=symbol]", "")
    page.fill("input[name=firm]", "FIRM2")
    page.click("#trade-filter button")
    page.locator("#trades tr.active", has_text="AAPL").wait_for(timeout=WAIT_MS)
    page.screenshot(path=shots / "trades.png", full_page=True)

    page.goto(console_url + "/sessions")
    assert page.inner_text("#session-CLIENT1 .logged") == "yes"
    assert page.inner_text("#session-CLIENT3 .logged") == "no"
    # No drop copy is logged on: each is owed the copies of what traded (DROPCOPY: all firms).
    assert int(page.inner_text("#session-DROPCOPY .lag")) >= 9
    assert page.inner_text("#session-CLIENT1 .lag") == ""
    page.screenshot(path=shots / "sessions.png", full_page=True)

    page.goto(console_url + "/latency")
    for name in ("venue_inbound_to_report_seconds", "venue_journal_fsync_seconds"):
        chart = page.locator(f"#chart-{name}")
        chart.locator("svg.histogram rect.hbar").first.wait_for(timeout=WAIT_MS)
        assert int(chart.locator("tr.total td").nth(1).inner_text()) > 0, name
    # The trend needs two scrapes with traffic between them; the page polls every 2 s.
    c1.new_order("lat", "AAPL", BUY, 10, "180.00")
    c1.expect("8", ClOrdID="lat", ExecType="0")
    page.locator("#chart-venue_inbound_to_report_seconds svg.trend circle.p99").first.wait_for(
        timeout=WAIT_MS
    )
    assert "UNKNOWN" not in page.inner_text("#rejects")  # none yet: the halt comes later
    page.screenshot(path=shots / "latency.png", full_page=True)

    page.goto(console_url + "/orders?id=rest")
    life = page.locator("#order-life")
    for event in ("OrderAccepted", "TradeExecuted"):
        assert event in life.inner_text()
    page.screenshot(path=shots / "orders.png", full_page=True)

    # Halt from the page (behind a confirmation), the FIX client is rejected, then resume.
    dialogs: list[str] = []

    def confirm(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    page.goto(console_url + "/controls")
    page.select_option("#halt-form select[name=symbol]", "AAPL")
    page.click("#halt-form button")
    page.locator("#result-text", has_text="AAPL halted").wait_for(timeout=WAIT_MS)
    assert dialogs == ["Halt this instrument?"]
    page.screenshot(path=shots / "controls.png", full_page=True)
    c2.new_order("during", "AAPL", SELL, 100, "189.50")
    c2.expect("8", ClOrdID="during", ExecType="8", Text="AAPL is halted")
    page.goto(console_url + "/books")
    aapl.locator(".halted").wait_for(timeout=WAIT_MS)
    assert "phase halted" in aapl.locator(".phase").inner_text()
    page.screenshot(path=shots / "books-halted.png", full_page=True)

    page.goto(console_url + "/controls")
    page.select_option("#resume-form select[name=symbol]", "AAPL")
    page.click("#resume-form button")
    page.locator("#result-text", has_text="AAPL resumed").wait_for(timeout=WAIT_MS)
    c2.new_order("after", "AAPL", SELL, 100, "189.50")
    c2.expect("8", ClOrdID="after", ExecType="0")
    c2.expect("8", ClOrdID="after", ExecType="F")

    # Bust the first trade from the page: both sides get ExecType H, the tape marks it.
    page.goto(console_url + "/controls")
    page.fill("#bust-form input[name=trade_id]", str(trade_id))
    page.fill("#bust-form input[name=reason]", "typo")
    page.click("#bust-form button")
    why = f"trade {trade_id} busted by {OPERATOR}: typo"
    page.locator("#result-text", has_text=why).wait_for(timeout=WAIT_MS)
    assert dialogs[-1] == "Bust this trade? Both sides get ExecType H."
    for client, fill in ((c2, hit_fill), (c1, rest_fill)):
        busted = client.wait_for(lambda m: m.get(150) == "H", what="the bust report")
        assert (busted.get(19), busted.get(32), busted.get(58)) == (fill.get(17), "100", why)
    page.goto(console_url + "/trades")
    page.locator(f"#trades tr.busted[data-trade='{trade_id}']").wait_for(timeout=WAIT_MS)
    assert "BUSTED" in page.inner_text(f"#trades tr[data-trade='{trade_id}']")
    page.screenshot(path=shots / "trades-busted.png", full_page=True)

    # The rejected order's life in the audit trail says why.
    page.goto(console_url + "/orders?id=during")
    assert "AAPL is halted" in page.inner_text("#order-life")
    page.goto(console_url + "/latency")
    page.locator("#rejects", has_text="HALTED").wait_for(timeout=WAIT_MS)
    for name in ("login", "books", "trades", "sessions", "orders", "controls", "latency"):
        assert (shots / f"{name}.png").stat().st_size > 0
