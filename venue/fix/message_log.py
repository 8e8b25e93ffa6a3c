"""QuickFIX's message log, with passwords blanked.

QuickFIX's own FileLog writes every message as received, so a Logon's Password(554) and
NewPassword(925) would sit in the data directory in clear. This log writes the same files
in the same format (one line per message: UTC timestamp, " : ", the message) but replaces
those values with "***" first. Session events go to a second file, as FileLog does.

QuickFIX calls it from its acceptor thread (messages in) and from whichever thread sends
(messages out); each call is one line written and flushed.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import quickfix as fix

log = logging.getLogger("venue.fix")

_SECRET = re.compile("(?<=\x01)(554|925)=[^\x01]*")
BLANK = "***"


def redact(message: str) -> str:
    """The message with Password(554) and NewPassword(925) values replaced by ***."""
    if "\x01554=" not in message and "\x01925=" not in message:
        return message
    return _SECRET.sub(lambda m: f"{m.group(1)}={BLANK}", message)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")


class RedactingFileLog(fix.Log):
    """One session's (or the acceptor's) message and event files under `directory`."""

    def __init__(self, directory: Path, prefix: str) -> None:
        super().__init__()
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._messages: TextIO = open(  # noqa: SIM115 - closed by close()
            directory / f"{prefix}.messages.current.log", "a", encoding="utf-8",
            errors="backslashreplace", buffering=1,
        )  # fmt: skip
        self._events: TextIO = open(  # noqa: SIM115 - closed by close()
            directory / f"{prefix}.event.current.log", "a", encoding="utf-8",
            errors="backslashreplace", buffering=1,
        )  # fmt: skip

    def _write(self, out: TextIO, text: str) -> None:
        try:
            with self._lock:
                if not out.closed:  # QuickFIX may log a last event after close()
                    out.write(f"{_stamp()} : {text}\n")
        except Exception:  # an exception escaping a QuickFIX callback ends the process
            log.exception("could not write the FIX message log")

    def onIncoming(self, message: str) -> None:
        self._write(self._messages, redact(message))

    def onOutgoing(self, message: str) -> None:
        self._write(self._messages, redact(message))

    def onEvent(self, text: str) -> None:
        self._write(self._events, redact(text))

    def clear(self) -> None:
        pass  # FileLog truncates on a sequence reset; a log kept for people keeps it all

    def backup(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self._messages.close()
            self._events.close()


class RedactingFileLogFactory(fix.LogFactory):
    """Makes a RedactingFileLog per session, named as QuickFIX's FileLog names its files."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self._directory = Path(directory)
        self._logs: list[RedactingFileLog] = []  # to close them

    def create(self, session_id: fix.SessionID | None = None) -> RedactingFileLog:
        if session_id is None:
            prefix = "GLOBAL"
        else:
            prefix = "-".join(
                (
                    session_id.getBeginString().getValue(),
                    session_id.getSenderCompID().getValue(),
                    session_id.getTargetCompID().getValue(),
                )
            )
        made = RedactingFileLog(self._directory, prefix)
        # QuickFIX owns what create() returns; without this the Python side frees it too
        # (a heap corruption, seen as a crash while the acceptor is built).
        made.__disown__()
        self._logs.append(made)
        return made

    def destroy(self, log_: fix.Log) -> None:
        pass  # closed in close(), after QuickFIX is done with them

    def close(self) -> None:
        for made in self._logs:
            made.close()
        self._logs.clear()
