"""Element data from pymatgen, with a molar volume consistent with the density.

Every number comes from :class:`pymatgen.core.Element`; none is typed by hand. The molar
volume is derived as ``M / rho`` (``density_of_solid``) rather than read from pymatgen's own
``molar_volume`` field, so that capacity per volume (``Q * rho``) and the constant-Li-volume
expansion (``y * Omega_Li / V_m``) use the very same volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import SupportsFloat

from pymatgen.core import Element

from optloop.exceptions import MaterialsError
from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS
from optloop.materials.constants import OXYGEN_MOLAR_VOLUME_CM3_MOL

__all__ = [
    "CLAIM_METALS",
    "REFERENCE_ELEMENTS",
    "SUPPORTED_ELEMENTS",
    "ElementData",
    "element_data",
]

#: The 18 metals of claims 3 and 4, alloying first.
CLAIM_METALS: tuple[str, ...] = ALLOYING_METALS + NON_ALLOYING_METALS
#: Elements outside the claim lists that the module still knows: carbon (graphite layer),
#: lithium (Li metal layer) and oxygen (complex oxides).
REFERENCE_ELEMENTS: tuple[str, ...] = ("C", "Li", "O")
SUPPORTED_ELEMENTS: tuple[str, ...] = CLAIM_METALS + REFERENCE_ELEMENTS

_KG_M3_PER_G_CM3 = 1000.0


@dataclass(frozen=True)
class ElementData:
    """Physical data of one element, from pymatgen.

    Attributes:
        symbol: Element symbol, e.g. ``"Si"``.
        atomic_mass_g_mol: Standard atomic mass.
        density_g_cm3: Density of the solid at room temperature. For oxygen, which has no solid
            density, it is ``M / OXYGEN_MOLAR_VOLUME_CM3_MOL`` (a calibration placeholder).
        molar_volume_cm3_mol: ``atomic_mass_g_mol / density_g_cm3``.
        electronegativity: Pauling electronegativity.
        atomic_radius_angstrom: Empirical atomic radius.
        melting_point_K: Melting point.
    """

    symbol: str
    atomic_mass_g_mol: float
    density_g_cm3: float
    molar_volume_cm3_mol: float
    electronegativity: float
    atomic_radius_angstrom: float
    melting_point_K: float


def _required(value: SupportsFloat | None, field: str, symbol: str) -> float:
    """Return a pymatgen value as a float; every supported element has it (tested)."""
    if value is None:  # guards against a pymatgen update dropping data
        raise MaterialsError(f"pymatgen has no {field} for element {symbol!r}")
    return float(value)


@cache
def element_data(symbol: str) -> ElementData:
    """Look up an element's data in pymatgen (cached).

    Args:
        symbol: One of :data:`SUPPORTED_ELEMENTS` (the 18 claim metals, C, Li, O).

    Returns:
        The element's data, with ``molar_volume_cm3_mol = M / rho``.

    Raises:
        MaterialsError: If the symbol is not supported.
    """
    if symbol not in SUPPORTED_ELEMENTS:
        raise MaterialsError(
            f"element {symbol!r} is not supported: expected one of the claim metals "
            f"{', '.join(CLAIM_METALS)} or the references {', '.join(REFERENCE_ELEMENTS)}"
        )
    el = Element(symbol)
    mass = float(el.atomic_mass)
    if symbol == "O":
        # NOTE: reading O's density_of_solid makes pymatgen warn that it has none; oxygen's
        # volume in an oxide is a calibration choice, so derive the density from it instead.
        molar_volume = OXYGEN_MOLAR_VOLUME_CM3_MOL
        density = mass / molar_volume
    else:
        density = _required(el.density_of_solid, "density_of_solid", symbol) / _KG_M3_PER_G_CM3
        molar_volume = mass / density
    return ElementData(
        symbol=symbol,
        atomic_mass_g_mol=mass,
        density_g_cm3=density,
        molar_volume_cm3_mol=molar_volume,
        electronegativity=float(el.X),
        atomic_radius_angstrom=_required(el.atomic_radius, "atomic_radius", symbol),
        melting_point_K=float(el.melting_point),
    )
