"""Early prediction of cycle life from a cell's first cycles, and early stopping of poor cells.

After Severson et al. (2019, Nature Energy 4, 383) and Attia et al. (2020, Nature 578, 397):
:mod:`.features` turns the first cycles' capacities and coulombic efficiencies into features,
:class:`CycleLifePredictor` (a BoTorch GP on ``log(cycle_life)``) predicts the cycle life with
an interval, and :class:`EarlyStoppingPolicy` stops a running cell only when even the upper end
of its interval is below the campaign's reference cycle life.
"""

from optloop.prediction.features import (
    FADE_FEATURES,
    InsufficientDataError,
    PredictionError,
    cycles_on_grid,
    delta_q_log_variance,
    fade_features,
    features_from_metrics,
)
from optloop.prediction.model import (
    DEFAULT_FEATURES,
    CycleLifeExample,
    CycleLifePredictor,
    NotReadyError,
    Prediction,
)
from optloop.prediction.stopping import EarlyStoppingPolicy, StopDecision

__all__ = [
    "DEFAULT_FEATURES",
    "FADE_FEATURES",
    "CycleLifeExample",
    "CycleLifePredictor",
    "EarlyStoppingPolicy",
    "InsufficientDataError",
    "NotReadyError",
    "Prediction",
    "PredictionError",
    "StopDecision",
    "cycles_on_grid",
    "delta_q_log_variance",
    "fade_features",
    "features_from_metrics",
]
