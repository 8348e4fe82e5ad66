"""Executors: where evaluations run, a local process pool or a Dask cluster.

Public API: the :class:`Executor` / :class:`TaskHandle` interface and :class:`TaskState`,
:class:`LocalExecutor` (a spawn process pool, the default), :class:`DaskExecutor` (a
``distributed.Client`` on an existing scheduler; needs ``pip install optloop[dask]``), and
:func:`create_executor`, which builds one from an
:class:`~optloop.config.models.ExecutorConfig`.
"""

from optloop.executors.base import TERMINAL_TASK_STATES, Executor, TaskHandle, TaskState
from optloop.executors.dask import DaskExecutor
from optloop.executors.factory import DASK_ADDRESS_ENV, create_executor, resolve_address
from optloop.executors.local import LocalExecutor

__all__ = [
    "DASK_ADDRESS_ENV",
    "TERMINAL_TASK_STATES",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "TaskHandle",
    "TaskState",
    "create_executor",
    "resolve_address",
]
