"""A Dask distributed executor: calls run on the workers of an existing scheduler.

:class:`DaskExecutor` is a thin adapter over ``distributed.Client(address)``; it never starts
or stops the cluster. ``distributed`` is optional (``pip install optloop[dask]``) and
imported only when a :class:`DaskExecutor` is made.

Failure semantics:

* A worker that dies mid-call: the scheduler re-runs the call on another worker, up to
  ``distributed.scheduler.allowed-failures`` times (default 3); the handle stays live. Beyond
  that the future errs with ``KilledWorker`` and the handle is ``lost``.
* The scheduler disappears: the client cancels its futures at once (reason
  ``scheduler-connection-lost``), so every live handle turns ``lost``; the client tries to
  reconnect for ``connect_timeout_s`` and then closes. :meth:`DaskExecutor.submit` raises
  :class:`~optloop.exceptions.EvaluationError` while the client is not connected.
* :attr:`DaskHandle.state` reads the future's local status only (no round trip to the
  scheduler), so it never blocks. ``running`` comes from an event each call logs on its
  worker when it starts (topic ``optloop-task-start``), pushed to this client.
* :meth:`DaskHandle.cancel` releases the future without waiting for the scheduler; a call
  already running finishes (or stops at its own time limit) on its worker and its result is
  dropped. Workers are not restarted: that would also kill the other calls on them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from optloop.exceptions import EvaluationError, EvaluatorUnavailableError
from optloop.executors.base import TaskState

__all__ = ["START_TOPIC", "DaskExecutor", "DaskHandle"]

#: Event topic a call logs on its worker when it starts (``{"key", "worker"}``).
START_TOPIC = "optloop-task-start"

_INSTALL_HINT = "pip install optloop[dask]"
_CLOSED = ("closing", "closed", "failed")
_WORKERS_REFRESH_S = 5.0


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise EvaluationError(
            f"executor kind 'dask' needs the 'distributed' package ({exc}); {_INSTALL_HINT}"
        ) from None
    return distributed


def _run_and_report_start(
    topic: str,
    key: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run on a Dask worker: log a start event for ``key``, then call ``fn``."""
    try:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(topic, {"key": key, "worker": worker.address})
    except Exception:  # noqa: BLE001, S110 - the event is a nicety; the call must still run
        pass
    return fn(*args, **kwargs)


