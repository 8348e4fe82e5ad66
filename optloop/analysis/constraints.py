"""The one outcome-constraint check, shared by the analysis and the optimiser.

A constrained metric that is missing (or not a finite number) is *not known* to meet its
bound, so the outcome does not meet the constraints: such a trial never counts as feasible
in a Pareto set or a hypervolume, and the optimiser never ranks it among the designs that
meet the constraints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from optloop.config.models import OutcomeConstraint

__all__ = ["meets_constraints"]


def meets_constraints(
    outcomes: Mapping[str, float], constraints: Sequence[OutcomeConstraint]
) -> bool:
    """Return True when every constrained metric is measured, finite and within its bound.

    Args:
        outcomes: Metric values by name (a trial's or an observation's outcomes).
        constraints: The campaign's outcome constraints.
    """
    for c in constraints:
        v = outcomes.get(c.metric)
        if v is None or not math.isfinite(v):
            return False
        if (c.op == ">=" and v < c.value) or (c.op == "<=" and v > c.value):
            return False
    return True
