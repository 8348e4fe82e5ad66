"""The domain's vocabulary: structures, deposition methods and their process conditions.

Kept apart from the config and the design space so both can use it without depending on
each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "METHODS",
    "POSITIVE_ELECTRODES",
    "PROCESS_CONDITIONS",
    "SIMPLEX_TOL",
    "STRUCTURES",
    "ConditionSpec",
    "Method",
    "Structure",
]

Structure = Literal["amorphous", "crystalline"]
Method = Literal["sputtering", "cvd", "vapour_deposition", "plating"]
STRUCTURES: tuple[str, ...] = ("amorphous", "crystalline")
#: Deposition techniques of claim 7.
METHODS: tuple[str, ...] = ("sputtering", "cvd", "vapour_deposition", "plating")

#: Positive electrodes a cell may use; the PyBaMM evaluator maps each to a parameter set.
POSITIVE_ELECTRODES: tuple[str, ...] = ("NMC811", "NMC532", "LFP", "NCA")

# Tolerance on the composition simplex: fractions must sum to one within this.
SIMPLEX_TOL = 1e-6


class ConditionSpec(BaseModel):
    """A process condition of a deposition method: its unit and the physical limits."""

    model_config = ConfigDict(frozen=True)

    description: str
    unit: str
    low: float
    high: float


#: Each method's own process conditions, keyed by a name that carries the unit. The limits are
#: what the equipment can physically do (engineering ranges, alloy-anode-physics.md §5);
#: a campaign narrows them in its config.
PROCESS_CONDITIONS: dict[str, dict[str, ConditionSpec]] = {
    "sputtering": {
        "substrate_temperature_C": ConditionSpec(
            description="substrate temperature", unit="degC", low=-20.0, high=800.0
        ),
        "power_density_W_cm2": ConditionSpec(
            description="target power density", unit="W/cm^2", low=0.1, high=30.0
        ),
        "pressure_Pa": ConditionSpec(
            description="working-gas (Ar) pressure", unit="Pa", low=0.05, high=10.0
        ),
    },
    "cvd": {
        "substrate_temperature_C": ConditionSpec(
            description="substrate temperature", unit="degC", low=100.0, high=1000.0
        ),
        "pressure_Pa": ConditionSpec(
            description="reactor pressure", unit="Pa", low=1.0, high=101325.0
        ),
        "deposition_rate_nm_s": ConditionSpec(
            description="growth rate", unit="nm/s", low=0.01, high=20.0
        ),
    },
    "vapour_deposition": {
        "substrate_temperature_C": ConditionSpec(
            description="substrate temperature", unit="degC", low=-20.0, high=700.0
        ),
        "deposition_rate_nm_s": ConditionSpec(
            description="evaporation rate", unit="nm/s", low=0.01, high=200.0
        ),
    },
    "plating": {
        "bath_temperature_C": ConditionSpec(
            description="bath temperature (aqueous)", unit="degC", low=5.0, high=95.0
        ),
        "current_density_mA_cm2": ConditionSpec(
            description="cathodic current density", unit="mA/cm^2", low=0.05, high=200.0
        ),
    },
}
