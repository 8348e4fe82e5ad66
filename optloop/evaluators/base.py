"""The evaluator protocol: one interface for PyBaMM, the simulated cycler and real cyclers.

It mirrors Ax's ``IRunner`` (run, poll, stop a trial) and ``IMetric`` (fetch data, partial
allowed), so a multi-day cycler test and a one-second simulation look the same to a campaign.

Lifecycle of a job: ``submit() -> QUEUED -> RUNNING -> SUCCEEDED | FAILED | LOST | CANCELLED``.
QUEUED may also go straight to a terminal state; a terminal state never changes.

* :meth:`Evaluator.submit` starts the evaluation of one design and returns a job id at once.
  Submitting the same ``trial_id`` again returns the same job id and starts nothing new, so a
  campaign that crashed between submitting and recording can safely resubmit.
* :meth:`Evaluator.status` is cheap and never blocks.
* :meth:`Evaluator.fetch` may be called while the job runs: the result is then ``partial`` (for
  example the cycles done so far). Once the job is terminal, ``fetch`` returns the same result
  every time.
* :meth:`Evaluator.cancel` is best effort; cancelling a finished job does nothing.
* A job id the evaluator never issued raises :class:`~optloop.exceptions.EvaluationError`. A
  job it issued but can no longer follow (a dead channel, a restarted service) is ``LOST``.
* A failed evaluation is data, not an exception: a result with state ``FAILED`` or ``LOST``
  and a reason. Exceptions are for an evaluator that cannot be used at all.
* ``FAILED`` and ``LOST`` differ in whose fault it is. ``FAILED``: the evaluation of the design
  failed (a solver failure, a delaminated film); the campaign records a failed trial and never
  evaluates the design again. ``LOST``: the cell or job is gone for a reason that says nothing
  about the design (a short, a dead channel or worker); the campaign builds a new cell under a
  new ``trial_id`` up to ``evaluator.max_attempts``, then abandons the trial. What the campaign
  does for each state is one table, :data:`optloop.campaign.lifecycle.LIFECYCLE`.
* Everything that crosses the interface (designs, metadata, capabilities) is JSON, so jobs can
  be recorded and resumed; :func:`check_json_serialisable` checks it.

Metrics are computed by the core from the evaluator's BDF file
(:func:`optloop.data.metrics.compute_metrics`), never trusted from a plugin's own numbers.
:func:`evaluate` is the synchronous helper on top: submit, poll, fetch.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from optloop.exceptions import EvaluationError, OptloopError

__all__ = [
    "CAPABILITY_KEYS",
    "TERMINAL_STATES",
    "EvaluationResult",
    "Evaluator",
    "JobState",
    "JobStatus",
    "ProtocolError",
    "SubmissionLedger",
    "check_json_serialisable",
    "check_resubmission",
    "design_json",
    "evaluate",
]


class ProtocolError(OptloopError, ValueError):
    """Data crossing the evaluator interface break its rules.

    For example: metadata that are not JSON, a FAILED status without a reason, a NaN metric.
    """


class JobState(StrEnum):
    """State of an evaluation job.

    ``QUEUED`` and ``RUNNING`` are live; the other four are terminal and never change again.
    """

    QUEUED = "queued"
    """Accepted, waiting for a worker or a cycler channel."""
    RUNNING = "running"
    """Being evaluated; partial results may be fetched."""
    SUCCEEDED = "succeeded"
    """Finished; the result holds the metrics (some may be censored lower bounds)."""
    FAILED = "failed"
    """The design's evaluation failed (solver failure, a cell that could not be made); data
    about the design: the campaign fails the trial and does not retry it. Needs a reason."""
    LOST = "lost"
    """The cell or the job is gone for a reason unrelated to the design (shorted cell, dead
    channel or worker); the campaign retries with a new cell up to ``max_attempts``. Needs a
    reason."""
    CANCELLED = "cancelled"
    """Stopped on request (cancel, timeout) before it finished."""

    @property
    def is_terminal(self) -> bool:
        """Return True for a state that never changes again."""
        return self in TERMINAL_STATES


TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.LOST, JobState.CANCELLED}
)
_NEEDS_REASON = (JobState.FAILED, JobState.LOST)

#: Keys :meth:`Evaluator.capabilities` should provide (others are allowed).
CAPABILITY_KEYS: Mapping[str, str] = {
    "fidelities": "list[str]: fidelities submit() accepts, e.g. ['full', 'fast']",
    "asynchronous": "bool: whether submit() returns before the evaluation is done",
    "max_concurrency": "int: jobs that may run at once",
    "supports_cancel": "bool: whether cancel() can stop a running job",
    "supports_partial": "bool: whether fetch() returns partial results while running",
    "est_duration_s": "float: typical duration of one job, in seconds",
}


def _json_problem(obj: Any, where: str) -> str | None:
    """Return a description of the first non-JSON value inside ``obj``, or None."""
    if obj is None or isinstance(obj, bool | int | str):
        return None
    if isinstance(obj, float):
        return None if math.isfinite(obj) else f"{where} is {obj!r}; JSON has no NaN or infinity"
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            problem = _json_problem(item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                kind = type(key).__name__
                return f"{where} has the key {key!r} of type {kind}; keys must be str"
            problem = _json_problem(value, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    return (
        f"{where} is {obj!r} of type {type(obj).__name__}; allowed: str, int, float, bool, "
        "None, list, and dict with str keys"
    )


def check_json_serialisable(obj: Any, what: str) -> None:
    """Raise if ``obj`` would not survive a JSON round trip unchanged in meaning.

    Args:
        obj: The value to check (metadata, a design, capabilities).
        what: Its name in the error message, e.g. ``"metadata"``.

    Raises:
        ProtocolError: Naming the path to the first bad value (``metadata['cell']``), its
            value and type, and what is allowed.
    """
    problem = _json_problem(obj, what)
    if problem:
        raise ProtocolError(f"not JSON-serialisable: {problem}")


@dataclass(frozen=True)
class JobStatus:
    """What :meth:`Evaluator.status` reports about one job."""

    state: JobState
    """The job's state."""
    reason: str | None = None
    """Why the job failed or was lost (required for FAILED and LOST), or was cancelled."""
    progress: float | None = None
    """Fraction done, in ``[0, 1]``, when the evaluator can tell."""
    cycles_done: int | None = None
    """Cycles completed so far, for cycling tests."""
    message: str | None = None
    """Free text for a human (e.g. ``"channel 4, CC charge"``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _as_state(self.state))
        _check_reason(self.state, self.reason)
        if self.progress is not None and not (0.0 <= self.progress <= 1.0):
            raise ProtocolError(f"progress={self.progress!r}; limit: 0 <= progress <= 1")
        if self.cycles_done is not None and self.cycles_done < 0:
            raise ProtocolError(f"cycles_done={self.cycles_done!r}; limit: >= 0")


def _as_state(state: JobState | str) -> JobState:
    try:
        return JobState(state)
    except ValueError:
        allowed = [s.value for s in JobState]
        raise ProtocolError(f"state={state!r} is unknown; allowed: {allowed}") from None


def _check_reason(state: JobState, reason: str | None) -> None:
    if state in _NEEDS_REASON and not (reason and reason.strip()):
        raise ProtocolError(f"state {state.value!r} needs a reason; got reason={reason!r}")


@dataclass(frozen=True)
class EvaluationResult:
    """What :meth:`Evaluator.fetch` returns: metrics and provenance of one design's evaluation.

    A result of a live job (QUEUED, RUNNING) must be ``partial``; a SUCCEEDED one must not.
    """

    state: JobState
    """The job's state when the result was made."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Numbers named with their units (``cycle_life``, ``discharge_capacity_Ah``,
    ``areal_capacity_mAh_cm2``); finite floats."""
    censored: dict[str, bool] = field(default_factory=dict)
    """For metrics that are lower bounds (a test stopped before end of life): ``True``."""
    reason: str | None = None
    """Why the job failed or was lost (required for FAILED and LOST)."""
    partial: bool = False
    """True while more data are expected (the job is still running)."""
    bdf_path: str | None = None
    """The BDF time series the metrics were computed from."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable facts (job id, evaluator version, solver settings, ...)."""

    def __post_init__(self) -> None:
        state = _as_state(self.state)
        object.__setattr__(self, "state", state)
        _check_reason(state, self.reason)
        if not state.is_terminal and not self.partial:
            raise ProtocolError(f"a result in state {state.value!r} must have partial=True")
        if state is JobState.SUCCEEDED and self.partial:
            raise ProtocolError("a result in state 'succeeded' cannot be partial")
        metrics: dict[str, float] = {}
        for name, value in self.metrics.items():
            if not isinstance(name, str) or not name:
                raise ProtocolError(f"metric name {name!r}; limit: a non-empty str")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ProtocolError(f"metrics[{name!r}] = {value!r}; limit: a number")
            if not math.isfinite(value):
                raise ProtocolError(f"metrics[{name!r}] = {value!r}; limit: finite")
            metrics[name] = float(value)
        unknown = sorted(set(self.censored) - set(metrics))
        if unknown:
            raise ProtocolError(f"censored names {unknown} are not in metrics {sorted(metrics)}")
        censored = {str(k): bool(v) for k, v in self.censored.items()}
        check_json_serialisable(self.metadata, "metadata")
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "censored", censored)
        object.__setattr__(self, "metadata", dict(self.metadata))

    @classmethod
    def failed(
        cls,
        reason: str,
        *,
        state: JobState = JobState.FAILED,
        metadata: Mapping[str, Any] | None = None,
    ) -> EvaluationResult:
        """Return a result with no metrics, for an evaluation that did not finish.

        Args:
            reason: Why it failed.
            state: ``FAILED`` (the design's fault), ``LOST`` (not) or ``CANCELLED``.
            metadata: JSON-serialisable facts to record.
        """
        return cls(state=state, reason=reason, metadata=dict(metadata or {}))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; :meth:`from_dict` reads it back."""
        return {
            "state": self.state.value,
            "metrics": dict(self.metrics),
            "censored": dict(self.censored),
            "reason": self.reason,
            "partial": self.partial,
            "bdf_path": self.bdf_path,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Build a result from :meth:`to_dict` output.

        Raises:
            ProtocolError: If a key is unknown or a value breaks a rule of the class.
        """
        known = {"state", "metrics", "censored", "reason", "partial", "bdf_path", "metadata"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProtocolError(f"unknown key(s) {unknown}; allowed: {sorted(known)}")
        if "state" not in data:
            raise ProtocolError("missing key 'state'")
        return cls(
            state=_as_state(data["state"]),
            metrics=dict(data.get("metrics") or {}),
            censored=dict(data.get("censored") or {}),
            reason=data.get("reason"),
            partial=bool(data.get("partial", False)),
            bdf_path=data.get("bdf_path"),
            metadata=dict(data.get("metadata") or {}),
        )


@runtime_checkable
class Evaluator(Protocol):
    """Anything that scores anode designs: PyBaMM, the simulated cycler, a real cycler.

    A class that a config names (a plugin, built by :mod:`optloop.evaluators.registry`) also
    declares ``options_model: ClassVar[type[pydantic.BaseModel]]``, the model of its
    ``evaluator.options``, and is constructed as ``cls(options, context=context)`` with the
    validated options and an :class:`~optloop.evaluators.context.EvaluatorContext`. That is
    a contract on the class, checked when the plugin is loaded, not part of this instance
    protocol: an evaluator object handed to a campaign directly needs neither.
    """

    name: str
    """Short identifier, e.g. ``"pybamm"``; recorded with every result."""

    def capabilities(self) -> dict[str, Any]:
        """Return what the evaluator supports (see :data:`CAPABILITY_KEYS`), as JSON."""
        ...

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Start evaluating a design and return its job id at once.

        Args:
            design: The design as its JSON dict.
            trial_id: The campaign's id for this trial; resubmitting it returns the same job id.
            fidelity: One of ``capabilities()["fidelities"]``.
        """
        ...

    def status(self, job_id: str) -> JobStatus:
        """Return the job's state, without blocking."""
        ...

    def fetch(self, job_id: str) -> EvaluationResult:
        """Return the job's result, ``partial`` while it is live, stable once it is terminal."""
        ...

    def cancel(self, job_id: str) -> None:
        """Stop the job if it is live (best effort); do nothing if it is terminal."""
        ...


def design_json(design: Mapping[str, Any]) -> str:
    """Return the canonical JSON of a design (checked to be JSON first)."""
    check_json_serialisable(dict(design), "design")
    return json.dumps(design, sort_keys=True)


def check_resubmission(
    evaluator_name: str,
    trial_id: str,
    job_id: str,
    known: tuple[str, str],
    asked: tuple[str, str],
) -> str:
    """Apply the idempotency rule of :meth:`Evaluator.submit` to a trial seen before.

    Args:
        evaluator_name: Named in the error.
        trial_id: The trial submitted again.
        job_id: The job it got the first time.
        known: ``(design JSON, fidelity)`` of the first submission.
        asked: ``(design JSON, fidelity)`` of this one.

    Returns:
        ``job_id``: the same request gets the same job and starts nothing new.

    Raises:
        EvaluationError: When the trial was submitted with another design or fidelity.
    """
    if known != asked:
        raise EvaluationError(
            f"{evaluator_name}: trial_id={trial_id!r} was submitted as job "
            f"{job_id!r} with a different design or fidelity"
        )
    return job_id


class SubmissionLedger:
    """Remember, in memory, the job each trial got, so that submitting again is idempotent.

    For evaluators whose jobs die with the process; evaluators that keep jobs on disk use
    :class:`optloop.evaluators.jobs.JobStore`, which applies the same rule
    (:func:`check_resubmission`). Call :meth:`lookup` first: it returns the existing job id
    for the same design and fidelity, ``None`` for a new trial, and raises for the same trial
    with a different design or fidelity. Then :meth:`record` the new job.
    """

    design_json = staticmethod(design_json)

    def __init__(self, evaluator_name: str) -> None:
        self.evaluator_name = evaluator_name
        self._jobs: dict[str, tuple[str, str, str]] = {}  # trial -> (job, design json, fidelity)

    def lookup(self, trial_id: str, design_json: str, fidelity: str) -> str | None:
        """Return the job id already issued for this trial, or None.

        Raises:
            EvaluationError: when the trial was submitted with another design or fidelity.
        """
        known = self._jobs.get(trial_id)
        if known is None:
            return None
        job_id, old_json, old_fidelity = known
        return check_resubmission(
            self.evaluator_name, trial_id, job_id, (old_json, old_fidelity),
            (design_json, fidelity),
        )

    def record(self, trial_id: str, job_id: str, design_json: str, fidelity: str) -> None:
        """Remember the job issued for a trial."""
        self._jobs[trial_id] = (job_id, design_json, fidelity)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def evaluate(
    evaluator: Evaluator,
    design: Mapping[str, Any],
    *,
    trial_id: str,
    fidelity: str = "full",
    poll_interval_s: float = 1.0,
    timeout_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> EvaluationResult:
    """Evaluate one design synchronously: submit, poll until terminal, fetch.

    Whatever the evaluator does, this returns a result: an exception raised by the evaluator
    becomes a FAILED result whose reason names the call and the exception, and a timeout
    cancels the job and returns a FAILED result with reason ``"timeout after <s> s"``.
    Results made here carry ``evaluator``, ``job_id`` and ``trial_id`` in their metadata;
    results fetched from the evaluator are returned as they are.

    Args:
        evaluator: The evaluator to use.
        design: The design as its JSON dict.
        trial_id: The campaign's id for this trial.
        fidelity: The fidelity to ask for.
        poll_interval_s: Seconds between status polls.
        timeout_s: Give up after this many seconds (``None``: wait for ever).
        clock: Monotonic clock in seconds (inject a fake one in tests).
        sleep: Sleep function (inject a fake one in tests).

    Returns:
        The terminal result.

    Raises:
        ProtocolError: If ``design`` is not JSON-serialisable (a caller bug).
        ValueError: If ``poll_interval_s`` or ``timeout_s`` is not positive.
    """
    if not poll_interval_s > 0:
        raise ValueError(f"poll_interval_s={poll_interval_s!r}; limit: > 0")
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s={timeout_s!r}; limit: > 0 or None")
    check_json_serialisable(design, "design")
    name = str(getattr(evaluator, "name", type(evaluator).__name__))
    context: dict[str, Any] = {"evaluator": name, "trial_id": trial_id, "job_id": None}

    start = clock()
    try:
        job_id = evaluator.submit(design, trial_id=trial_id, fidelity=fidelity)
    except Exception as exc:
        return EvaluationResult.failed(f"submit raised {_describe(exc)}", metadata=context)
    context["job_id"] = job_id

    while True:
        try:
            status = evaluator.status(job_id)
            state = _as_state(status.state)
        except Exception as exc:
            _cancel_quietly(evaluator, job_id)
            return EvaluationResult.failed(f"status raised {_describe(exc)}", metadata=context)
        if state.is_terminal:
            break
        elapsed = clock() - start
        if timeout_s is not None and elapsed >= timeout_s:
            _cancel_quietly(evaluator, job_id)
            return EvaluationResult.failed(f"timeout after {timeout_s:g} s", metadata=context)
        wait = poll_interval_s
        if timeout_s is not None:
            wait = min(wait, timeout_s - elapsed)
        sleep(wait)

    try:
        result = evaluator.fetch(job_id)
    except Exception as exc:
        return EvaluationResult.failed(f"fetch raised {_describe(exc)}", metadata=context)
    if not isinstance(result, EvaluationResult):
        return EvaluationResult.failed(
            f"fetch returned {type(result).__name__}, not an EvaluationResult", metadata=context
        )
    if not result.state.is_terminal:
        return EvaluationResult.failed(
            f"fetch returned state {result.state.value!r} after status {state.value!r}",
            metadata=context,
        )
    return result


def _cancel_quietly(evaluator: Evaluator, job_id: str) -> None:
    """Cancel a job, ignoring errors: the caller is already reporting a failure."""
    with contextlib.suppress(Exception):
        evaluator.cancel(job_id)
