"""The lab's schedule as a deterministic discrete-event replay of the persisted jobs.

Given the jobs in submission order (when each was submitted, when its cell can start, when it
was cancelled, and its test), the channels' fault timelines and the current simulated time,
:func:`replay` decides which channel runs which cell from when to when and how each test
ended. Every decision at time ``t`` uses only facts dated before ``t``, so replaying later
never changes what an earlier replay reported: any process on the same state folder agrees.

Rules: a channel that is free and up takes the cell, among those ready (built and with a cell
model), that was submitted first; ties between channels go to the lowest channel number. A
fault strikes each channel as a Poisson process of up time (seeded per channel); the channel
is down for the repair time and a test running on it ends LOST.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from optloop.evaluators.simulated_cycler.cell import CellTest

__all__ = ["ChannelFaults", "JobFacts", "JobOutcome", "replay"]

_SECONDS_PER_DAY = 86400.0
_FAULT_STREAM = 0x6661756C74  # "fault": keeps fault draws apart from the cells' streams


class ChannelFaults:
    """The fault times of one channel, drawn lazily and reproducibly.

    Faults arrive at ``rate_per_day`` per day of up time; after a fault the channel is down for
    ``repair_s`` and the next fault can only come after that.
    """

    def __init__(self, seed: int, channel: int, rate_per_day: float, repair_s: float) -> None:
        self._rng = np.random.default_rng([int(seed), _FAULT_STREAM, channel])
        self._mean_gap_s = _SECONDS_PER_DAY / rate_per_day if rate_per_day > 0 else math.inf
        self.repair_s = repair_s
        self.times: list[float] = []

    def _extend(self, until_s: float) -> None:
        while math.isfinite(self._mean_gap_s):
            last = self.times[-1] + self.repair_s if self.times else 0.0
            if self.times and self.times[-1] > until_s:
                return
            self.times.append(last + float(self._rng.exponential(self._mean_gap_s)))

    def up_from(self, t_s: float) -> float:
        """Return the first time at or after ``t_s`` when the channel is up."""
        self._extend(t_s)
        for f in self.times:
            if f <= t_s < f + self.repair_s:
                return f + self.repair_s
            if f > t_s:
                break
        return t_s

    def first_in(self, start_s: float, end_s: float) -> float | None:
        """Return the first fault strictly after ``start_s`` and before ``end_s``, or None."""
        self._extend(end_s)
        for f in self.times:
            if start_s < f < end_s:
                return f
            if f >= end_s:
                break
        return None

    def faults_until(self, t_s: float) -> list[float]:
        """Return the fault times up to ``t_s``."""
        self._extend(t_s)
        return [f for f in self.times if f <= t_s]


@dataclass(frozen=True)
class JobFacts:
    """What the replay needs to know about one job."""

    job_id: str
    submitted_s: float
    ready_s: float | None
    """When the cell can start: built and its cell model known; None: not yet known."""
    cancelled_s: float | None
    test: CellTest | None
    """The cell's test; None when the cell model failed or is not known yet."""
    failed_s: float | None = None
    """When the cell model reported a failure (the job is then FAILED)."""


@dataclass
class JobOutcome:
    """Where a job stands in the replay."""

    channel: int | None = None
    """1-based channel that ran (or runs) the cell."""
    start_s: float | None = None
    end_s: float | None = None
    """When the test ended or will end (None: it has not started)."""
    ran_s: float | None = None
    """How long the test runs on its channel (exact: its data are cut there)."""
    end_kind: str | None = None
    """``"completed"``, ``"lost_cell"``, ``"channel_fault"`` or ``"cancelled"``."""
    queue_position: int | None = None
    """1-based position among ready cells waiting for a channel."""


@dataclass
class Replay:
    """The result of :func:`replay`."""

    now_s: float
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)
    channels: list[ChannelFaults] = field(default_factory=list)


def replay(
    jobs: Sequence[JobFacts],
    *,
    now_s: float,
    channels: Sequence[ChannelFaults],
) -> Replay:
    """Replay the lab up to ``now_s`` and return every job's outcome.

    Args:
        jobs: Every job, in submission order.
        now_s: The current simulated time.
        channels: The channels' fault timelines (their number is the channel count).
    """
    free_at = [0.0] * len(channels)
    out = Replay(now_s=now_s, channels=list(channels))
    pending: list[JobFacts] = []
    for job in jobs:
        out.outcomes[job.job_id] = JobOutcome()
        if job.test is not None and job.ready_s is not None:
            pending.append(job)

    def live_at(job: JobFacts, t: float) -> bool:
        return job.cancelled_s is None or job.cancelled_s > t

    while pending:
        pending = [j for j in pending if live_at(j, j.ready_s or 0.0)]
        if not pending:
            break
        earliest = min(j.ready_s or 0.0 for j in pending)
        best_t, best_c = math.inf, -1
        for c, faults in enumerate(channels):
            t = faults.up_from(max(free_at[c], earliest))
            if t < best_t:
                best_t, best_c = t, c
        if best_t > now_s:
            break
        ready = [j for j in pending if (j.ready_s or 0.0) <= best_t and live_at(j, best_t)]
        if not ready:
            # The cells ready by then were cancelled first; drop them and look again.
            pending = [j for j in pending if live_at(j, best_t)]
            continue
        job = ready[0]
        pending.remove(job)
        assert job.test is not None
        outcome = out.outcomes[job.job_id]
        outcome.channel, outcome.start_s = best_c + 1, best_t
        ran, kind = job.test.duration_s, "completed"
        if job.test.loss_offset_s is not None:
            ran, kind = job.test.loss_offset_s, "lost_cell"
        fault = channels[best_c].first_in(best_t, best_t + ran)
        if fault is not None:
            ran, kind = fault - best_t, "channel_fault"
        if job.cancelled_s is not None and best_t < job.cancelled_s < best_t + ran:
            ran, kind = job.cancelled_s - best_t, "cancelled"
        end = best_t + ran
        outcome.end_s, outcome.ran_s, outcome.end_kind = end, ran, kind
        free_at[best_c] = end

    waiting = [j for j in pending if (j.ready_s or 0.0) <= now_s and live_at(j, now_s)]
    for position, job in enumerate(waiting, start=1):
        out.outcomes[job.job_id].queue_position = position
    return out
