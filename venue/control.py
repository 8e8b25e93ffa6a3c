"""The operator's control channel: a Unix socket in the data directory.

Only the local user who can read `<data_dir>/control.token` (mode 0600) can act: every
request carries the token, compared in constant time. A request is one JSON line
{"token", "operator", "command": {...}}; the answer is one JSON line {"ok", "text",
"events"}. The command goes through the kernel like any order, so it is journaled and
lands in the audit trail with the operator's name.

A read-only request {"token", "query": "status"} instead of a command answers
{"ok", "status": {...}}: books by level, halts, kill switches, limits and sessions (see
venue/status.py); nothing is journaled. The operator console polls it (`query`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from venue.domain import serde
from venue.domain.commands import BustTrade, Command, OperatorAction
from venue.domain.events import Event, OperatorActionApplied
from venue.domain.ids import TradeId

log = logging.getLogger("venue.control")

SOCKET_NAME = "control.sock"
TOKEN_NAME = "control.token"
# How often the server loop looks for a stop request (socketserver waits this long at
# most in shutdown(); its default, 0.5 s, added up to that to every venue stop).
POLL = 0.02


def ensure_token(data_dir: Path) -> str:
    """The control token, created on first start; always left readable by its owner only."""
    path = data_dir / TOKEN_NAME
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def socket_path(data_dir: Path) -> Path:
    """<data_dir>/control.sock, or a short path in the temp dir named after the data dir
    when that is longer than a Unix socket address allows (about 107 bytes)."""
    path = data_dir / SOCKET_NAME
    if len(os.fsencode(path)) < 100:
        return path
    digest = hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"venue-{digest}.sock"


def command_from_request(operator: str, spec: dict[str, Any]) -> Command:
    """Build the kernel command for a control request; ValueError if it is malformed."""
    if not operator:
        raise ValueError("operator name is required")
    if spec.get("action") == "bust":
        return BustTrade(operator, TradeId(int(spec["trade_id"])), str(spec.get("reason", "")))
    try:
        return OperatorAction(
            operator,
            str(spec["action"]),
            str(spec["scope"]),
            str(spec.get("key", "")),
            str(spec.get("field", "")),
            None if spec.get("value") is None else str(spec["value"]),
        )
    except KeyError as exc:
        raise ValueError(f"missing {exc.args[0]}") from None


class ControlServer:
    def __init__(
        self,
        data_dir: Path,
        execute: Callable[[Command], list[Event]],
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.path = socket_path(data_dir)
        self.token = ensure_token(data_dir)
        self._execute = execute
        self._status = status
        if self.path.exists():
            self.path.unlink()
        handler = self._handler()
        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), handler)
        self._server.daemon_threads = True
        os.chmod(self.path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL,), name="control", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        token = str(request.get("token", ""))
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            log.warning("control request refused: bad token")
            return {"ok": False, "text": "not authorized: bad control token", "events": []}
        if "query" in request:
            if request["query"] != "status" or self._status is None:
                return {"ok": False, "text": f"bad request: unknown query {request['query']!r}"}
            return {"ok": True, "status": self._status()}
        try:
            command = command_from_request(
                str(request.get("operator", "")), request.get("command") or {}
            )
        except (ValueError, TypeError) as exc:
            return {"ok": False, "text": f"bad request: {exc}", "events": []}
        events = self._execute(command)
        result = next(e for e in events if isinstance(e, OperatorActionApplied))
        log.info("operator %s: %s -> %s", result.operator, command, result.text)
        return {
            "ok": result.ok,
            "text": result.text,
            "events": [serde.to_plain(e) for e in events],
        }

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline())
                    reply = server.answer(request)
                except Exception as exc:  # a bad request must not kill the channel
                    log.exception("control request failed")
                    reply = {"ok": False, "text": f"error: {exc}", "events": []}
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        return Handler


def send(data_dir: Path, operator: str, command: dict[str, Any], timeout: float = 10.0) -> dict:
    """Client side: send one control request to the venue running on data_dir."""
    token = (data_dir / TOKEN_NAME).read_text().strip()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path(data_dir)))
        request = {"token": token, "operator": operator, "command": command}
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as f:
            return json.loads(f.readline())


def query(data_dir: Path, what: str = "status", timeout: float = 5.0) -> dict:
    """Client side: a read-only query ("status") to the venue running on data_dir."""
    token = (data_dir / TOKEN_NAME).read_text().strip()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path(data_dir)))
        sock.sendall(json.dumps({"token": token, "query": what}).encode() + b"\n")
        with sock.makefile("rb") as f:
            return json.loads(f.readline())
