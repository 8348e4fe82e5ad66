"""Properties that follow from a design: layer capacities, cell balance, swelling.

These are theoretical numbers from the materials data (no simulation): what the optimiser's
feasibility rules and a chemist's first look need. Assumptions are named here, with their
source or marked as a calibration choice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from optloop.materials import (
    MaterialProperties,
    alloy_properties,
    graphite_properties,
    lithium_layer_capacity_mAh_cm2,
)
from optloop.space.design import AlloyLayer, Design

__all__ = [
    "CARBON_ICL_FRACTION",
    "CVD_DENSITY",
    "EVAPORATION_DENSITY",
    "FILM_ICL_FRACTION",
    "PLATING_DENSITY",
    "SPUTTER_DENSITY_DENSE",
    "SPUTTER_DENSITY_POROUS",
    "SPUTTER_PRESSURE_DENSE_PA",
    "SPUTTER_PRESSURE_POROUS_PA",
    "DerivedProperties",
    "derive",
    "film_relative_density",
]

# These numbers are the one definition every module uses (the PyBaMM evaluator lists them in
# its assumptions table); sources in alloy-anode-physics.md.

#: First-cycle irreversible loss of an alloy film to SEI, as a fraction of its reversible
#: capacity: 0.10 amorphous to 0.25 crystalline or porous (§9 step 8, [L]). A porous film
#: loses (1 - relative density) more on top (its extra surface; a calibration choice).
FILM_ICL_FRACTION: dict[str, float] = {"amorphous": 0.10, "crystalline": 0.20}
#: First-cycle loss of graphite, 6-10 % (§7): the middle value.
CARBON_ICL_FRACTION = 0.08
#: Relative density of sputtered films: dense at low Ar pressure, columnar / porous at high
#: pressure, log-linear in between (§5; the pressures are calibration choices).
SPUTTER_DENSITY_DENSE = 0.97
SPUTTER_DENSITY_POROUS = 0.85
SPUTTER_PRESSURE_DENSE_PA = 0.3
SPUTTER_PRESSURE_POROUS_PA = 3.0
#: Relative density of evaporated (0.8-0.95), CVD (~0.95-1) and plated (~1) films (§5).
EVAPORATION_DENSITY = 0.88
CVD_DENSITY = 0.97
PLATING_DENSITY = 0.99


def film_relative_density(layer: AlloyLayer) -> float:
    """Return film density over bulk density for the layer's deposition method."""
    if layer.method == "sputtering":
        p = layer.conditions["pressure_Pa"]
        lo, hi = math.log(SPUTTER_PRESSURE_DENSE_PA), math.log(SPUTTER_PRESSURE_POROUS_PA)
        f = min(1.0, max(0.0, (math.log(max(p, 1e-9)) - lo) / (hi - lo)))
        return SPUTTER_DENSITY_DENSE + f * (SPUTTER_DENSITY_POROUS - SPUTTER_DENSITY_DENSE)
    if layer.method == "vapour_deposition":
        return EVAPORATION_DENSITY
    if layer.method == "cvd":
        return CVD_DENSITY
    return PLATING_DENSITY


