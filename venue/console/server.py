"""Run the console: `venue console` (uvicorn in this process, which is not the venue's),
and the child process `venue run` starts when VENUE_CONSOLE_PORT is set."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from venue.config import VenueSettings
from venue.console.settings import ConsoleSettings

log = logging.getLogger("venue.console")


def serve(venue: VenueSettings, console: ConsoleSettings) -> None:
    import uvicorn  # here, not at import: `venue run` imports this module for start_child

    from venue.console.app import create_app
    from venue.console.auth import load_operators

    operators = load_operators(venue.reference_config)
    if not operators:
        log.warning("no [console.operators] in %s: nobody can log in", venue.reference_config)
    app = create_app(venue.data_dir, venue.db_url, operators, console, venue.metrics_port)
    print(f"console on http://{console.host}:{console.port}/", flush=True)
    # Open SSE streams never end by themselves: give them 2 s at a shutdown, then close.
    uvicorn.run(
        app, host=console.host, port=console.port, log_level="warning",
        timeout_graceful_shutdown=2,
    )  # fmt: skip


def start_child(data_dir: Path) -> subprocess.Popen[bytes] | None:
    """`venue run`: the console as a child process when VENUE_CONSOLE_PORT is set."""
    if not os.environ.get("VENUE_CONSOLE_PORT"):
        return None
    command = [sys.executable, "-m", "venue.cli", "console", "--data-dir", str(data_dir)]
    return subprocess.Popen(command)


def stop_child(child: subprocess.Popen[bytes] | None) -> None:
    if child is None:
        return
    child.terminate()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
