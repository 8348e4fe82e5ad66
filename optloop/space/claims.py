"""Which claims (1-10) of the patent a design practises.

The claim text is in ``shared/domain/patent-claims.md``; in short:
1 an alloy / complex-oxide layer with a Li-alloying metal; 2 with a Li-alloying *and* a
non-alloying metal; 3 the alloying metal from Si, Ge, Sn, Al, Pb, Pd, Ag, In, Cd; 4 the
non-alloying metal from Cu, Fe, B, Ni, Ti, Ta, W, Cr, Co; 5 a further layer of a lithium
occlusion material; 6 that layer carbon-based; 7 the alloy layer made by sputtering, CVD,
vapour deposition or plating; 8 the alloy layer amorphous; 9 a lithium metal layer; 10 a
secondary battery with such an electrode, a positive electrode and an electrolyte.
A dependent claim is practised only when a claim it depends on is.
"""

from __future__ import annotations

from optloop.space.design import ALLOYING_METALS, METHODS, NON_ALLOYING_METALS, Design

__all__ = ["CLAIM_TITLES", "claims_practised"]

CLAIM_TITLES: dict[int, str] = {
    1: "alloy or complex-oxide layer with a Li-alloying metal",
    2: "layer with a Li-alloying and a non-alloying metal",
    3: "Li-alloying metal from Si, Ge, Sn, Al, Pb, Pd, Ag, In, Cd",
    4: "non-alloying metal from Cu, Fe, B, Ni, Ti, Ta, W, Cr, Co",
    5: "further layer of a lithium occlusion material",
    6: "the occlusion layer is carbon-based",
    7: "alloy layer by sputtering, CVD, vapour deposition or plating",
    8: "alloy layer amorphous",
    9: "lithium metal layer",
    10: "secondary battery with positive electrode and electrolyte",
}


def claims_practised(design: Design) -> list[int]:
    """Return the sorted numbers of the claims the design practises."""
    layer = design.alloy_layer
    if layer is None:
        return []
    claims: set[int] = set()
    has_alloying = any(s in ALLOYING_METALS for s in layer.composition)
    has_inactive = any(s in NON_ALLOYING_METALS for s in layer.composition)
    if has_alloying:
        claims.add(1)
    if has_alloying and has_inactive:
        claims.add(2)
    base = claims & {1, 2}
    if base:
        # The design space only admits the claimed metals, so claim 3 follows from 1 or 2.
        claims.add(3)
        if has_inactive:
            claims.add(4)
        if design.carbon_layer is not None:
            claims.update({5, 6})
        if layer.method in METHODS:
            claims.add(7)
        if layer.structure == "amorphous":
            claims.add(8)
        if design.lithium_layer is not None:
            claims.add(9)
        # Every design comes with its cell: positive electrode and electrolyte.
        claims.add(10)
    return sorted(claims)