@dataclass(frozen=True)
class DerivedProperties:
    """Theoretical properties of a design (areal capacities in mAh/cm^2)."""

    alloy: MaterialProperties | None
    film_relative_density: float | None
    alloy_areal_capacity_mAh_cm2: float
    carbon_areal_capacity_mAh_cm2: float
    negative_areal_capacity_mAh_cm2: float
    irreversible_loss_mAh_cm2: float
    lithium_areal_capacity_mAh_cm2: float
    lithium_excess_mAh_cm2: float
    positive_loading_mAh_cm2: float
    np_ratio: float
    anode_thickness_um: float
    swollen_thickness_um: float
    anode_mass_mg_cm2: float
    anode_specific_capacity_mAh_g: float
    anode_volumetric_capacity_mAh_cm3: float
    first_cycle_efficiency_max: float

    def summary(self) -> dict[str, Any]:
        """Return the scalar properties as JSON-ready data (alloy reduced to key numbers)."""
        out = {k: v for k, v in asdict(self).items() if k != "alloy"}
        if self.alloy is not None:
            out["alloy_formula"] = self.alloy.formula
            out["alloy_specific_capacity_mAh_g"] = self.alloy.specific_capacity_mAh_g
            out["alloy_volumetric_capacity_mAh_cm3"] = self.alloy.volumetric_capacity_mAh_cm3
            out["alloy_volume_expansion"] = self.alloy.volume_expansion
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def derive(design: Design) -> DerivedProperties:
    """Compute the theoretical capacities, balance and swelling of a design."""
    um_to_cm = 1e-4
    q_alloy = q_carbon = q_irr = mass = 0.0
    thick = swollen = 0.0
    props: MaterialProperties | None = None
    rho_rel: float | None = None
    if design.alloy_layer is not None:
        layer = design.alloy_layer
        props = alloy_properties(layer.composition, layer.oxygen_ratio)
        rho_rel = film_relative_density(layer)
        film_mass_g_cm2 = props.density_g_cm3 * rho_rel * layer.thickness_um * um_to_cm
        q_alloy = props.specific_capacity_mAh_g * film_mass_g_cm2
        q_irr += (FILM_ICL_FRACTION[layer.structure] + (1.0 - rho_rel)) * q_alloy
        q_irr += props.irreversible_capacity_mAh_g * film_mass_g_cm2
        mass += film_mass_g_cm2
        thick += layer.thickness_um
        swollen += layer.thickness_um * (1.0 + props.volume_expansion)
    if design.carbon_layer is not None:
        c = design.carbon_layer
        g = graphite_properties()
        carbon_mass = g.density_g_cm3 * (1.0 - c.porosity) * c.thickness_um * um_to_cm
        q_carbon = g.specific_capacity_mAh_g * carbon_mass
        q_irr += CARBON_ICL_FRACTION * q_carbon
        mass += carbon_mass
        thick += c.thickness_um
        swollen += c.thickness_um * (1.0 + g.volume_expansion)
    q_neg = q_alloy + q_carbon
    q_li = (
        lithium_layer_capacity_mAh_cm2(design.lithium_layer.thickness_um)
        if design.lithium_layer is not None
        else 0.0
    )
    excess = max(0.0, q_li - q_irr)
    cell = design.cell
    if cell.np_ratio is not None:
        np_ratio = cell.np_ratio
        # N/P = Q_neg / (Q_pos + excess Li), alloy-anode-physics.md §9 step 8.
        q_pos = q_neg / np_ratio - excess
    else:
        assert cell.positive_loading_mAh_cm2 is not None
        q_pos = cell.positive_loading_mAh_cm2
        np_ratio = q_neg / (q_pos + excess) if q_pos + excess > 0 else math.inf
    # Lithium the positive must supply on the first charge beyond what the Li layer covers.
    lost = max(0.0, q_irr - q_li)
    ice = (q_pos - lost) / q_pos if q_pos > 0 else 0.0
    return DerivedProperties(
        alloy=props,
        film_relative_density=rho_rel,
        alloy_areal_capacity_mAh_cm2=q_alloy,
        carbon_areal_capacity_mAh_cm2=q_carbon,
        negative_areal_capacity_mAh_cm2=q_neg,
        irreversible_loss_mAh_cm2=q_irr,
        lithium_areal_capacity_mAh_cm2=q_li,
        lithium_excess_mAh_cm2=excess,
        positive_loading_mAh_cm2=q_pos,
        np_ratio=np_ratio,
        anode_thickness_um=thick,
        swollen_thickness_um=swollen,
        anode_mass_mg_cm2=mass * 1e3,
        anode_specific_capacity_mAh_g=q_neg / mass if mass > 0 else 0.0,
        anode_volumetric_capacity_mAh_cm3=q_neg / (swollen * um_to_cm) if swollen > 0 else 0.0,
        first_cycle_efficiency_max=max(0.0, min(1.0, ice)),
    )
