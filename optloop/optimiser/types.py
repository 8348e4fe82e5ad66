"""What the optimiser reads and writes: observations in, proposals and their timing out.

These types carry no torch objects, so stores, evaluators and reports can import them
without loading BoTorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optloop.space.design import Design

__all__ = ["Observation", "Proposal", "ProposalTiming"]


@dataclass(frozen=True)
class Observation:
    """One finished trial: its design and what was measured.

    ``outcomes`` maps metric names to values; a failed trial may miss some or all of them.
    ``censored[metric]`` marks a value that is only a lower bound (e.g. a cycle life whose
    test stopped before the cell reached its end of life). ``noise[metric]`` marks a
    predicted value and gives its variance.
    """

    design: Design
    outcomes: dict[str, float]
    censored: dict[str, bool] = field(default_factory=dict)
    failed: bool = False
    """The evaluation failed (solver error, lost cell, ...): the design region may be bad."""
    noise: dict[str, float] = field(default_factory=dict)
    """Metric -> variance of its value in the model's warped units (log units for
    ``cycle_life``) when the value is a prediction (a cell stopped with a predicted life);
    absent: measured. The surrogate then fits that metric with per-point noise."""


@dataclass(frozen=True)
class Proposal:
    """One design proposed for evaluation, with why it was chosen."""

    design: Design
    origin: str
    """``"sobol"`` (space-filling initial design) or ``"botorch"`` (acquisition optimum)."""
    predictions: dict[str, tuple[float, float]]
    """Metric -> (mean, std) predicted before evaluation, in the metric's unit; ``{}`` for
    Sobol designs. Holds the objectives and the outcome-constrained metrics."""
    acquisition_value: float | None
    """The (log-)acquisition value of this design given the earlier ones of its batch."""
    batch_index: int
    """Position in the batch, from 0."""
    success_probability: float | None = None
    """Predicted probability that the evaluation succeeds (None without a failure model)."""

    @property
    def expected_gain(self) -> float | None:
        """Return the expected (hypervolume) improvement: ``exp`` of the log-acquisition value.

        qLogNEHVI's value is the log expected hypervolume improvement of this design given
        the earlier ones of its batch, so a batch's gains add up; qLogNEI's is the log
        expected improvement of the one objective. None for a Sobol design.
        """
        if self.acquisition_value is None or math.isnan(self.acquisition_value):
            return None
        return math.exp(min(self.acquisition_value, 700.0))


@dataclass(frozen=True)
class ProposalTiming:
    """Where the time of one ``propose`` call went."""

    fit_seconds: float
    """Preparing the training data and fitting the surrogates (0 in the Sobol phase)."""
    acquisition_seconds: float
    """Building the candidate pool and optimising the acquisition (or drawing Sobol points)."""
    n_observations: int
    """Observations passed in."""
    n_candidates: int
    """Feasible candidates scored (Sobol points examined in the Sobol phase)."""
    n_training: int = 0
    """Observations used to fit the surrogates' hyperparameters (after the cap)."""
    phase: str = "sobol"
    """``"sobol"``, ``"botorch"`` or ``"mixed"`` when a batch straddles both."""
    fit_cpu_seconds: float = 0.0
    """Process CPU seconds of the fit (wall time inflates when other work shares the cores)."""
    acquisition_cpu_seconds: float = 0.0
    """Process CPU seconds of the acquisition."""
