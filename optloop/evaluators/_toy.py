"""A tiny in-memory evaluator that follows the protocol to the letter; for tests only.

Each job takes ``polls_to_finish`` calls of :meth:`ToyEvaluator.status` to finish, so tests run
without real time. Not part of the public API: the evaluator conformance tests use it as the
reference that must pass them.

:class:`ToyEvaluator` is built directly with a Python score function (which no config can
name); it declares :class:`ToyOptions` as its ``options_model`` so that a subclass the registry
builds (``cls(options, context=context)``, e.g. ``tests/toy_plugin.py``) only has to map the
options onto the constructor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    JobStatus,
    SubmissionLedger,
)
from optloop.exceptions import EvaluationError

__all__ = ["ToyEvaluator", "ToyOptions"]


class ToyOptions(BaseModel):
    """Options of a registry-built toy evaluator.

    Attributes:
        polls: ``status`` calls before a job is terminal (``polls_to_finish``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    polls: int = Field(default=1, ge=1, le=10_000)


@dataclass
class _Job:
    design_json: str
    fidelity: str
    polls: int = 0
    state: JobState = JobState.QUEUED
    result: EvaluationResult | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class ToyEvaluator:
    """Score designs with a Python function, finishing after a fixed number of polls.

    Args:
        score: Maps a design dict to metrics. An exception it raises makes the job FAILED.
        polls_to_finish: ``status`` calls before the job is terminal (the first moves it from
            QUEUED to RUNNING).
        name: The evaluator's name.
    """

    options_model: ClassVar[type[BaseModel]] = ToyOptions

    def __init__(
        self,
        score: Callable[[Mapping[str, Any]], Mapping[str, float]],
        *,
        polls_to_finish: int = 2,
        name: str = "toy",
    ) -> None:
        self.name = name
        self._score = score
        self._polls_to_finish = polls_to_finish
        self._jobs: dict[str, _Job] = {}
        self._ledger = SubmissionLedger(name)

    def capabilities(self) -> dict[str, Any]:
        """Return what this evaluator supports."""
        return {
            "fidelities": ["full"],
            "asynchronous": True,
            "max_concurrency": 1_000,
            "supports_cancel": True,
            "supports_partial": True,
            "est_duration_s": 0.0,
        }

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Queue a design; the same ``trial_id`` with the same design returns the same job id.

        Raises:
            EvaluationError: If the fidelity is unknown, or ``trial_id`` was already submitted
                with a different design or fidelity.
        """
        if fidelity not in self.capabilities()["fidelities"]:
            raise EvaluationError(f"{self.name}: fidelity={fidelity!r} unknown; allowed: ['full']")
        design_json = self._ledger.design_json(design)
        existing = self._ledger.lookup(trial_id, design_json, fidelity)
        if existing is not None:
            return existing
        job_id = f"{self.name}-{len(self._jobs) + 1}"
        self._jobs[job_id] = _Job(design_json=design_json, fidelity=fidelity)
        self._ledger.record(trial_id, job_id, design_json, fidelity)
        return job_id

    def _job(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}") from None

    def status(self, job_id: str) -> JobStatus:
        """Advance the job by one poll and return its state."""
        job = self._job(job_id)
        if not job.state.is_terminal:
            job.polls += 1
            if job.polls >= self._polls_to_finish:
                self._finish(job_id, job)
            else:
                job.state = JobState.RUNNING
        reason = job.result.reason if job.result else None
        return JobStatus(state=job.state, reason=reason, progress=self._progress(job))

    def _progress(self, job: _Job) -> float:
        return min(1.0, job.polls / self._polls_to_finish)

    def _finish(self, job_id: str, job: _Job) -> None:
        meta = {"job_id": job_id, "fidelity": job.fidelity}
        try:
            metrics = dict(self._score(json.loads(job.design_json)))
            job.result = EvaluationResult(JobState.SUCCEEDED, metrics=metrics, metadata=meta)
        except Exception as exc:
            job.result = EvaluationResult.failed(f"{type(exc).__name__}: {exc}", metadata=meta)
        job.state = job.result.state

    def fetch(self, job_id: str) -> EvaluationResult:
        """Return the final result, or an empty partial one while the job is live."""
        job = self._job(job_id)
        if job.result is not None:
            return job.result
        return EvaluationResult(job.state, partial=True, metadata={"job_id": job_id})

    def cancel(self, job_id: str) -> None:
        """Cancel a live job; do nothing to a terminal one."""
        job = self._job(job_id)
        if job.state.is_terminal:
            return
        job.result = EvaluationResult.failed(
            "cancelled on request", state=JobState.CANCELLED, metadata={"job_id": job_id}
        )
        job.state = JobState.CANCELLED
