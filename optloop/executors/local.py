"""A local process pool (``spawn``), one worker per core by default.

Each worker may run an ``initializer`` once (the PyBaMM evaluator builds its model there). A
worker process that dies breaks the whole :class:`~concurrent.futures.ProcessPoolExecutor`:
every call still in it becomes ``lost`` (reason ``worker process died``) and the next
:meth:`LocalExecutor.submit` starts a fresh pool, so one crash never blocks later work.

Workers never outlive their driver: a killed driver (SIGKILL, out of memory) cannot shut its
pool down, so each worker watches its parent itself: on Linux the kernel sends it SIGKILL when
the parent dies (``prctl(PR_SET_PDEATHSIG)``), and everywhere a daemon thread exits the worker
once its parent pid is gone (it is re-parented), within :data:`PARENT_POLL_S`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from optloop.exceptions import EvaluationError
from optloop.executors.base import TaskState

__all__ = ["PARENT_POLL_S", "LocalExecutor", "LocalHandle"]

#: Seconds between a worker's checks that its parent (the driver) is still alive.
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, use_prctl: bool) -> None:
    """Make this worker exit when ``parent_pid`` dies (runs first in every worker)."""
    if use_prctl and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below still ends the worker
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before prctl took effect

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # orphaned: nobody will ever read this worker's results

    threading.Thread(target=watch, name="optloop-parent-watch", daemon=True).start()


def _worker_init(
    parent_pid: int,
    use_prctl: bool,
    initializer: Callable[..., Any] | None,
    initargs: tuple[Any, ...],
) -> None:
    _die_with_parent(parent_pid, use_prctl)
    if initializer is not None:
        initializer(*initargs)


class LocalHandle:
    """A call running in a :class:`LocalExecutor` (wraps a ``concurrent.futures.Future``)."""

    def __init__(self, future: Future[Any], key: str) -> None:
        self.key = key
        self._future = future
        self._started: float | None = None
        self._cancelled = False

    @property
    def state(self) -> TaskState:
        """Return the call's state, without blocking."""
        fut = self._future
        if self._cancelled:
            return TaskState.CANCELLED
        if fut.cancelled():
            return TaskState.LOST  # dropped by a pool that was killed or shut down
        if fut.done():
            exc = fut.exception(timeout=0)
            if isinstance(exc, BrokenProcessPool):
                return TaskState.LOST
            return TaskState.FINISHED if exc is None else TaskState.ERROR
        if fut.running():
            if self._started is None:
                self._started = time.monotonic()
            return TaskState.RUNNING
        return TaskState.QUEUED

    @property
    def started_s(self) -> float | None:
        """Return when the call was first seen running (``time.monotonic()``), or None."""
        _ = self.state
        return self._started

    @property
    def reason(self) -> str | None:
        """Return why the call was lost or failed, else None."""
        fut = self._future
        if self._cancelled or not fut.done():
            return None
        if fut.cancelled():
            return "worker pool stopped before the call ran"
        exc = fut.exception(timeout=0)
        if isinstance(exc, BrokenProcessPool):
            return f"worker process died: {exc}"
        return None if exc is None else f"{type(exc).__name__}: {exc}"

    def result(self, timeout: float | None = None) -> Any:
        """Return the call's value (waits up to ``timeout`` s; raises what the call raised)."""
        return self._future.result(timeout=timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the exception the call raised, or None."""
        try:
            return self._future.exception(timeout=timeout)
        except CancelledError as exc:
            return exc

    def cancel(self) -> bool:
        """Cancel the call: a queued one never runs; a running one's result is discarded."""
        self._cancelled = True
        self._future.cancel()
        return True


class LocalExecutor:
    """A pool of ``spawn`` worker processes on this machine.

    Args:
        workers: Worker processes; default one per core.
        initializer: Called once in every worker process before its first call (picklable).
        initargs: Arguments of ``initializer``.

    Raises:
        EvaluationError: If ``workers`` is below 1.
    """

    kind = "local"

    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        n = workers if workers is not None else max(1, os.cpu_count() or 1)
        if n < 1:
            raise EvaluationError(f"LocalExecutor: workers={n}; limit: >= 1")
        self._workers = n
        self._initializer = initializer
        self._initargs = initargs
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    @property
    def workers(self) -> int:
        """Return the number of worker processes."""
        return self._workers

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # PR_SET_PDEATHSIG fires when the *thread* that started the worker ends; workers
            # start in the submitting thread, so it is used only for pools driven from the
            # main thread (the campaign's); the watchdog thread covers the other cases.
            on_main = threading.current_thread() is threading.main_thread()
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(os.getpid(), on_main, self._initializer, self._initargs),
            )
        return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> LocalHandle:
        """Start ``fn(*args, **kwargs)`` in a worker process; a broken pool is replaced.

        Raises:
            EvaluationError: If the executor was shut down.
        """
        if self._closed:
            raise EvaluationError("LocalExecutor: submit after shutdown()")
        key = f"local-{uuid.uuid4().hex[:12]}"
        try:
            future = self._get_pool().submit(fn, *args, **kwargs)
        except (BrokenProcessPool, RuntimeError):
            # A worker died earlier (its calls are already lost): start over with a new pool.
            self._drop_pool(kill=True)
            future = self._get_pool().submit(fn, *args, **kwargs)
        return LocalHandle(future, key)

    def pids(self) -> list[int]:
        """Return the process ids of the current pool's workers (empty before the first call)."""
        pool = self._pool
        procs = dict(getattr(pool, "_processes", None) or {}) if pool is not None else {}
        return sorted(p.pid for p in procs.values() if p.pid is not None)

    def kill_workers(self) -> None:
        """Kill this pool's worker processes at once; their calls become ``lost``.

        The hard-timeout backstop: a call that ignores its own time limit can only be stopped
        by killing its process. The next :meth:`submit` starts a fresh pool.
        """
        self._drop_pool(kill=True)

    def _drop_pool(self, *, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            # Only the processes this pool started (never anything found by name).
            for proc in dict(getattr(pool, "_processes", None) or {}).values():
                if proc.is_alive():
                    proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True) -> None:
        """Cancel queued calls and stop the workers (running calls finish first if ``wait``)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
