"""Physical constants and calibration choices of the materials model, each with its source.

Only numbers that are *not* element data live here; element masses and densities always come
from pymatgen (:mod:`optloop.materials.elements`), never typed by hand.
"""

from __future__ import annotations

from typing import Final

from scipy import constants as _sc

__all__ = [
    "FARADAY_C_MOL",
    "LI_PARTIAL_MOLAR_VOLUME_CM3_MOL",
    "MAH_PER_COULOMB",
    "MAX_OXYGEN_RATIO",
    "OXYGEN_MOLAR_VOLUME_CM3_MOL",
]

#: Faraday constant in C/mol (CODATA, through ``scipy.constants``).
FARADAY_C_MOL: Final[float] = float(_sc.physical_constants["Faraday constant"][0])

#: 1 mAh = 3.6 C, so a charge in C times this is in mAh.
MAH_PER_COULOMB: Final[float] = 1.0 / 3.6

#: Volume taken per inserted Li in any Li-M alloy, cm^3/mol: the constant-Li-volume rule of
#: Obrovac, Christensen, Le & Dahn, JES 154 (2007) A849, doi:10.1149/1.2752985. 9.0 is the
#: value calibrated on Li15Si4 (76 A^3 per Si vs 20.0 A^3 in c-Si, over 3.75 Li); it
#: reproduces Si +280 %, Al ~+90 %, Sn ~+235 % (alloy-anode-physics.md section 3).
LI_PARTIAL_MOLAR_VOLUME_CM3_MOL: Final[float] = 9.0

#: Volume added per O atom in a complex oxide, cm^3/mol. CALIBRATION CHOICE (placeholder):
#: oxygen has no solid density, and an oxide's volume is not additive in its elements. From
#: handbook oxide densities, V(MO_z) - V(M) per O is ~3 for SnO2 and ~9 for SiO; 5.0 sits
#: between them. Replace it with a measured film density when one exists.
OXYGEN_MOLAR_VOLUME_CM3_MOL: Final[float] = 5.0

#: Largest oxygen-per-metal ratio accepted: WO3 / CrO3, the most oxygen-rich stable oxides of
#: the claim metals. More O than this is not a complex oxide of the claims but a typo.
MAX_OXYGEN_RATIO: Final[float] = 3.0
