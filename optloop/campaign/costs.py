"""What a campaign has spent, in its own cost units, read only from the store's trial records.

A campaign states its costs (``costs`` in the config, :class:`~optloop.config.CostsConfig`):
``cell_build`` per cell built, ``channel_day`` per day on a cycler channel and
``simulation_second`` per second of simulation. A trial's use is read from what its record
holds:

* **cells built**: one per submitted trial of an evaluator that builds cells (the simulated
  cycler, the file exchange, or a plugin advertising ``builds_cells``), and one more for each
  rebuild after a lost cell (``lost_attempts``); a trial given up after its last lost cell, or
  whose submission failed, built no new cell.
* **channel-days**: ``channel_days`` in the result's metadata (the simulated cycler: from the
  test's start to its end, or to the stop of an early-stopped cell), else ``test_duration_h``
  / 24 (the file exchange: first to last record of the lab's data), plus what lost cells used
  (``lost_usage``, recorded when a lost cell is rebuilt).
* **simulation seconds**: ``worker_s`` in the metadata (a PyBaMM worker's wall time), and
  that of every simulation of a prior (``prior`` in the config; stored apart from the
  trials, :func:`optloop.campaign.prior.simulation_usage`), passed to :func:`account` as
  ``extra``.

A proposed or running trial counts what it has used so far when its record knows it: its cell
once submitted; its channel time once a result (partial for an early-stopped cell, or final)
is recorded.

The stop rule compares a batch's expected hypervolume gain (the sum of ``exp`` of its
proposals' log-acquisition values, qLogNEHVI's log expected hypervolume improvement of each
design given the earlier ones of its batch) with its expected cost (the mean cost of the
finished trials that recorded a cost, or ``trial_cost_estimate`` before any did); with a
prior, the campaign adds the batch's simulations (its twins and explore designs at the mean
simulation seconds so far, :meth:`optloop.campaign.prior.PriorSimulations.batch_cost`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from optloop.config import CostsConfig
from optloop.store import Trial, TrialStatus

__all__ = [
    "CELL_EVALUATORS",
    "CostReport",
    "GainPerCost",
    "Usage",
    "account",
    "batch_gain",
    "builds_cells",
    "expected_trial_cost",
    "gain_per_cost",
    "trial_usage",
]

#: Built-in evaluators whose trials are physical cells (each submission builds one).
CELL_EVALUATORS = frozenset({"simulated_cycler", "file_exchange"})

_HOURS_PER_DAY = 24.0
_MAX_LOG = 700.0  # exp() of larger log-values overflows a double


@dataclass(frozen=True)
class Usage:
    """What one trial (or a campaign) used: cells, channel-days, simulation seconds."""

    cells_built: int = 0
    channel_days: float = 0.0
    simulation_seconds: float = 0.0

    def cost(self, costs: CostsConfig) -> float:
        """Return the use in cost units."""
        return (
            self.cells_built * costs.cell_build
            + self.channel_days * costs.channel_day
            + self.simulation_seconds * costs.simulation_second
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.cells_built + other.cells_built,
            self.channel_days + other.channel_days,
            self.simulation_seconds + other.simulation_seconds,
        )

    @property
    def empty(self) -> bool:
        """Return True when nothing was used (or nothing is known)."""
        return self.cells_built == 0 and self.channel_days == 0 and self.simulation_seconds == 0


def builds_cells(evaluator_name: str, capabilities: Mapping[str, Any] | None = None) -> bool:
    """Return True when the evaluator's trials are physical cells, each submission one cell.

    A plugin says so with ``builds_cells`` in its capabilities; the built-in simulated cycler
    and file exchange do by name.
    """
    if capabilities is not None and "builds_cells" in capabilities:
        return bool(capabilities["builds_cells"])
    return evaluator_name in CELL_EVALUATORS


def _number(value: Any) -> float:
    """Return a finite non-negative float, or 0 for anything else (unknown use)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _channel_days(meta: Mapping[str, Any]) -> float:
    """Return the channel-days a result's metadata records (0 when it records none)."""
    if "channel_days" in meta:
        return _number(meta["channel_days"])
    return _number(meta.get("test_duration_h")) / _HOURS_PER_DAY


def _submitted(trial: Trial) -> bool:
    return trial.job_id is not None or trial.attempts > 0


def trial_usage(trial: Trial, *, cells: bool) -> Usage:
    """Return what ``trial`` used, from its record alone.

    Args:
        trial: A stored trial.
        cells: True when the campaign's evaluator builds a cell per submission.
    """
    meta = trial.metadata
    lost = int(_number(meta.get("lost_attempts")))
    lost_usage = [u for u in meta.get("lost_usage", []) if isinstance(u, Mapping)]
    built = 0
    if cells and (_submitted(trial) or lost):
        reason = trial.reason or ""
        # No new cell after the last lost one (given up) or when the submission failed.
        no_new_cell = reason.startswith("lost ") or reason.startswith("submit failed")
        built = lost + (0 if no_new_cell else 1)
    return Usage(
        cells_built=built,
        channel_days=_channel_days(meta) + sum(_channel_days(u) for u in lost_usage),
        simulation_seconds=_number(meta.get("worker_s"))
        + sum(_number(u.get("worker_s")) for u in lost_usage),
    )