class DaskHandle:
    """A call submitted to a :class:`DaskExecutor` (wraps a ``distributed.Future``)."""

    def __init__(self, future: Any, key: str, executor: DaskExecutor) -> None:
        self.key = key
        self._future = future
        self._executor = executor
        self._cancelled = False

    def _stored_exception(self) -> BaseException | None:
        # The future's state object holds the exception locally once it is done; reading it
        # avoids Future.exception(), which goes through the client's event loop.
        state = getattr(self._future, "_state", None)
        exc = getattr(state, "exception", None)
        return exc if isinstance(exc, BaseException) else None

    @property
    def state(self) -> TaskState:
        """Return the call's state from the future's local status (never blocks)."""
        if self._cancelled:
            return TaskState.CANCELLED
        status = self._future.status
        if status == "finished":
            return TaskState.FINISHED
        if status == "error":
            exc = self._stored_exception()
            return TaskState.LOST if type(exc).__name__ == "KilledWorker" else TaskState.ERROR
        if status in ("cancelled", "lost"):
            return TaskState.LOST  # not our cancel: the scheduler or its data went away
        if self._executor.client_status in _CLOSED:
            return TaskState.LOST
        return TaskState.RUNNING if self.started_s is not None else TaskState.QUEUED

    @property
    def started_s(self) -> float | None:
        """Return when this client heard that the call started (``time.monotonic()``)."""
        return self._executor.started_s(self.key)

    @property
    def reason(self) -> str | None:
        """Return why the call was lost or failed, else None."""
        state = self.state
        if state not in (TaskState.LOST, TaskState.ERROR):
            return None
        status = self._future.status
        exc = self._stored_exception()
        if status == "error" and exc is not None:
            if type(exc).__name__ == "KilledWorker":
                return f"Dask workers died while running it (KilledWorker): {exc}"
            return f"{type(exc).__name__}: {exc}"
        if status == "cancelled":
            detail = f": {exc}" if exc is not None else ""
            return f"Dask future cancelled by the cluster{detail}"
        if status == "lost":
            return "Dask lost the result (the worker holding it died)"
        return f"Dask client is {self._executor.client_status} (scheduler unreachable)"

    def result(self, timeout: float | None = None) -> Any:
        """Return the call's value (waits up to ``timeout`` s; raises what the call raised).

        A finished call's value still lives on its worker: fetching it takes a round trip,
        bounded by at least ``connect_timeout_s`` whatever ``timeout`` says.
        """
        if self._future.status == "finished":
            timeout = max(timeout or 0.0, self._executor.connect_timeout_s)
        return self._future.result(timeout=timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the exception the call raised (or why it was cancelled), else None."""
        if self._future.status == "finished":
            return None
        if self._future.status in ("error", "cancelled"):
            return self._stored_exception()
        exc: BaseException | None = self._future.exception(timeout=timeout)
        return exc

    def cancel(self) -> bool:
        """Release the call without waiting for the scheduler; its result is discarded."""
        self._cancelled = True
        try:
            self._future.release()
        except Exception:  # noqa: BLE001, S110 - a dead client has released it already
            pass
        return True


class DaskExecutor:
    """Run calls on an existing Dask cluster through ``distributed.Client(address)``.

    Args:
        address: The scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
        connect_timeout_s: Limit on connecting (and on reconnecting after a lost scheduler).

    Raises:
        EvaluationError: If ``distributed`` is not installed, or the scheduler does not answer
            within ``connect_timeout_s``.
    """

    kind = "dask"

    def __init__(self, address: str, *, connect_timeout_s: float = 10.0) -> None:
        distributed = _import_distributed()
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self._started: dict[str, float] = {}
        self._starts: dict[str, list[str]] = {}
        t0 = time.monotonic()
        try:
            self.client = distributed.Client(
                address, timeout=connect_timeout_s, set_as_default=False
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise EvaluatorUnavailableError(
                f"executor.address={address!r}: no Dask scheduler answered within "
                f"connect_timeout_s={connect_timeout_s:g} s ({type(exc).__name__}: {exc})"
            ) from None
        self.connect_s = time.monotonic() - t0
        self.client.subscribe_topic(START_TOPIC, self._on_start)
        self._n_workers = 0
        self._n_workers_at = -float("inf")

    def _on_start(self, event: tuple[float, Any]) -> None:
        # Runs on the client's event-loop thread: one dict store, atomic under the GIL.
        _, msg = event
        if isinstance(msg, dict) and "key" in msg:
            key = str(msg["key"])
            self._started[key] = time.monotonic()
            self._starts.setdefault(key, []).append(str(msg.get("worker", "?")))

    def started_s(self, key: str) -> float | None:
        """Return when the call ``key`` was last reported started, or None."""
        return self._started.get(key)

    def starts(self, key: str) -> list[str]:
        """Return the addresses of the workers that started call ``key``, in order.

        More than one means the call was rerun (its worker died or was restarted).
        """
        return list(self._starts.get(key, []))

    def started_keys(self) -> list[str]:
        """Return the keys of the calls reported started so far."""
        return list(self._starts)

    @property
    def client_status(self) -> str:
        """Return the client's status (``running``, ``connecting``, ``closed``, ...)."""
        return str(self.client.status)

    @property
    def workers(self) -> int:
        """Return the cluster's worker count (cached for a few seconds; at least 1)."""
        now = time.monotonic()
        if now - self._n_workers_at > _WORKERS_REFRESH_S and self.client_status == "running":
            try:
                try:
                    info = self.client.scheduler_info(n_workers=-1)
                except TypeError:  # distributed before n_workers= listed every worker anyway
                    info = self.client.scheduler_info()
                self._n_workers = len(info.get("workers", {}))
            except Exception:  # noqa: BLE001, S110 - keep the last known count
                pass
            self._n_workers_at = now
        return max(1, self._n_workers)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> DaskHandle:
        """Send ``fn(*args, **kwargs)`` to the cluster and return its handle at once.

        Raises:
            EvaluationError: If the client is not connected to the scheduler.
        """
        status = self.client_status
        if status != "running":
            raise EvaluatorUnavailableError(
                f"Dask scheduler {self.address}: client status is {status!r}, expected "
                "'running' (the scheduler is unreachable or the executor was shut down)"
            )
        key = f"optloop-{getattr(fn, '__name__', 'call')}-{uuid.uuid4().hex}"
        future = self.client.submit(
            _run_and_report_start, START_TOPIC, key, fn, args, kwargs, key=key, pure=False
        )
        return DaskHandle(future, key, self)

    def shutdown(self, wait: bool = True) -> None:
        """Close this client (the cluster stays up; its calls from this client are dropped)."""
        try:
            self.client.unsubscribe_topic(START_TOPIC)
        except Exception:  # noqa: BLE001, S110 - a dead client has nothing to unsubscribe
            pass
        try:
            self.client.close(timeout=self.connect_timeout_s)
        except Exception:  # noqa: BLE001, S110 - closing a client of a dead scheduler
            pass

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
