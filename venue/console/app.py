"""The console's Starlette application: pages, fragments, SSE, controls, health.

Everything but /health, /ready, /login and /static refuses without a login: a page is
redirected to /login, anything else (fragments, events, controls) gets 401.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venue.console.auth import Operators, ensure_secret
from venue.console.charts import depth_chart, histogram_bars, seconds_label, trend_lines
from venue.console.latency import HISTORY_SECONDS, VenueMetricsReader
from venue.console.live import LiveState, VenueUnreachable
from venue.console.metrics import CONTENT_TYPE, ConsoleMetrics
from venue.console.settings import ConsoleSettings
from venue.control import send
from venue.store.db import make_engine
from venue.store.models import order_events, trades

HERE = Path(__file__).resolve().parent
PUBLIC = ("/health", "/ready", "/metrics", "/login", "/static/")
PAGES = ("/", "/books", "/trades", "/sessions", "/orders", "/controls", "/latency")
SCOPES = ("instrument", "firm", "session", "venue")
CSRF_FIELD, CSRF_HEADER = "csrf", "x-csrf-token"
KNOWN_ROUTES = {*PAGES, "/health", "/ready", "/metrics", "/login", "/logout", "/static", "/events"}


def _when(us: int | None) -> str:
    if not us:
        return ""
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _px(value: Decimal | str | None) -> str:
    """A price (SQL Decimal or FIX text) for the eye: at least two decimals, no more zeros."""
    if value is None or value == "":
        return ""
    text = format(Decimal(value).normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use; a new one at each login)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def csrf_refusal(request: Request) -> Response | None:
    """403 unless the POST carries the session's token (form field or X-CSRF-Token header).
    SameSite=Strict already keeps the cookie off cross-site requests; this is the second
    lock, for browsers or proxies that do not honour it."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = str((await request.form()).get(CSRF_FIELD, ""))
    if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
        return PlainTextResponse(
            "CSRF token missing or wrong: reload the page and try again", status_code=403
        )
    return None


def fix_port_accepts(address: list[Any], timeout: float = 1.0) -> str | None:
    """None if a TCP connection to the venue's FIX port opens (closed at once, before any
    byte: the gatekeeper drops it without a log line), else why not."""
    host, port = str(address[0]), int(address[1])
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"FIX port {host}:{port} not accepting: {exc}"
    return None


def _db_error(exc: SQLAlchemyError) -> str:
    return f"database: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"


class CountRequests:
    """venue_console_http_requests_total by route (the first path segment) and status."""

    def __init__(self, app: ASGIApp, metrics: ConsoleMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        first = "/" + scope["path"].lstrip("/").split("/", 1)[0]
        route = first if first in KNOWN_ROUTES else "other"

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counted)


