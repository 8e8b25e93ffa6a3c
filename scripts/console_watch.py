"""Keep the console's Books page open in headless Chromium (a viewer for benchmarks).

Waits for the console to be ready, logs in, opens a page (default /books, live by SSE;
/books/AAPL: one book) and stays there until SIGTERM or Ctrl-C; then prints how many
updates the page received. --ready-file is created once the page has had its first
update (scripts/bench_console.py starts measuring then).

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
@click.option("--page", "path", default="/books", help="The page to watch.")
@click.option("--ready-file", type=click.Path(dir_okay=False), help="Touched at the first update.")
def main(
    port: int, operator: str, password: str, wait: float, path: str, ready_file: str | None
) -> None:
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
        # Count from the page's first script on, so the first push is never missed.
        page.add_init_script(
            "window.updates = 0; for (const kind of ['htmx:sseMessage', 'htmx:afterRequest'])"
            " document.addEventListener(kind, () => window.updates++)"
        )
        page.goto(url + "/login")
        page.fill("input[name=operator]", operator)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/books")
        if path != "/books":
            page.goto(url + path)
        print(f"watching {url}{path}", flush=True)
        started = time.monotonic()
        try:
            while ready_file and not stop["now"] and not page.evaluate("window.updates"):
                page.wait_for_timeout(100)
            if ready_file:
                open(ready_file, "w").close()  # noqa: SIM115
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
