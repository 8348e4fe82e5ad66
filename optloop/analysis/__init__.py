"""What a campaign's results say: Pareto sets, hypervolume and the outcome-constraint check.

This package sits below both :mod:`optloop.campaign` and :mod:`optloop.tracking` /
:mod:`optloop.reports`, which all read it; it imports only the config and the store's trials.
"""

from optloop.analysis.constraints import meets_constraints
from optloop.analysis.pareto import (
    feasible_completed,
    hypervolume,
    hypervolume_history,
    pareto_trials,
)

__all__ = [
    "feasible_completed",
    "hypervolume",
    "hypervolume_history",
    "meets_constraints",
    "pareto_trials",
]
