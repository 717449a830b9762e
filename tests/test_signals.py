"""StopRequest: one request however often it is delivered, a later one forces, set-up raises."""

import os
import signal
import threading
import time

import pytest

from gan_jax.signals import StopRequest


def _kill(sig=signal.SIGINT, after=0.0):
    if after:
        threading.Timer(after, os.kill, (os.getpid(), sig)).start()
    else:
        os.kill(os.getpid(), sig)


def _main_thread_busy(seconds: float) -> float:
    """As if the main thread were inside a long C call that runs no Python handler (an XLA
    compilation, say): SIGINT is masked in this thread, so it lands in another one, whose C
    handler timestamps it in the wakeup pipe, and the Python handler waits until the end."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    t = time.perf_counter()
    try:
        time.sleep(seconds)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return time.perf_counter() - t


def test_repeats_within_the_window_are_one_request():
    forced = []
    with StopRequest(window=0.5, force=lambda: forced.append(1)) as stop:
        _kill()
        time.sleep(0.05)
        _kill(signal.SIGTERM)
        time.sleep(0.1)
        assert stop.signal == signal.SIGINT
    assert not forced


def test_a_duplicate_handled_late_is_still_a_duplicate():
    """uv's forwarded copy arrives 0.2 s after the group's while the main thread is inside an
    long call, and Python runs its handler only afterwards: the arrival time counts."""
    forced = []
    with StopRequest(window=0.3, force=lambda: forced.append(1)) as stop:
        _kill()
        time.sleep(0.05)            # the first is handled now
        _kill(after=0.1)            # the duplicate arrives during the call below
        _main_thread_busy(1.0)      # and its Python handler runs 0.9 s after it arrived
        assert stop.signal == signal.SIGINT
    assert not forced


def test_a_later_request_forces():
    forced = []
    with StopRequest(window=0.2, force=lambda: forced.append(1)) as stop:
        _kill()
        time.sleep(0.4)
        _kill()
        time.sleep(0.1)
        assert stop.signal == signal.SIGINT
    assert forced == [1]


def test_interruptible_raises_and_the_loop_part_only_flags():
    with StopRequest(window=0.1, force=lambda: None) as stop:
        with pytest.raises(KeyboardInterrupt):
            with stop.interruptible():
                _kill()
                time.sleep(1.0)
        with pytest.raises(KeyboardInterrupt):   # already requested: raises on entry
            with stop.interruptible():
                pass
    with StopRequest(window=0.1, force=lambda: None) as stop:
        _kill()
        time.sleep(0.05)
        assert stop.signal == signal.SIGINT        # outside interruptible(): only the flag


def test_exit_absorbs_a_duplicate_still_on_its_way():
    before = signal.getsignal(signal.SIGINT)
    with StopRequest(window=0.5, force=lambda: None) as stop:
        _kill()
        time.sleep(0.02)
        _kill(after=0.2)   # arrives after the block ends: __exit__ waits for it
    assert stop.signal == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before


def test_no_request_no_wait():
    t = time.perf_counter()
    with StopRequest(window=5.0) as stop:
        pass
    assert stop.signal is None and time.perf_counter() - t < 1.0
