"""Design builders shared by the PyBaMM evaluator tests and benchmark (plain JSON dicts)."""

from __future__ import annotations

from typing import Any


def alloy(
    composition: dict[str, float],
    thickness_um: float,
    structure: str = "amorphous",
    *,
    oxygen_ratio: float = 0.0,
    pressure_Pa: float = 0.5,
) -> dict[str, Any]:
    """Return a sputtered alloy layer."""
    return {
        "composition": composition,
        "oxygen_ratio": oxygen_ratio,
        "thickness_um": thickness_um,
        "structure": structure,
        "method": "sputtering",
        "conditions": {
            "substrate_temperature_C": 25.0,
            "power_density_W_cm2": 5.0,
            "pressure_Pa": pressure_Pa,
        },
    }


def design(
    alloy_layer: dict[str, Any] | None = None,
    carbon_um: float | None = None,
    lithium_um: float | None = None,
    np_ratio: float = 1.1,
) -> dict[str, Any]:
    """Return a design dict: optional carbon (porosity 0.25), alloy and lithium layers."""
    return {
        "alloy_layer": alloy_layer,
        "carbon_layer": None
        if carbon_um is None
        else {"thickness_um": carbon_um, "porosity": 0.25},
        "lithium_layer": None if lithium_um is None else {"thickness_um": lithium_um},
        "cell": {"positive_electrode": "NMC811", "np_ratio": np_ratio},
    }


SI = {"Si": 1.0}

#: Contrasting designs: the one-factor comparisons of the issue, each a (name, design) pair.
CONTRASTS: list[tuple[str, dict[str, Any]]] = [
    ("graphite 80 um", design(carbon_um=80.0)),
    ("a-Si 0.5 um + graphite 40 um", design(alloy(SI, 0.5), carbon_um=40.0)),
    ("a-Si 2 um + graphite 40 um", design(alloy(SI, 2.0), carbon_um=40.0)),
    ("c-Si 2 um + graphite 40 um", design(alloy(SI, 2.0, "crystalline"), carbon_um=40.0)),
    ("a-Si0.7Cu0.3 2 um + graphite 40 um", design(alloy({"Si": 0.7, "Cu": 0.3}, 2.0), 40.0)),
    ("a-Si0.5Cu0.5 2 um + graphite 40 um", design(alloy({"Si": 0.5, "Cu": 0.5}, 2.0), 40.0)),
    ("a-Si 2 um + graphite 40 um + Li 2 um", design(alloy(SI, 2.0), 40.0, lithium_um=2.0)),
    ("a-Si 0.25 um film alone", design(alloy(SI, 0.25))),
    ("c-Si 2 um film alone", design(alloy(SI, 2.0, "crystalline"))),
    ("c-Sn 2 um film alone", design(alloy({"Sn": 1.0}, 2.0, "crystalline"))),
    ("c-Al 2 um film alone", design(alloy({"Al": 1.0}, 2.0, "crystalline"))),
    ("a-SiO 2 um + graphite 40 um", design(alloy(SI, 2.0, oxygen_ratio=1.0), 40.0)),
]
