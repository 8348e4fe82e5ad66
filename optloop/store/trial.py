"""Trials and their lifecycle.

A trial is one design the campaign decided to evaluate. Its status moves only forward::

    PROPOSED ──submit──▶ RUNNING ──result──▶ COMPLETED
        │                   │  └──failure──▶ FAILED
        └──────abandon──────┴──────────────▶ ABANDONED

* ``PROPOSED``: stored, not yet handed to an evaluator (a crash here loses nothing: the next
  run submits it, it is never proposed again).
* ``RUNNING``: handed to an evaluator under ``job_id`` by the driver session ``session_id``;
  after a crash the job is re-polled, and re-run without spending an attempt if it died with
  its driver (see below).
* ``COMPLETED``: has outcomes (a censored outcome is a lower bound).
* ``FAILED``: the evaluation failed; the reason is kept and the optimiser learns to avoid the
  region. Failures are data, never a crash of the campaign.
* ``ABANDONED``: withdrawn by hand, cancelled, or its cell was lost on every attempt (a
  short or a channel fault says nothing about the design); ignored by the optimiser.

A lost cell (the evaluator reports ``LOST``) is rebuilt: the trial stays ``RUNNING`` and is
submitted again under a new key (``<uid>-r1``, ``-r2``...) up to ``evaluator.max_attempts``,
then abandoned. A job that died with its driver (SIGKILL, out of memory) is re-run under the
same key without spending an attempt, up to ``evaluator.max_driver_restarts``, then the trial
fails. The campaign takes these decisions from one table,
:data:`optloop.campaign.lifecycle.LIFECYCLE` (the README shows it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from optloop.space import Design

__all__ = ["TERMINAL", "TRANSITIONS", "Trial", "TrialStatus"]


class TrialStatus(StrEnum):
    """Where a trial is in its lifecycle (see the module docstring)."""

    PROPOSED = "proposed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"


TRANSITIONS: dict[TrialStatus, frozenset[TrialStatus]] = {
    TrialStatus.PROPOSED: frozenset(
        {TrialStatus.RUNNING, TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED}
    ),
    TrialStatus.RUNNING: frozenset(
        {TrialStatus.RUNNING, TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED}
    ),
    TrialStatus.COMPLETED: frozenset(),
    TrialStatus.FAILED: frozenset(),
    TrialStatus.ABANDONED: frozenset(),
}
TERMINAL = frozenset({TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED})


@dataclass(frozen=True)
class Trial:
    """One trial as stored."""

    id: int
    design: Design
    status: TrialStatus
    origin: str
    """Who proposed it: ``sobol``, ``botorch``, or ``manual`` (attached by a chemist)."""
    iteration: int
    batch_index: int
    fidelity: str = "full"
    job_id: str | None = None
    attempts: int = 0
    predictions: dict[str, list[float]] = field(default_factory=dict)
    """Objective -> [mean, std] the surrogate predicted before evaluation."""
    acquisition_value: float | None = None
    outcomes: dict[str, float] = field(default_factory=dict)
    censored: dict[str, bool] = field(default_factory=dict)
    reason: str | None = None
    bdf_path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    proposed_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    session_id: str | None = None
    """The driver session that submitted the current job (:mod:`optloop.store.session`)."""

    @property
    def uid(self) -> str:
        """Return the trial's name as evaluators and trackers see it (``trial-0007``)."""
        return f"trial-{self.id:04d}"
