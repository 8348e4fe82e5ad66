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
    "HOST_MAX_STOICHIOMETRY",
    "MAX_PLATED_FRACTION",
    "PLATING_DENSITY",
    "POSITIVE_FIRST_CYCLE_EFFICIENCY",
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
#: First-cycle efficiency of the NMC811 positive electrode itself (its half cell against Li
#: at ~C/10, 3.0-4.3 V vs Li): about 0.88 (NCM811 in Noh et al., J. Power Sources 233 (2013)
#: 121, [L]; NMC811 0.85-0.90 across the literature). The loss is kinetic: the layered oxide
#: cannot be fully relithiated at the end of its first discharge (Kasnatscheew et al., PCCP 18
#: (2016) 3956, [R] abstract). The lithium it cannot take back stays in the negative electrode
#: (or feeds its SEI). With the Chen2020 window (0.2661-0.9084) 0.88 puts the as-made positive
#: at stoichiometry 0.996, i.e. fully lithiated LiMO2; a value below 0.875 would need > 1.
POSITIVE_FIRST_CYCLE_EFFICIENCY = 0.88
#: The positive's window (Chen2020 LG M50: charged 0.2661, discharged 0.9084) and its as-made
#: stoichiometry s0 = s_ch + (s_dis - s_ch) / eta_pos; the PyBaMM evaluator uses the same.
POSITIVE_STO_CHARGED = 0.2661
POSITIVE_STO_DISCHARGED = 0.9084
POSITIVE_STO_AS_MADE = (
    POSITIVE_STO_CHARGED
    + (POSITIVE_STO_DISCHARGED - POSITIVE_STO_CHARGED) / POSITIVE_FIRST_CYCLE_EFFICIENCY
)
#: Highest stoichiometry the negative host takes at the top of charge before lithium plates
#: as metal (its free capacity is this times its theoretical capacity, minus its lithium).
#: A calibration choice close to the theoretical capacity (Li15Si4, LiC6), which the
#: materials data already give as the fully lithiated phase.
HOST_MAX_STOICHIOMETRY = 0.98
#: Plated lithium beyond this fraction of the positive's capacity makes a design a plating
#: hazard (metallic Li on that scale grows dendrites that short the cell): refused. Below it
#: the plated lithium is simulated as dead lithium that speeds up SEI growth. Calibration.
MAX_PLATED_FRACTION = 0.5
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
    positive_first_charge_mAh_cm2: float
    plated_lithium_mAh_cm2: float
    np_ratio: float
    anode_thickness_um: float
    swollen_thickness_um: float
    anode_mass_mg_cm2: float
    anode_specific_capacity_mAh_g: float
    anode_volumetric_capacity_mAh_cm3: float
    first_cycle_efficiency_max: float
    first_cycle_efficiency_estimate: float
    positive_cyclable_fraction: float

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
    # N/P = Q_neg / Q_pos, reversible capacities (the Li layer is not in it): a Li layer adds
    # lithium to a cell of the same size, it never shrinks the positive.
    if cell.np_ratio is not None:
        np_ratio = cell.np_ratio
        q_pos = q_neg / np_ratio
    else:
        assert cell.positive_loading_mAh_cm2 is not None
        q_pos = cell.positive_loading_mAh_cm2
        np_ratio = q_neg / q_pos if q_pos > 0 else math.inf
    # Lithium bookkeeping of the formation charge: the positive gives Q1 = Q_pos / eta_pos (its
    # own first-cycle loss included), the Li layer adds Q_li, SEI and oxide take Q_irr; what
    # the host cannot hold at the top of charge plates as metal.
    q_first = q_pos / POSITIVE_FIRST_CYCLE_EFFICIENCY
    plated = max(0.0, q_first + q_li - q_irr - HOST_MAX_STOICHIOMETRY * q_neg)
    # Lithium the positive must supply on the first charge beyond what the Li layer covers.
    lost = max(0.0, q_irr - q_li)
    cyclable = (q_pos - lost) / q_pos if q_pos > 0 else 0.0
    # A cycler's first-cycle efficiency: first discharge over first charge. The discharge is
    # at most the positive's window (never above eta_pos). When the formation loss leaves the
    # anode short of lithium, the discharge returns what the charge brought less that loss;
    # a starved anode sits at a higher potential, so the positive may charge deeper than its
    # window, up to all its lithium, Q_made = Q1 s0 / (s0 - s_ch) (its as-made content):
    # FCE <= 1 - loss / Q_made, the bound that holds however deep the charge goes.
    q_made = q_first * POSITIVE_STO_AS_MADE / (POSITIVE_STO_AS_MADE - POSITIVE_STO_CHARGED)
    short = q_irr + plated - q_li
    ice = min(POSITIVE_FIRST_CYCLE_EFFICIENCY, 1.0 - short / q_made) if q_pos > 0 else 0.0
    # The estimate when the positive charges exactly over its window (graphite-like anode):
    # a starved anode charges it deeper, and then measures somewhat more (up to the bound).
    ice_est = min(POSITIVE_FIRST_CYCLE_EFFICIENCY, 1.0 - short / q_first) if q_pos > 0 else 0.0
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
        positive_first_charge_mAh_cm2=q_first,
        plated_lithium_mAh_cm2=plated,
        np_ratio=np_ratio,
        anode_thickness_um=thick,
        swollen_thickness_um=swollen,
        anode_mass_mg_cm2=mass * 1e3,
        anode_specific_capacity_mAh_g=q_neg / mass if mass > 0 else 0.0,
        anode_volumetric_capacity_mAh_cm3=q_neg / (swollen * um_to_cm) if swollen > 0 else 0.0,
        first_cycle_efficiency_max=max(0.0, min(1.0, ice)),
        first_cycle_efficiency_estimate=max(0.0, min(1.0, ice_est)),
        positive_cyclable_fraction=max(0.0, min(1.0, cyclable)),
    )
