"""Reference materials of the stack outside the alloy layer: graphite and lithium metal.

Their capacities are computed from pymatgen's masses and densities, like the alloys', so that
every capacity in optloop rests on one set of element data.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

from optloop.exceptions import MaterialsError
from optloop.materials.constants import FARADAY_C_MOL, MAH_PER_COULOMB
from optloop.materials.elements import element_data
from optloop.materials.properties import MaterialProperties

__all__ = [
    "GRAPHITE_MEAN_POTENTIAL_V",
    "GRAPHITE_SPECIFIC_CAPACITY_MAH_G",
    "GRAPHITE_VOLUME_EXPANSION",
    "LITHIUM_AREAL_CAPACITY_MAH_CM2_PER_UM",
    "LITHIUM_SPECIFIC_CAPACITY_MAH_G",
    "LITHIUM_VOLUMETRIC_CAPACITY_MAH_CM3",
    "graphite_properties",
    "lithium_layer_capacity_mAh_cm2",
    "lithium_properties",
]

_MAH_PER_MOL = FARADAY_C_MOL * MAH_PER_COULOMB
_CM_PER_UM = 1e-4
_CM3_PER_M3 = 1e6
# LiC6: one Li per six C.
_GRAPHITE_LI_PER_C = 1.0 / 6.0

#: Volume expansion of graphite at LiC6, fraction: the c-axis spacing 3.35 -> 3.70 A
#: (alloy-anode-physics.md section 7). Not from the constant-Li-volume rule, which holds for
#: alloys, not for an intercalation host.
GRAPHITE_VOLUME_EXPANSION: Final[float] = 0.10
#: Typical graphite delithiation potential vs Li/Li+, V (section 7: 0.1-0.2 V).
GRAPHITE_MEAN_POTENTIAL_V: Final[float] = 0.1

#: Capacity of graphite as LiC6, mAh/g (~372).
GRAPHITE_SPECIFIC_CAPACITY_MAH_G: Final[float] = (
    _GRAPHITE_LI_PER_C * _MAH_PER_MOL / element_data("C").atomic_mass_g_mol
)
#: Capacity of lithium metal, mAh/g (~3861).
LITHIUM_SPECIFIC_CAPACITY_MAH_G: Final[float] = _MAH_PER_MOL / element_data("Li").atomic_mass_g_mol
#: Capacity of lithium metal per volume, mAh/cm^3 (~2066).
LITHIUM_VOLUMETRIC_CAPACITY_MAH_CM3: Final[float] = (
    LITHIUM_SPECIFIC_CAPACITY_MAH_G * element_data("Li").density_g_cm3
)
#: Li supplied per area by a 1 um lithium layer, mAh/cm^2 (~0.206).
LITHIUM_AREAL_CAPACITY_MAH_CM2_PER_UM: Final[float] = (
    LITHIUM_VOLUMETRIC_CAPACITY_MAH_CM3 * _CM_PER_UM
)


def _reference(
    symbol: str, li_per_atom: float, expansion: float, potential_V: float
) -> MaterialProperties:
    el = element_data(symbol)
    q = li_per_atom * _MAH_PER_MOL / el.atomic_mass_g_mol
    return MaterialProperties(
        formula=symbol,
        composition={symbol: 1.0},
        oxygen_ratio=0.0,
        molar_mass_g_mol=el.atomic_mass_g_mol,
        molar_volume_cm3_mol=el.molar_volume_cm3_mol,
        density_g_cm3=el.density_g_cm3,
        active_li_per_metal=li_per_atom,
        specific_capacity_mAh_g=q,
        volumetric_capacity_mAh_cm3=q * el.density_g_cm3,
        irreversible_capacity_mAh_g=0.0,
        first_cycle_efficiency_max=1.0,
        volume_expansion=expansion,
        max_concentration_mol_m3=li_per_atom / el.molar_volume_cm3_mol * _CM3_PER_M3,
        mean_potential_V=potential_V,
    )


@lru_cache(maxsize=1)
def graphite_properties() -> MaterialProperties:
    """Return graphite (LiC6) per C atom, at the crystal density.

    ``c_max`` is per crystal volume (~31 500 mol/m^3); PyBaMM's Chen2020 graphite uses
    28 700 mol/m^3 for its particles. The efficiency ceiling is 1: graphite's 6-10 % first-cycle
    loss is SEI, which the cell model adds, not a property of LiC6.
    """
    return _reference(
        "C", _GRAPHITE_LI_PER_C, GRAPHITE_VOLUME_EXPANSION, GRAPHITE_MEAN_POTENTIAL_V
    )


@lru_cache(maxsize=1)
def lithium_properties() -> MaterialProperties:
    """Return lithium metal as a Li source: all its atoms cyclable, at 0 V, with no expansion.

    Expansion is 0 by convention: a Li layer is consumed (stripped), not swollen.
    """
    return _reference("Li", 1.0, 0.0, 0.0)


def lithium_layer_capacity_mAh_cm2(thickness_um: float) -> float:
    """Return the Li a lithium metal layer supplies per electrode area.

    Args:
        thickness_um: Layer thickness in micrometres, >= 0.

    Returns:
        Capacity in mAh/cm^2 (0.206 per um).

    Raises:
        MaterialsError: If the thickness is negative or not finite.
    """
    t = float(thickness_um)
    if not (math.isfinite(t) and t >= 0.0):
        raise MaterialsError(
            f"lithium layer thickness_um={thickness_um!r} must be finite and >= 0"
        )
    return t * LITHIUM_AREAL_CAPACITY_MAH_CM2_PER_UM
