"""The outcomes a campaign can optimise or constrain, with their units and physical ranges.

Every evaluator reports metrics under these names, so a config can refer to them before any
evaluator is loaded. Each metric also states the range a real measurement can fall in; a
value outside it (a typo, a unit slip, ``1e308``) is refused before it is stored, because
the optimiser would learn from it for the rest of the campaign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "CAPACITY_MARGIN",
    "METRICS",
    "RATIO_TOLERANCE",
    "MetricSpec",
    "check_metric",
]

#: How far above 1 a ratio of capacities (first-cycle efficiency, retention) may read.
#: Real cyclers report slightly above 1: current integration carries an error of a few
#: 0.1 %, and a pre-lithiated anode (a lithium layer) can refill a positive that started
#: short of lithium, so its first discharge may exceed its first charge by a few percent.
RATIO_TOLERANCE = 0.05
#: How far the measured areal capacity of a full cell may exceed the positive loading the
#: design states (its reversible capacity): loadings are nominal, and a slow first cycle
#: can extract more than the nominal figure; 20 % more is not a real cell.
CAPACITY_MARGIN = 1.2


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means, its unit and the range a real measurement can fall in.

    ``low`` / ``high`` bound the value; ``low_open`` excludes ``low`` itself (an efficiency
    of exactly 0 is not a measurement). ``limit`` says where the bounds come from.
    """

    name: str
    unit: str
    description: str
    low: float
    high: float
    limit: str
    low_open: bool = False

    def check(self, value: float) -> str | None:
        """Return why ``value`` is not a plausible measurement of this metric, or None."""
        if not math.isfinite(value):
            return f"{self.name} = {value!r}; need a finite number"
        below = value <= self.low if self.low_open else value < self.low
        if below or value > self.high:
            lo = "(" if self.low_open else "["
            return (
                f"{self.name} = {value!r} {self.unit} is outside its physical range "
                f"{lo}{self.low:g}, {self.high:g}] {self.unit} ({self.limit})"
            )
        return None


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec(
            "cycle_life",
            "cycles",
            "first cycle whose discharge capacity is below 80 % of the reference; a censored "
            "value (test stopped first) is a lower bound",
            0.0,
            1e6,
            "a count of cycles; 1e6 is far beyond any cycling test (decades at 1 C)",
        ),
        MetricSpec(
            "discharge_capacity_Ah",
            "Ah",
            "first full discharge capacity of the cell",
            0.0,
            1000.0,
            "the largest single Li-ion cells hold a few hundred Ah",
        ),
        MetricSpec(
            "areal_capacity_mAh_cm2",
            "mAh/cm^2",
            "first discharge capacity per area",
            0.0,
            30.0,
            f"above the thickest positive electrodes; also at most {CAPACITY_MARGIN:g} x the "
            "design's positive loading",
        ),
        MetricSpec(
            "anode_specific_capacity_mAh_g",
            "mAh/g",
            "delivered capacity per gram of anode active material",
            0.0,
            4000.0,
            "above lithium metal's 3861 mAh/g, the highest of any anode material",
        ),
        MetricSpec(
            "energy_density_Wh_L",
            "Wh/L",
            "discharge energy over the stack volume with the anode at its swollen thickness",
            0.0,
            2500.0,
            "about twice the best Li-ion stacks; above it no known chemistry",
        ),
        MetricSpec(
            "first_cycle_efficiency",
            "1",
            "first discharge over first charge capacity",
            0.0,
            1.0 + RATIO_TOLERANCE,
            f"an efficiency: above 0, at most 1 + {RATIO_TOLERANCE:g} (cycler tolerance)",
            low_open=True,
        ),
        MetricSpec(
            "capacity_retention",
            "1",
            "last over reference discharge capacity of the test",
            0.0,
            1.0 + RATIO_TOLERANCE,
            f"a ratio of capacities: at least 0, at most 1 + {RATIO_TOLERANCE:g} "
            "(cycler tolerance)",
        ),
    )
}


def check_metric(name: str, value: float) -> str | None:
    """Return why ``value`` is not a plausible ``name``, or None (unknown names: None)."""
    spec = METRICS.get(name)
    if spec is None:
        return None if math.isfinite(value) else f"{name} = {value!r}; need a finite number"
    return spec.check(value)
