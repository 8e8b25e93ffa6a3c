"""A helper process beside the venue (the SQL projection, the snapshot replica): spawned,
so no threads or locks are inherited; told to stop by the end of a pipe, which also tells
it when the venue itself has died; started again by the venue if it died."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("venue")

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, Linux: SIGKILL when the process that started it ends (even by kill -9).
    Check os.getppid() after it: the parent may have ended just before."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ChildProcess:
    """Runs target(*args, stop) in a child process; `stop` is the pipe's reading end."""

    name = "venue-child"  # the process's name
    what = "child process"  # in the log
    stop_timeout = 10.0  # seconds stop() waits for it to end by itself
    kill_on_timeout = True  # then SIGKILL (and reaped), else SIGTERM

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._target = target
        self._args = args
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stop: Connection | None = None
        self._stopped = False
        self._lock = threading.Lock()  # start (the scheduler's thread) against stop
        self.restarts = 0  # times ensure_running found it dead and started it again

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._stopped:
                return
            reader, self._stop = self._ctx.Pipe(duplex=False)
            self._process = self._ctx.Process(
                target=self._target, args=(*self._args, reader), name=self.name, daemon=True
            )
            self._process.start()
            reader.close()

    def ensure_running(self) -> None:
        """Start it again if it died."""
        if self._process is not None and not self._process.is_alive() and not self._stopped:
            log.error("%s exited with %s; restarting", self.what, self._process.exitcode)
            self.restarts += 1
            self.start()

    def stop(self, timeout: float | None = None) -> None:
        """Close the pipe and wait for it to end (then kill or terminate it)."""
        with self._lock:
            self._stopped = True
        if self._stop is not None:
            self._stop.close()
        if self._process is not None:
            self._process.join(self.stop_timeout if timeout is None else timeout)
            if self._process.is_alive() and self.kill_on_timeout:
                self._process.kill()
                self._process.join()
            elif self._process.is_alive():
                self._process.terminate()
