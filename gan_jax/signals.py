"""Ctrl-C and SIGTERM as one request to stop, however many times it is delivered.

One request often arrives twice: `uv run` forwards SIGINT to its child, which also gets
it from its process group (a terminal's Ctrl-C, a scheduler's `timeout -s INT`), 0.2 s
apart when measured here. Python runs a handler only when the main thread next executes
bytecode, which may be after a long XLA call, so handler times cannot tell a duplicate from
a second request. The signals are therefore timed where they arrive: Python's C-level
handler writes each signal number to a wakeup pipe at delivery, and a thread reads it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A context that turns SIGINT/SIGTERM into `self.signal`, for a loop to check.

    - Every signal within `window` seconds of the first is the same request.
    - A signal after that is a deliberate second request: `force()` runs (by default a one-line
      message and exit 130 at once, leaving the checkpoints as they are: each complete or absent).
    - Inside `interruptible()` (data loading, set-up) the request also raises KeyboardInterrupt
      in the main thread, so that work stops at once. Elsewhere it only sets the flag: imports
      must not be interrupted (a C extension turns the exception into a broken ImportError),
      and the training loop decides itself when to stop.
    - On exit, duplicates still due within the window are absorbed before the previous
      handlers come back.
    Outside the main thread signals cannot be caught, and this context does nothing.
    """

    def __init__(self, window: float = 1.5, force=None):
        self.window = window
        self.signal: int | None = None
        self._force = force or _exit_now
        self._first: float | None = None     # arrival time of the first signal (watcher's)
        self._handled_at: float | None = None
        self._raise = False
        self._old_handlers: dict = {}
        self._pipe: tuple[int, int] | None = None

    @contextlib.contextmanager
    def interruptible(self):
        """Within this block a stop request (also one already made) raises KeyboardInterrupt."""
        if self.signal is not None:
            raise KeyboardInterrupt
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        self._old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._reader = threading.Thread(target=self._watch, args=(read_fd,), daemon=True,
                                        name="gan_jax-stop-signals")
        self._reader.start()
        for sig in SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:
            return                      # a duplicate, or a second request the watcher handles
        self.signal = signum
        self._handled_at = time.monotonic()
        if self._raise:
            raise KeyboardInterrupt

    def _watch(self, read_fd: int) -> None:
        wanted = {int(s) for s in SIGNALS}
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                return
            if not wanted.intersection(data):
                continue
            now = time.monotonic()
            if self._first is None:
                self._first = now
            elif now - self._first > self.window:
                self._force()

    def __exit__(self, *exc):
        if self._pipe is None:
            return
        first = self._first if self._first is not None else self._handled_at
        if first is not None:           # let a duplicate still on its way arrive here
            time.sleep(max(0.0, first + self.window - time.monotonic()))
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._old_wakeup)
        read_fd, write_fd = self._pipe
        os.close(write_fd)              # the watcher reads EOF and returns
        self._reader.join(timeout=1.0)
        os.close(read_fd)
        self._pipe = None


def run_stopping_cleanly(fn, message: str) -> int:
    """A CLI's body: `fn(stop)` inside a StopRequest. An exception that follows a stop request
    (KeyboardInterrupt, or what an import or a library made of it) prints `message` and
    gives exit code 130 instead of a traceback."""
    with StopRequest() as stop:
        try:
            return fn(stop)
        except BaseException:
            if stop.signal is None:
                raise
            print(message, file=sys.stderr)
            return 130


def _exit_now() -> None:
    os.write(2, b"\nsecond stop request: exiting now without saving "
                b"(the checkpoints on disk are complete; the latest one resumes)\n")
    os._exit(130)
