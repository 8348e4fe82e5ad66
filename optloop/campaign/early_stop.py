"""Early stopping of running cells from a prediction of their cycle life.

A cell on a cycler channel for weeks costs channel-days. Once it has ``after_cycles`` cycles,
its partial data (the evaluator's partial BDF file) go through a cycle-life predictor trained
on the campaign's completed cells (:mod:`optloop.prediction`); a clearly poor cell is stopped
and its predicted cycle life recorded, as Attia et al. (2020) did. One decision per cell: the
features use its first ``after_cycles`` cycles, so a later look would not see anything new to
the model; a cell whose review waits for a trained predictor is looked at again once the
training set grows.

Every BDF file is read with the metrics protocol its evaluator recorded
(:func:`optloop.data.metrics.file_protocol`), with the stopper's cell configuration and
end-of-life threshold: a file of an extrapolating simulation holds only the cycles it
simulated, numbered by their cycle counts (``cycle_numbering: count``), and the cycle life and
the features address cycles by those numbers, not by position.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optloop.config import EarlyStoppingConfig
from optloop.data import CycleMetrics, read_bdf
from optloop.data.metrics import MetricsProtocol, file_protocol
from optloop.exceptions import OptloopError
from optloop.prediction import (
    CycleLifeExample,
    CycleLifePredictor,
    EarlyStoppingPolicy,
    Prediction,
    StopDecision,
)
from optloop.store import Trial

__all__ = ["EarlyStopper", "Review"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Review:
    """The outcome of looking at one running cell."""

    decision: StopDecision
    prediction: Prediction
    metrics: CycleMetrics

    def record(self) -> dict[str, Any]:
        """Return the JSON kept in the trial's metadata under ``early_stopping``."""
        p = self.prediction
        return {
            "stop": self.decision.stop,
            "reason": self.decision.reason,
            "reference_cycles": self.decision.reference_cycles,
            "upper_bound_cycles": self.decision.upper_cycles,
            "predicted_cycle_life": p.mean_cycles,
            "interval": [p.lower_cycles, p.upper_cycles],
            "interval_probability": p.interval,
            "cycles_observed": p.cycles_observed,
            "n_train": p.n_train,
            "at_least": p.at_least,
        }


class EarlyStopper:
    """Train the cycle-life predictor on completed trials and review running ones.

    Args:
        config: The campaign's ``early_stopping`` section.
        threshold: End of life as a fraction of the reference capacity.
        seed: Seeds the predictor's fit.
    """

    def __init__(self, config: EarlyStoppingConfig, *, threshold: float = 0.8, seed: int = 0):
        self.config = config
        self.threshold = threshold
        self.policy = EarlyStoppingPolicy(
            config.after_cycles,
            min_cycle_life=config.min_cycle_life,
            reference_quantile=config.reference_quantile,
            min_completed=config.min_completed,
            confidence=config.confidence,
        )
        self._seed = seed
        self._curves: dict[int, CycleMetrics | None] = {}  # trial id -> its final data
        self._fitted_on: frozenset[int] = frozenset()
        self._predictor: CycleLifePredictor | None = None

    # --- training --------------------------------------------------------------------------

    def _metrics_of(self, trial: Trial) -> CycleMetrics | None:
        """Return a completed trial's per-cycle data (read once), None if it has none."""
        if trial.id not in self._curves:
            metrics = None
            if trial.bdf_path:
                try:
                    frame, metadata = read_bdf(trial.bdf_path)
                    cell = str(trial.metadata.get("cell", "full"))
                    metrics = self._protocol(metadata, cell, trial.bdf_path).compute(
                        frame, source=trial.bdf_path
                    )
                except (OSError, OptloopError) as exc:
                    log.warning("trial %s: its data cannot train the predictor: %s", trial.id, exc)
            self._curves[trial.id] = metrics
        return self._curves[trial.id]

    def _protocol(self, metadata: dict[str, Any], cell: str, source: str) -> MetricsProtocol:
        """Return the file's recorded metrics protocol with this stopper's cell and threshold."""
        protocol, _ = file_protocol(metadata, source=source)
        return protocol.with_changes(
            cell="half" if cell == "half" else "full", threshold=self.threshold
        )

    @staticmethod
    def measured(trials: Sequence[Trial]) -> list[Trial]:
        """Return the completed trials whose cycle life was measured, not predicted."""
        return [
            t for t in trials
            if "cycle_life" in t.outcomes and not t.metadata.get("early_stopped")
        ]

    def predictor(self, completed: Sequence[Trial]) -> CycleLifePredictor | None:
        """Return a predictor fitted on the measured completed trials, or None if too few.

        The fit is redone only when the set of training trials changed.
        """
        training = [t for t in self.measured(completed) if self._metrics_of(t) is not None]
        ids = frozenset(t.id for t in training)
        if ids == self._fitted_on:
            return self._predictor
        self._fitted_on = ids
        examples = [CycleLifeExample.from_metrics(m) for t in training
                    if (m := self._metrics_of(t)) is not None]
        predictor = CycleLifePredictor(
            self.config.after_cycles,
            threshold=self.threshold,
            interval=self.config.interval,
            min_train=self.config.min_training_cells,
            seed=self._seed,
        )
        try:
            predictor.fit(examples)
        except OptloopError as exc:  # too few usable cells yet: no predictions
            log.info("early stopping: predictor not trained yet (%s)", exc)
            self._predictor = None
            return None
        self._predictor = predictor if predictor.ready else None
        return self._predictor

    # --- reviewing -------------------------------------------------------------------------

    def review(
        self, partial_bdf: str, completed: Sequence[Trial], *, cell: str = "full"
    ) -> Review | None:
        """Predict a running cell's cycle life from its partial data and decide on it.

        Args:
            partial_bdf: The cell's BDF file so far.
            completed: The campaign's completed trials (training data and reference).
            cell: ``"full"`` or ``"half"``.

        Returns:
            The review, or None when the cell has fewer than ``after_cycles`` cycles, has
            already reached end of life, or no predictor can be trained yet.
        """
        frame, metadata = read_bdf(partial_bdf)
        metrics = self._protocol(metadata, cell, partial_bdf).compute(
            frame, in_progress=True, source=partial_bdf
        )
        if metrics.cycles_completed < self.config.after_cycles:
            return None
        if not metrics.cycle_life_censored:
            return None  # it reached end of life: its own test ends now
        predictor = self.predictor(completed)
        if predictor is None:
            return None
        prediction = predictor.predict_metrics(metrics)
        lives = [t.outcomes["cycle_life"] for t in self.measured(completed)]
        decision = self.policy.decide(prediction, completed_cycle_lives=lives)
        return Review(decision=decision, prediction=prediction, metrics=metrics)