class RequireLogin:
    """Pure ASGI middleware (inside SessionMiddleware): no operator in the session, no entry."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PUBLIC):
            await self.app(scope, receive, send)
            return
        if scope.get("session", {}).get("operator"):
            await self.app(scope, receive, send)
            return
        response: Response
        if scope["method"] == "GET" and (
            scope["path"] in PAGES or scope["path"].startswith("/books/")
        ):
            response = RedirectResponse("/login", status_code=303)
        else:
            response = PlainTextResponse("login required", status_code=401)
        await response(scope, receive, send)


def create_app(
    data_dir: Path,
    db_url: str,
    operators: dict[str, str],
    settings: ConsoleSettings | None = None,
    metrics_port: int | None = None,
) -> Starlette:
    """metrics_port: the venue's VENUE_METRICS_PORT, read by the Latency page."""
    settings = settings or ConsoleSettings()
    data_dir = data_dir.resolve()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["when"] = _when
    templates.env.filters["px"] = _px
    templates.env.filters["seconds"] = lambda v: "" if v is None else seconds_label(v)
    templates.env.globals.update(
        histogram_bars=histogram_bars, trend_lines=trend_lines, depth_chart=depth_chart,
        history_seconds=HISTORY_SECONDS,
    )  # fmt: skip
    metrics = ConsoleMetrics()
    scraper = VenueMetricsReader(metrics_port)
    live = LiveState(data_dir, settings.refresh_per_second, metrics)
    who = Operators(operators)
    engine_box: list[Engine] = []

    def db() -> Engine:
        if not engine_box:
            engine_box.append(make_engine(db_url))
        return engine_box[0]

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("operator", request.session.get("operator"))
        context.setdefault("csrf", csrf_token(request))
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    async def status_or_error() -> tuple[dict[str, Any] | None, str | None]:
        try:
            return await live.get(), None
        except VenueUnreachable as exc:
            return None, str(exc)

    # -- login ------------------------------------------------------------------------

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html", error=None)
        if (refused_csrf := await csrf_refusal(request)) is not None:
            return refused_csrf
        form = await request.form()
        name, password = str(form.get("operator", "")), str(form.get("password", ""))
        refused = await run_in_threadpool(who.check, name, password)
        if refused is not None:
            return page(request, "login.html", error=refused, status_code=401)
        request.session.clear()
        request.session["operator"] = name
        csrf_token(request)  # a fresh token for the logged-in session
        return RedirectResponse("/books", status_code=303)

    async def logout(request: Request) -> Response:
        if (refused := await csrf_refusal(request)) is not None:
            return refused
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- pages ------------------------------------------------------------------------

    async def index(request: Request) -> Response:
        return RedirectResponse("/books", status_code=303)

    async def books(request: Request) -> Response:
        """All books, or one (/books/AAPL: its ladder and depth chart only)."""
        status, error = await status_or_error()
        only = request.path_params.get("symbol", "")
        if only and status is not None and only not in status["books"]:
            return page(request, "books.html", status=None, error=f"no instrument {only}",
                        only=only, status_code=404)  # fmt: skip
        return page(request, "books.html", status=status, error=error, only=only)

    async def books_events(request: Request) -> Response:
        """SSE: the books fragment at most `refresh_per_second` times a second, and only
        when it changed (a quiet book costs the browser nothing); a comment every 15 s
        keeps proxies from closing the stream."""
        only = request.query_params.get("symbol", "")
        fragment = templates.get_template("books_fragment.html")

        async def stream() -> AsyncIterator[bytes]:
            last, quiet_since = "", time.monotonic()
            while True:
                status, error = await status_or_error()
                html = fragment.render(status=status, error=error, only=only)
                if html != last:
                    last, quiet_since = html, time.monotonic()
                    data = "".join(f"data: {line}\n" for line in html.splitlines())
                    metrics.pushes.inc()
                    yield f"event: books\n{data}\n".encode()
                elif time.monotonic() - quiet_since >= 15:
                    quiet_since = time.monotonic()
                    yield b": quiet\n\n"
                await asyncio.sleep(live.interval)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    def _trades(symbol: str, firm: str) -> list[Any]:
        query = select(trades).order_by(trades.c.trade_id.desc()).limit(200)
        if symbol:
            query = query.where(trades.c.symbol == symbol)
        if firm:
            query = query.where(or_(trades.c.buy_firm == firm, trades.c.sell_firm == firm))
        with db().connect() as conn:
            return list(conn.execute(query))

    async def trades_page(request: Request) -> Response:
        symbol = request.query_params.get("symbol", "").strip()
        firm = request.query_params.get("firm", "").strip()
        try:
            rows, error = await run_in_threadpool(_trades, symbol, firm), None
        except SQLAlchemyError as exc:
            rows, error = [], _db_error(exc)
        name = "trades_fragment.html" if request.headers.get("HX-Request") else "trades.html"
        return page(request, name, rows=rows, symbol=symbol, firm=firm, error=error)

    async def sessions_page(request: Request) -> Response:
        status, error = await status_or_error()
        name = "sessions_fragment.html" if request.headers.get("HX-Request") else "sessions.html"
        return page(request, name, status=status, error=error)

    def _order_life(key: str) -> list[Any]:
        ev = order_events.c
        match = [ev.cl_ord_id == key, ev.orig_cl_ord_id == key]
        if key.isdigit():
            match.append(ev.order_id == int(key))
        with db().connect() as conn:
            ids = {r[0] for r in conn.execute(select(ev.order_id).where(or_(*match))) if r[0]}
            if not ids:
                return []
            trade_ids = [
                r[0]
                for r in conn.execute(
                    select(trades.c.trade_id).where(
                        or_(trades.c.buy_order_id.in_(ids), trades.c.sell_order_id.in_(ids))
                    )
                )
            ]
            query = select(order_events).where(
                or_(ev.order_id.in_(ids), (ev.trade_id.in_(trade_ids)) & ev.order_id.is_(None))
            )
            return list(conn.execute(query.order_by(ev.seq)))

    async def orders_page(request: Request) -> Response:
        key = request.query_params.get("id", "").strip()
        try:
            rows, error = (await run_in_threadpool(_order_life, key) if key else []), None
        except SQLAlchemyError as exc:
            rows, error = [], _db_error(exc)
        return page(request, "orders.html", key=key, rows=rows, error=error)

    async def latency_page(request: Request) -> Response:
        scrape, error = await scraper.get()
        view = scraper.view(scrape) if scrape is not None else None
        name = "latency_fragment.html" if request.headers.get("HX-Request") else "latency.html"
        return page(request, name, scrape=scrape, view=view, error=error)

    async def controls_page(request: Request) -> Response:
        status, error = await status_or_error()
        return page(request, "controls.html", status=status, error=error, scopes=SCOPES)

    async def control(request: Request) -> Response:
        if (refused := await csrf_refusal(request)) is not None:
            return refused
        action = request.path_params["action"]
        form = {k: str(v).strip() for k, v in (await request.form()).items()}
        try:
            command = _command(action, form)
        except ValueError as exc:
            return page(request, "result.html", ok=False, text=str(exc), status_code=400)
        operator = request.session["operator"]
        try:
            reply = await run_in_threadpool(send, data_dir, operator, command)
        except (OSError, ValueError) as exc:
            return page(request, "result.html", ok=False, text=f"venue not reachable: {exc}")
        return page(request, "result.html", ok=reply["ok"], text=reply["text"])

    # -- health -----------------------------------------------------------------------

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "up"})

    async def readiness() -> tuple[dict[str, Any] | None, dict[str, bool], list[str]]:
        """Recovered (the venue answers its control channel only after recovery), journal
        writable (the venue has not stopped on a journal error and can write its journal
        directory), FIX port accepting (a TCP connect to it), and why not."""
        status, error = await status_or_error()
        checks = {"recovered": False, "journal_writable": False, "fix_port_accepting": False}
        if status is None:
            return None, checks, [str(error)]
        checks["recovered"] = bool(status.get("recovered"))
        checks["journal_writable"] = bool(status.get("journal_writable"))
        reasons = [f"not {name.replace('_', ' ')}" for name, ok in checks.items() if not ok]
        reasons = [r for r in reasons if "fix port" not in r]  # said below, with the cause
        address = status.get("fix_address")
        refusal = (
            "the venue does not say where its FIX port is"
            if not address
            else await run_in_threadpool(fix_port_accepts, address)
        )
        checks["fix_port_accepting"] = refusal is None
        if refusal is not None:
            reasons.append(refusal)
        return status, checks, reasons

    async def ready(request: Request) -> Response:
        """200 when every readiness check passes; 503 names what failed."""
        status, checks, reasons = await readiness()
        if status is None:
            return JSONResponse({"ready": False, "reason": reasons[0]}, status_code=503)
        body: dict[str, Any] = {"ready": all(checks.values()), "checks": checks}
        if not body["ready"]:
            body["reason"] = "; ".join(reasons)
            return JSONResponse(body, status_code=503)
        return JSONResponse({**body, "seq": status["seq"]})

    async def metrics_page(request: Request) -> Response:
        status, checks, _ = await readiness()
        return Response(metrics.render(status, checks), media_type=CONTENT_TYPE)

    routes = [
        Route("/health", health),
        Route("/metrics", metrics_page),
        Route("/ready", ready),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", index),
        Route("/books", books),
        Route("/books/{symbol}", books),
        Route("/events/books", books_events),
        Route("/trades", trades_page),
        Route("/sessions", sessions_page),
        Route("/orders", orders_page),
        Route("/controls", controls_page),
        Route("/latency", latency_page),
        Route("/controls/{action}", control, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=ensure_secret(data_dir),
            session_cookie="venue_console",
            max_age=int(settings.session_hours * 3600),
            same_site="strict",
        ),
        Middleware(RequireLogin),
        Middleware(CountRequests, metrics=metrics),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.live = live
    app.state.scraper = scraper
    return app


def _command(action: str, form: dict[str, str]) -> dict[str, Any]:
    """The control-channel command for a console form; ValueError says what is missing."""
    if action in ("halt", "resume"):
        if not form.get("symbol"):
            raise ValueError("a symbol is required")
        return {"action": action, "scope": "instrument", "key": form["symbol"]}
    if action in ("kill", "release", "cancel_all"):
        scope = form.get("scope", "")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        key = "" if scope == "venue" else form.get("key", "")
        if scope != "venue" and not key:
            raise ValueError(f"a {scope} is required")
        return {"action": action, "scope": scope, "key": key}
    if action == "set_limit":
        if not all(form.get(k) for k in ("scope", "key", "field")):
            raise ValueError("scope, key and field are required")
        value = form.get("value", "")
        return {
            "action": "set_limit", "scope": form["scope"], "key": form["key"],
            "field": form["field"], "value": None if value.lower() in ("", "none") else value,
        }  # fmt: skip
    if action == "bust":
        if not form.get("trade_id", "").isdigit():
            raise ValueError("a trade id (a number) is required")
        return {"action": "bust", "trade_id": int(form["trade_id"]), "reason": form.get("reason")}
    raise ValueError(f"unknown action {action!r}")
