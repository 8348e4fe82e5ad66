"""The one lifecycle table: what the campaign does to a trial for each thing its job does.

The campaign looks every decision up here (:data:`LIFECYCLE`); the README's table is
:func:`markdown_table` (a test checks they match), and the docstrings of
:class:`~optloop.evaluators.base.JobState` and :mod:`optloop.store.trial` point here.

* ``failed``: the evaluation of the design failed (a solver failure, a delaminated film);
  that is data about the design: the trial fails, the optimiser learns to avoid the region,
  the design is not evaluated again.
* ``lost``: the cell or job is gone for a reason that says nothing about the design (a short,
  a dead channel, a worker that died); a new cell is built under a new key
  (``<uid>-r1``...), each spending one of ``evaluator.max_attempts``; lost on every attempt,
  the trial is abandoned (ignored by the optimiser).
* ``driver died``: the driver that submitted the job died or stopped, taking the job with it
  (a local process pool); the next driver re-runs it under the same key without spending an
  attempt, up to ``evaluator.max_driver_restarts`` times, alone from the second death on (no
  other job runs beside it, so a batch mate of the culprit stops being charged); one death
  more and the trial fails with that reason (a design that exhausts memory kills its driver
  every time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from optloop.evaluators.base import JobState
from optloop.store import TrialStatus

__all__ = ["LIFECYCLE", "JobOutcome", "Rule", "markdown_table", "outcome_of"]


class JobOutcome(StrEnum):
    """What the campaign can learn about a submitted job: its final state, or that it is gone."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"
    FORGOTTEN = "unknown to the evaluator"
    """The evaluator does not know a job that this very driver submitted (it restarted)."""
    DRIVER_DIED = "driver died"
    """The evaluator does not know a job submitted by a driver that has died or stopped."""


@dataclass(frozen=True)
class Rule:
    """What a trial becomes after one job outcome."""

    trial: TrialStatus
    """The trial's status after this outcome (``running``: the job is submitted again)."""
    spends_attempt: bool
    """Whether the re-submission (``trial`` is ``running``) counts against
    ``evaluator.max_attempts``; the first submission always does."""
    cap: str | None = None
    """The config field that caps the re-submissions (None: no re-submission)."""
    after_cap: TrialStatus | None = None
    """The trial's status once the cap is reached."""
    meaning: str = ""


LIFECYCLE: Mapping[JobOutcome, Rule] = MappingProxyType(
    {
        JobOutcome.SUCCEEDED: Rule(
            TrialStatus.COMPLETED, False, meaning="outcomes recorded"
        ),
        JobOutcome.FAILED: Rule(
            TrialStatus.FAILED,
            False,
            meaning="the design's evaluation failed: data, the optimiser avoids the region",
        ),
        JobOutcome.CANCELLED: Rule(
            TrialStatus.ABANDONED, False, meaning="stopped on request; ignored by the optimiser"
        ),
        JobOutcome.LOST: Rule(
            TrialStatus.RUNNING,
            True,
            cap="max_attempts",
            after_cap=TrialStatus.ABANDONED,
            meaning="cell or job gone (short, channel fault, dead worker): a new cell",
        ),
        JobOutcome.FORGOTTEN: Rule(
            TrialStatus.RUNNING,
            True,
            cap="max_attempts",
            after_cap=TrialStatus.ABANDONED,
            meaning="the evaluator forgot a job of the running driver: as lost",
        ),
        JobOutcome.DRIVER_DIED: Rule(
            TrialStatus.RUNNING,
            False,
            cap="max_driver_restarts",
            after_cap=TrialStatus.FAILED,
            meaning="its driver died or stopped and took the job with it: re-run it",
        ),
    }
)


def outcome_of(state: JobState) -> JobOutcome:
    """Return the outcome of a terminal job state.

    Raises:
        ValueError: for a live state (``queued``, ``running``).
    """
    if not state.is_terminal:
        raise ValueError(f"job state {state.value!r} is not terminal; it has no outcome yet")
    return JobOutcome(state.value)


def markdown_table() -> str:
    """Return the lifecycle table as the README shows it (one row per job outcome)."""
    lines = [
        "| Job outcome | Trial becomes | Re-submission | Cap (`evaluator.`) | Once capped |"
        " Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for outcome, rule in LIFECYCLE.items():
        if rule.trial is not TrialStatus.RUNNING:
            again = "-"
        elif rule.spends_attempt:
            again = "new key, spends an attempt"
        else:
            again = "same key, no attempt spent"
        lines.append(
            f"| {outcome.value} | {rule.trial.value} | {again}"
            f" | {f'`{rule.cap}`' if rule.cap else '-'}"
            f" | {rule.after_cap.value if rule.after_cap else '-'} | {rule.meaning} |"
        )
    return "\n".join(lines)
