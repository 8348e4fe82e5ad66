"""Test helpers: background threads whose failure fails their test at once.

A scripted lab or a fake server runs in a thread while the test's main thread drives the code
under test. If that thread dies, waiting for it to be joined is too late: the main thread may be
blocked for good in code that waits for the helper's answer (``Campaign.run`` polling a lab that
no longer answers). :func:`background` therefore signals the main thread the moment its thread
raises, and the signal handler fails the test with the thread's exception and traceback.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

import pytest

__all__ = ["FAIL_SIGNAL", "HelperThread", "HelperThreads", "background"]

#: Sent to the main thread when a helper thread fails (pytest-timeout uses SIGALRM).
FAIL_SIGNAL = signal.SIGUSR2


class HelperThread(threading.Thread):
    """A daemon thread that records its exception and alerts the main thread when it fails."""

    def __init__(self, target: Callable[[], object], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: BaseException | None = None
        self.trace = ""
        self._lock = threading.Lock()
        self._armed = False
        self._reported = False

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error, self.trace = exc, traceback.format_exc()
            with self._lock:
                if self._armed:
                    main = threading.main_thread().ident
                    assert main is not None
                    signal.pthread_kill(main, FAIL_SIGNAL)

    def message(self) -> str:
        """Return the failure text: the thread's name, exception and traceback."""
        return f"helper thread {self.name!r} died: {self.error!r}\n{self.trace}"

    def arm(self, armed: bool) -> None:
        """Allow (or stop) signalling the main thread; after disarming no signal is sent."""
        with self._lock:
            self._armed = armed

    def fail_once(self) -> None:
        """Fail the test with this thread's error, unless it was already reported."""
        if self.error is not None and not self._reported:
            self._reported = True
            pytest.fail(self.message(), pytrace=False)


@contextmanager
def background(
    target: Callable[[], object],
    *,
    name: str,
    stop: Callable[[], object] | None = None,
    join_timeout_s: float = 30.0,
) -> Iterator[HelperThread]:
    """Run ``target`` in a helper thread for the ``with`` block; its failure fails the test.

    If the thread raises, the main thread gets :data:`FAIL_SIGNAL` and fails at once with the
    thread's exception (wherever it is blocked: a sleep, a join, a poll loop). At the end of
    the block ``stop`` is called, the thread joined (bounded) and an error not yet reported is
    raised, so a failure is never lost.

    Args:
        target: The thread's work; it returns when ``stop`` has been called.
        name: A name for messages.
        stop: Ask the thread to end (e.g. set an event); called when the block exits.
        join_timeout_s: Longest wait for the thread to end after ``stop``.

    Raises:
        pytest.fail.Exception: the thread raised, or did not end after ``stop``.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("background() must be used from the main thread")
    thread = HelperThread(target, name)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        thread.fail_once()

    previous = signal.signal(FAIL_SIGNAL, on_signal)
    thread.arm(True)
    thread.start()
    failed_in_block = False
    try:
        yield thread
    except BaseException as exc:
        failed_in_block = True
        if thread.error is not None and not thread._reported:
            # The block failed because the thread died (its signal came late): name the cause.
            thread._reported = True
            raise pytest.fail.Exception(thread.message(), pytrace=False) from exc
        raise
    finally:
        try:
            if stop is not None:
                stop()
            thread.join(join_timeout_s)
        finally:
            thread.arm(False)
            signal.signal(FAIL_SIGNAL, previous)
        if not failed_in_block:
            if thread.is_alive():
                pytest.fail(f"helper thread {name!r} did not end within {join_timeout_s} s")
            thread.fail_once()


class HelperThreads:
    """Start helper threads that live until the test ends (the ``helper_threads`` fixture).

    Each thread runs under :func:`background`: its failure fails the test at once, and at
    teardown it is stopped, joined (bounded) and any error not yet reported is raised.
    """

    def __init__(self) -> None:
        self._stack = ExitStack()

    def start(
        self,
        target: Callable[[], object],
        *,
        name: str,
        stop: Callable[[], object] | None = None,
        join_timeout_s: float = 30.0,
    ) -> HelperThread:
        """Start ``target`` in a helper thread; see :func:`background` for the arguments."""
        return self._stack.enter_context(
            background(target, name=name, stop=stop, join_timeout_s=join_timeout_s)
        )

    def close(self) -> None:
        """Stop and join every thread, last started first; raise the first unreported error."""
        self._stack.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms; fail the test after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