@dataclass(frozen=True)
class CostReport:
    """A campaign's costs: use, cost used and left of the budget."""

    usage: Usage
    """Cells built, channel-days and simulation seconds of all trials."""
    used: float
    """Cost used, in cost units."""
    budget: float | None
    """The configured budget (None: no cost budget)."""
    per_trial: dict[int, float]
    """Trial id -> its cost so far (trials that used something)."""

    @property
    def left(self) -> float | None:
        """Return the budget not yet used (never below 0), or None without a budget."""
        return None if self.budget is None else max(0.0, self.budget - self.used)

    @property
    def spent(self) -> bool:
        """Return True when a budget is set and the cost used reached it."""
        return self.budget is not None and self.used >= self.budget

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (``per_trial`` keys are strings)."""
        return {
            "used": self.used,
            "budget": self.budget,
            "left": self.left,
            "spent": self.spent,
            **asdict(self.usage),
            "per_trial": {str(k): v for k, v in self.per_trial.items()},
        }


def account(
    trials: Iterable[Trial], costs: CostsConfig, *, cells: bool, extra: Usage | None = None
) -> CostReport:
    """Add up what the trials used, in the campaign's cost units.

    Args:
        trials: The store's trials (every status: abandoned and running ones used something).
        costs: The campaign's costs.
        cells: True when the campaign's evaluator builds a cell per submission.
        extra: Use outside the trials, added to the total (not to ``per_trial``): the
            simulation seconds of a prior's simulations (:mod:`optloop.campaign.prior`).
    """
    total = Usage() if extra is None else extra
    per: dict[int, float] = {}
    for t in trials:
        u = trial_usage(t, cells=cells)
        if u.empty:
            continue
        total += u
        per[t.id] = u.cost(costs)
    return CostReport(usage=total, used=total.cost(costs), budget=costs.budget, per_trial=per)


def expected_trial_cost(
    trials: Iterable[Trial], costs: CostsConfig, *, cells: bool
) -> tuple[float | None, str]:
    """Return the expected cost of one more trial and where it comes from.

    The mean cost of the finished (completed or failed) trials that were evaluated and
    recorded a cost above 0; before any did, the configured ``trial_cost_estimate``; else
    None.
    """
    finished = [
        u.cost(costs)
        for t in trials
        if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED) and _submitted(t)
        for u in [trial_usage(t, cells=cells)]
    ]
    spent = [c for c in finished if c > 0]
    if spent:
        return sum(spent) / len(spent), f"mean of {len(spent)} finished trial(s)"
    if costs.trial_cost_estimate is not None:
        return costs.trial_cost_estimate, "costs.trial_cost_estimate"
    return None, "unknown: no finished trial recorded a cost and no trial_cost_estimate"


def batch_gain(log_values: Sequence[float | None]) -> float | None:
    """Return a batch's expected hypervolume gain from its proposals' log-acquisition values.

    Each value is the log expected (hypervolume) improvement of a design given the earlier
    ones of its batch, so the batch's gain is the sum of their ``exp``. None when the batch
    is empty or holds a design without one (a Sobol design: no model yet).
    """
    if not log_values or any(v is None or math.isnan(v) for v in log_values):
        return None
    # exp(-inf) = 0: a design that cannot improve adds nothing.
    return float(sum(math.exp(min(float(v), _MAX_LOG)) for v in log_values if v is not None))


@dataclass(frozen=True)
class GainPerCost:
    """A batch's expected hypervolume gain per unit of its expected cost."""

    expected_gain: float
    """Expected hypervolume gain of the batch, in hypervolume units."""
    expected_cost: float
    """Expected cost of the batch: its size times the expected cost of one trial."""
    gain_per_cost: float
    """``expected_gain / expected_cost``."""
    n: int
    """Designs in the batch."""
    cost_source: str
    """Where the cost of one trial came from."""

    def to_dict(self) -> dict[str, Any]:
        """Return the numbers as JSON-ready data."""
        return asdict(self)


def gain_per_cost(
    log_values: Sequence[float | None],
    trials: Iterable[Trial],
    costs: CostsConfig,
    *,
    cells: bool,
) -> GainPerCost | None:
    """Return a proposed batch's expected gain per cost; None when either is unknown."""
    gain = batch_gain(log_values)
    if gain is None:
        return None
    per_trial, source = expected_trial_cost(trials, costs, cells=cells)
    if per_trial is None or per_trial <= 0:
        return None
    cost = per_trial * len(log_values)
    return GainPerCost(gain, cost, gain / cost, len(log_values), source)
