"""A toy evaluator whose jobs run in a local process pool and die with their driver; tests only.

Reachable by name from a config (``optloop.evaluators._toy_pool:PoolToyEvaluator``), so tests
and ``experiments/bench_kill_loop.py`` can SIGKILL a real ``optloop run`` mid-batch. Like the
local PyBaMM pool, a job lives only in the driver's process: a new driver no longer knows it.
Not part of the public API.

Options: ``seconds`` (wall time of one job, default 1.0), ``workers`` (pool size, default 2),
``kill_driver_above_um`` (a design whose alloy film is thicker than this kills its driver,
as a design that exhausts the driver's memory would; default none).
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from optloop.evaluators.base import EvaluationResult, JobState, JobStatus, SubmissionLedger
from optloop.evaluators.context import EvaluatorContext
from optloop.exceptions import EvaluationError
from optloop.executors.base import TaskState
from optloop.executors.local import LocalExecutor, LocalHandle

__all__ = ["PoolToyEvaluator", "PoolToyOptions", "score"]


class PoolToyOptions(BaseModel):
    """Options of :class:`PoolToyEvaluator` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=1.0, ge=0.0, le=3600.0)
    workers: int = Field(default=2, ge=1, le=64)
    kill_driver_above_um: float | None = None


def score(design: Mapping[str, Any]) -> dict[str, float]:
    """Return smooth synthetic metrics: thin films live long, thick ones store more."""
    t = float(design["alloy_layer"]["thickness_um"])
    return {
        "cycle_life": 300.0 * math.exp(-2.0 * t),
        "areal_capacity_mAh_cm2": 0.5 + 2.0 * t,
        "first_cycle_efficiency": 0.85,
    }


def _work(design: dict[str, Any], seconds: float, kill_above: float | None) -> dict[str, float]:
    """Run in a worker: wait ``seconds``, or kill the driver for a poisonous design."""
    if kill_above is not None and float(design["alloy_layer"]["thickness_um"]) > kill_above:
        os.kill(os.getppid(), signal.SIGKILL)  # as the kernel's OOM killer would
    time.sleep(seconds)
    return score(design)


class PoolToyEvaluator:
    """Score designs with :func:`score` in a spawn process pool (see the module docstring)."""

    name = "toy_pool"
    options_model: ClassVar[type[BaseModel]] = PoolToyOptions

    def __init__(
        self,
        options: PoolToyOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
    ) -> None:
        opts = (
            options
            if isinstance(options, PoolToyOptions)
            else PoolToyOptions.model_validate(dict(options or {}))
        )
        self.context = context or EvaluatorContext()
        self._seconds = opts.seconds
        self._workers = opts.workers
        self._kill_above = opts.kill_driver_above_um
        self._executor: LocalExecutor | None = None
        self._jobs: dict[str, LocalHandle] = {}
        self._ledger = SubmissionLedger(self.name)

    def capabilities(self) -> dict[str, Any]:
        """Return what this evaluator supports (jobs live in this process only)."""
        return {
            "fidelities": ["full"],
            "asynchronous": True,
            "max_concurrency": self._workers,
            "supports_cancel": True,
            "supports_partial": False,
            "est_duration_s": self._seconds,
            "persistent_jobs": False,
        }

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Start a job; the same ``trial_id`` returns the same job id."""
        design_json = self._ledger.design_json(design)
        existing = self._ledger.lookup(trial_id, design_json, fidelity)
        if existing is not None:
            return existing
        if self._executor is None:
            self._executor = LocalExecutor(self._workers)
        handle = self._executor.submit(_work, dict(design), self._seconds, self._kill_above)
        job_id = f"{self.name}-{os.getpid()}-{len(self._jobs) + 1}"
        self._jobs[job_id] = handle
        self._ledger.record(trial_id, job_id, design_json, fidelity)
        return job_id

    def _handle(self, job_id: str) -> LocalHandle:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}") from None

    def status(self, job_id: str) -> JobStatus:
        """Return the job's state, without blocking."""
        h = self._handle(job_id)
        state = h.state
        mapping = {
            TaskState.QUEUED: JobState.QUEUED,
            TaskState.RUNNING: JobState.RUNNING,
            TaskState.FINISHED: JobState.SUCCEEDED,
            TaskState.ERROR: JobState.FAILED,
            TaskState.CANCELLED: JobState.CANCELLED,
            TaskState.LOST: JobState.LOST,
        }
        job_state = mapping[state]
        reason = h.reason or (job_state.value if job_state in (JobState.FAILED, JobState.LOST)
                              else None)
        return JobStatus(state=job_state, reason=reason)

    def fetch(self, job_id: str) -> EvaluationResult:
        """Return the result (partial and empty while the job is live)."""
        status = self.status(job_id)
        if not status.state.is_terminal:
            return EvaluationResult(status.state, partial=True)
        if status.state is JobState.SUCCEEDED:
            metrics = self._handle(job_id).result(timeout=0)
            return EvaluationResult(JobState.SUCCEEDED, metrics=metrics,
                                    metadata={"job_id": job_id})
        return EvaluationResult.failed(status.reason or status.state.value, state=status.state)

    def cancel(self, job_id: str) -> None:
        """Cancel the job (best effort)."""
        h = self._handle(job_id)
        if h.state in (TaskState.QUEUED, TaskState.RUNNING):
            h.cancel()

    def close(self) -> None:
        """Stop the pool."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
