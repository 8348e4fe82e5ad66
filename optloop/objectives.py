"""The outcomes a campaign can optimise or constrain, with their units.

Every evaluator reports metrics under these names, so a config can refer to them before any
evaluator is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METRICS", "MetricSpec"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means and its unit."""

    name: str
    unit: str
    description: str


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec(
            "cycle_life",
            "cycles",
            "first cycle whose discharge capacity is below 80 % of the reference; a censored "
            "value (test stopped first) is a lower bound",
        ),
        MetricSpec("discharge_capacity_Ah", "Ah", "first full discharge capacity of the cell"),
        MetricSpec("areal_capacity_mAh_cm2", "mAh/cm^2", "first discharge capacity per area"),
        MetricSpec(
            "anode_specific_capacity_mAh_g",
            "mAh/g",
            "delivered capacity per gram of anode active material",
        ),
        MetricSpec(
            "energy_density_Wh_L",
            "Wh/L",
            "discharge energy over the stack volume with the anode at its swollen thickness",
        ),
        MetricSpec("first_cycle_efficiency", "1", "first discharge over first charge capacity"),
        MetricSpec(
            "capacity_retention", "1", "last over reference discharge capacity of the test"
        ),
    )
}
