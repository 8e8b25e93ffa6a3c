"""Keep the console's Books page open in headless Chromium (a viewer for benchmarks).

Waits for the console to be ready, logs in, opens /books (live by SSE) and stays there
until SIGTERM or Ctrl-C; then prints how many book updates the page received.

    VENUE_CONSOLE_PORT=8780 VENUE_REFERENCE_CONFIG=with-operators.toml \\
        .venv/bin/python scripts/loadgen.py --targets venue &
    .venv/bin/python scripts/console_watch.py --port 8780 --operator alice --password ...
"""

from __future__ import annotations

import signal
import time
import urllib.request

import click
from playwright.sync_api import sync_playwright


@click.command()
@click.option("--port", type=int, required=True)
@click.option("--operator", required=True)
@click.option("--password", required=True)
@click.option("--wait", default=120.0, help="Seconds to wait for the console.")
def main(port: int, operator: str, password: str, wait: float) -> None:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"console at {url} not ready after {wait}s")
        time.sleep(0.2)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page()
        page.goto(url + "/login")
        page.fill("input[name=operator]", operator)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/books")
        page.evaluate(
            "window.updates = 0; document.body.addEventListener("
            "'htmx:sseMessage', () => window.updates++)"
        )
        print(f"watching {url}/books", flush=True)
        started = time.monotonic()
        try:
            while not stop["now"]:
                page.wait_for_timeout(500)
        except KeyboardInterrupt:
            pass
        updates = page.evaluate("window.updates")
        took = time.monotonic() - started
        print(f"book updates received: {updates} in {took:.1f}s ({updates / took:.1f}/s)")
        browser.close()


if __name__ == "__main__":
    main()
