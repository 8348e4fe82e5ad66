"""Small built-in design space for plugin tests: no config file needed, works from a wheel."""

from __future__ import annotations

from typing import Any

from optloop.config.models import DesignSpaceConfig
from optloop.space import DesignSpace

__all__ = ["SMALL_SPACE", "sample_designs"]

#: The space of ``configs/quick.yaml``: Si or Sn with Cu, sputtered, on 30-60 um graphite,
#: NMC811 full cell. Its designs simulate in seconds and suit any anode evaluator.
SMALL_SPACE: dict[str, Any] = {
    "alloy_layer": {
        "alloying_elements": ["Si", "Sn"],
        "non_alloying_elements": ["Cu"],
        "max_alloying_elements": 1,
        "max_non_alloying_elements": 1,
        "non_alloying_fraction": [0.0, 0.3],
        "thickness_um": [0.1, 1.0],
        "structures": ["amorphous", "crystalline"],
        "methods": {
            "sputtering": {
                "substrate_temperature_C": [25, 300],
                "power_density_W_cm2": [2, 6],
                "pressure_Pa": [0.3, 1.0],
            }
        },
    },
    "carbon_layer": {"mode": "required", "thickness_um": [30, 60], "porosity": [0.3, 0.4]},
    "lithium_layer": {"mode": "absent"},
    "cell": {"positive_electrodes": ["NMC811"], "np_ratio": [1.1, 1.2]},
}


def sample_designs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Draw ``n`` feasible designs from :data:`SMALL_SPACE`, as JSON dicts, reproducibly.

    Args:
        n: How many designs (at least 1).
        seed: Seed of the sampler; the same seed gives the same designs.

    Raises:
        ValueError: If ``n`` is below 1.
    """
    if n < 1:
        raise ValueError(f"n={n!r}; limit: >= 1")
    space = DesignSpace(DesignSpaceConfig.model_validate(SMALL_SPACE))
    return [design.to_dict() for design in space.sample(n, seed)]
