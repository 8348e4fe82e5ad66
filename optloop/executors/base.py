"""The executor interface: submit a picklable call, follow it through a non-blocking handle.

It is shaped like :mod:`concurrent.futures` and Dask's futures API (``submit`` returns a
handle with ``result()``, ``exception()``, ``cancel()``), plus a cheap :attr:`TaskHandle.state`
that never blocks and never raises, so an evaluator can poll it from a campaign's loop.

States (:class:`TaskState`): ``queued -> running -> finished | error | cancelled | lost``.
``lost`` is infrastructure, not the call: the worker process died (a broken local pool, a Dask
``KilledWorker`` after its allowed failures), the scheduler went away, or the client closed.
``error`` means the call itself raised. ``cancelled`` is only ever the caller's own cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["TERMINAL_TASK_STATES", "Executor", "TaskHandle", "TaskState"]


class TaskState(StrEnum):
    """Where a submitted call is; the last four are terminal."""

    QUEUED = "queued"
    """Accepted, not yet started on a worker (or not known to have started)."""
    RUNNING = "running"
    """A worker is executing it."""
    FINISHED = "finished"
    """Returned a value: :meth:`TaskHandle.result` returns it."""
    ERROR = "error"
    """The call raised: :meth:`TaskHandle.exception` returns the exception."""
    CANCELLED = "cancelled"
    """Cancelled by the caller."""
    LOST = "lost"
    """The infrastructure lost it (dead worker, dead scheduler); :attr:`TaskHandle.reason` says
    why. The call may be submitted again."""


TERMINAL_TASK_STATES: frozenset[TaskState] = frozenset(
    {TaskState.FINISHED, TaskState.ERROR, TaskState.CANCELLED, TaskState.LOST}
)


@runtime_checkable
class TaskHandle(Protocol):
    """One submitted call."""

    key: str
    """A unique key (the Dask task key for the Dask executor)."""

    @property
    def state(self) -> TaskState:
        """Return the call's state, without blocking and without raising."""
        ...

    @property
    def started_s(self) -> float | None:
        """Return the ``time.monotonic()`` at which the call was first seen running, or None."""
        ...

    @property
    def reason(self) -> str | None:
        """Return why the call is ``lost`` (or ``error``), else None."""
        ...

    def result(self, timeout: float | None = None) -> Any:
        """Return the call's value, waiting up to ``timeout`` seconds (None: forever)."""
        ...

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the exception the call raised, or None, waiting up to ``timeout`` seconds."""
        ...

    def cancel(self) -> bool:
        """Cancel the call (best effort); return True if it will not deliver a result."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Runs picklable calls on worker processes: a local pool or a Dask cluster."""

    kind: str
    """``"local"`` or ``"dask"``."""

    @property
    def workers(self) -> int:
        """Return the number of worker processes that can run calls at once (at least 1)."""
        ...

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskHandle:
        """Start ``fn(*args, **kwargs)`` on a worker and return its handle at once.

        Raises:
            EvaluationError: If the executor cannot accept work (closed, scheduler gone).
        """
        ...

    def shutdown(self, wait: bool = True) -> None:
        """Cancel queued calls and release the workers (a Dask cluster itself stays up)."""
        ...
