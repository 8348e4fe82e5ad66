"""Decide when to stop a running cell early because it is clearly poor.

The rule (after Attia et al. 2020): a running cell is stopped when it has at least
``n_cycles`` cycles and even the *upper* end of its predicted cycle life is below the
campaign's reference cycle life. The reference is the lower of a configured
``min_cycle_life`` and a quantile of the completed cells' cycle lives (censored lives count
at their lower bounds, which only lowers the reference), or a value the caller passes. A cell
is therefore stopped only when it is confidently worse than cells the campaign already has, and
the campaign records its predicted cycle life instead of a measured one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from optloop.prediction.features import PredictionError
from optloop.prediction.model import Prediction

__all__ = ["EarlyStoppingPolicy", "StopDecision"]


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop a running cell, and why (the reason names the numbers)."""

    stop: bool
    """True: cancel the cell's test and record its predicted cycle life."""
    reason: str
    """E.g. ``"predicted 45 [30, 62] cycles: upper 62 < reference 150"``."""
    reference_cycles: float | None = None
    """The reference cycle life the prediction was compared with, if there was one."""
    upper_cycles: float | None = None
    """The upper bound of the prediction that was compared."""


class EarlyStoppingPolicy:
    """Stop a running cell whose predicted cycle life is confidently below a reference.

    Args:
        n_cycles: Cycles a cell must have before it may be stopped (the predictor's).
        min_cycle_life: A configured reference cycle life (e.g. the campaign's minimum
            acceptable life); None to use only the completed cells.
        reference_quantile: Quantile of the completed cells' cycle lives used as a
            reference; None to use only ``min_cycle_life``.
        min_completed: Completed cells needed before their quantile counts.
        confidence: One-sided probability of the upper bound compared with the reference,
            ``exp(log(mean) + z * std_log)``. The bound is never below the prediction's own
            ``upper_cycles``, so a cell whose interval reaches the reference is never stopped;
            a confidence above the interval's upper quantile makes the rule stricter.

    Raises:
        PredictionError: If an argument is out of range or no reference is configured.
    """

    def __init__(
        self,
        n_cycles: int,
        *,
        min_cycle_life: float | None = None,
        reference_quantile: float | None = 0.25,
        min_completed: int = 5,
        confidence: float = 0.95,
    ) -> None:
        if n_cycles < 1:
            raise PredictionError(f"n_cycles={n_cycles!r}; limit: >= 1")
        if min_cycle_life is not None and not (
            math.isfinite(min_cycle_life) and min_cycle_life > 0
        ):
            raise PredictionError(f"min_cycle_life={min_cycle_life!r}; limit: > 0")
        if reference_quantile is not None and not (0.0 <= reference_quantile <= 1.0):
            raise PredictionError(
                f"reference_quantile={reference_quantile!r}; limit: 0 <= quantile <= 1"
            )
        if min_completed < 1:
            raise PredictionError(f"min_completed={min_completed!r}; limit: >= 1")
        if not (0.5 <= confidence < 1.0):
            raise PredictionError(f"confidence={confidence!r}; limit: 0.5 <= confidence < 1")
        self.n_cycles = n_cycles
        self.min_cycle_life = min_cycle_life
        self.reference_quantile = reference_quantile
        self.min_completed = min_completed
        self.confidence = confidence
        self._z = float(torch.special.ndtri(torch.tensor(confidence, dtype=torch.float64)))

    def reference(self, completed_cycle_lives: Sequence[float] = ()) -> float | None:
        """Return the reference cycle life, or None when there is none yet.

        Args:
            completed_cycle_lives: Cycle lives of the campaign's finished cells (censored ones
                at their lower bounds).
        """
        candidates = []
        if self.min_cycle_life is not None:
            candidates.append(float(self.min_cycle_life))
        lives = [float(x) for x in completed_cycle_lives if math.isfinite(float(x))]
        if self.reference_quantile is not None and len(lives) >= self.min_completed:
            candidates.append(float(np.quantile(lives, self.reference_quantile)))
        return min(candidates) if candidates else None

    def upper_bound(self, prediction: Prediction) -> float:
        """Return the upper bound of a prediction that the rule compares with the reference."""
        if prediction.known:
            return prediction.upper_cycles
        own = math.exp(math.log(prediction.mean_cycles) + self._z * prediction.std_log)
        return max(own, prediction.upper_cycles)

    def decide(
        self,
        prediction: Prediction,
        reference_cycles: float | None = None,
        *,
        completed_cycle_lives: Sequence[float] = (),
    ) -> StopDecision:
        """Decide whether to stop the cell the prediction is about.

        Args:
            prediction: The cell's prediction (:meth:`CycleLifePredictor.predict`).
            reference_cycles: The reference cycle life; default :meth:`reference` of
                ``completed_cycle_lives``.
            completed_cycle_lives: Cycle lives of finished cells, for the default reference.

        Returns:
            ``stop=True`` only when the cell has ``n_cycles`` cycles, its upper bound is known
            (not an "at least" prediction), and that bound is below the reference; a cell
            that already crossed the threshold is stopped when its known life is below it.
        """
        ref = (
            self.reference(completed_cycle_lives)
            if reference_cycles is None
            else float(reference_cycles)
        )
        if ref is None:
            return StopDecision(
                False,
                "no reference cycle life yet (none configured, too few "
                f"completed cells; need {self.min_completed})",
            )
        if prediction.known:
            life = prediction.mean_cycles
            below = life < ref
            relation = "<" if below else ">="
            return StopDecision(
                below,
                f"cycle life known: {life:.0f} cycles (crossed the threshold) {relation} "
                f"reference {ref:.0f}",
                ref,
                life,
            )
        if prediction.cycles_observed < self.n_cycles:
            return StopDecision(
                False,
                f"only {prediction.cycles_observed} of n_cycles={self.n_cycles} cycles seen",
                ref,
            )
        upper = self.upper_bound(prediction)
        text = (
            f"predicted {prediction.mean_cycles:.0f} [{prediction.lower_cycles:.0f}, "
            f"{prediction.upper_cycles:.0f}] cycles"
        )
        if prediction.at_least:
            return StopDecision(
                False,
                f"{text}: open-ended (reaches the largest censored training life), "
                f"reference {ref:.0f}",
                ref,
                upper,
            )
        bound = f"upper {upper:.0f} ({self.confidence:.0%} one-sided)"
        if upper < ref:
            return StopDecision(True, f"{text}: {bound} < reference {ref:.0f}", ref, upper)
        return StopDecision(False, f"{text}: {bound} >= reference {ref:.0f}", ref, upper)
