"""Physical descriptors of the claim metals, for the optimiser's encoding of categories.

Each metal becomes a point in descriptor space instead of a one-hot column, so that the
surrogate can share information between chemically similar elements. The 18 points are all
distinct (tested), so a candidate decodes exactly to its nearest element. Descriptors live on
very different scales (K vs Pauling units): normalise them before measuring distances.
"""

from __future__ import annotations

from functools import cache

from optloop.exceptions import MaterialsError
from optloop.materials.elements import CLAIM_METALS, element_data
from optloop.materials.phases import LITHIATED_PHASES

__all__ = ["DESCRIPTOR_NAMES", "element_descriptors"]

#: Names of the descriptors, in the fixed order of :func:`element_descriptors`; each carries
#: its unit. ``li_per_atom`` is y of the default lithiated phase (0 for non-alloying metals).
DESCRIPTOR_NAMES: tuple[str, ...] = (
    "electronegativity_pauling",
    "atomic_radius_angstrom",
    "molar_volume_cm3_mol",
    "melting_point_K",
    "li_per_atom",
)


@cache
def _descriptor_values(symbol: str) -> tuple[float, ...]:
    el = element_data(symbol)
    phase = LITHIATED_PHASES.get(symbol)
    return (
        el.electronegativity,
        el.atomic_radius_angstrom,
        el.molar_volume_cm3_mol,
        el.melting_point_K,
        phase.li_per_host_atom if phase is not None else 0.0,
    )


def element_descriptors(symbol: str) -> dict[str, float]:
    """Return the descriptors of a claim metal, keyed and ordered as :data:`DESCRIPTOR_NAMES`.

    Args:
        symbol: One of the 18 claim metals.

    Raises:
        MaterialsError: If the symbol is not a claim metal.
    """
    if symbol not in CLAIM_METALS:
        raise MaterialsError(
            f"no descriptors for {symbol!r}: expected a claim metal, one of "
            f"{', '.join(CLAIM_METALS)}"
        )
    return dict(zip(DESCRIPTOR_NAMES, _descriptor_values(symbol), strict=True))
