"""Properties of a material given as a formula string: ``"Si0.7Cu0.3"``, ``"SnO2"``, ``"C"``."""

from __future__ import annotations

from collections.abc import Mapping

from pymatgen.core import Composition

from optloop.exceptions import MaterialsError
from optloop.materials.elements import CLAIM_METALS
from optloop.materials.phases import LithiatedPhase
from optloop.materials.properties import MaterialProperties, alloy_properties
from optloop.materials.references import graphite_properties, lithium_properties

__all__ = ["properties_of"]

# Names accepted for the reference materials, besides their element symbols.
_GRAPHITE_NAMES = frozenset({"graphite", "lic6"})


def _parse(formula: str) -> dict[str, float]:
    """Parse a formula with pymatgen into ``{symbol: amount}``."""
    try:
        amounts = Composition(formula).get_el_amt_dict()
    except Exception as exc:  # pymatgen raises ValueError, but also others on odd input
        raise MaterialsError(f"cannot parse formula {formula!r}: {exc}") from exc
    if not amounts:
        raise MaterialsError(f"formula {formula!r} contains no element")
    return {str(s): float(a) for s, a in amounts.items()}


def properties_of(
    formula: str,
    *,
    phases: Mapping[str, LithiatedPhase] | None = None,
    silicide_consumption: bool = True,
) -> MaterialProperties:
    """Compute the properties of a material given by its formula.

    Amounts need not be normalised: the metals are scaled to one atom and O is counted per
    metal atom (``"Sn2Co"`` -> Sn 2/3, Co 1/3; ``"SnO2"`` -> z = 2). ``"C"`` or ``"graphite"``
    gives graphite (LiC6) and ``"Li"`` gives lithium metal.

    Args:
        formula: Formula of claim metals, optionally with O, or a reference material.
        phases: Lithiated-phase overrides, as for :func:`alloy_properties`.
        silicide_consumption: As for :func:`alloy_properties`.

    Returns:
        The material's properties per metal atom.

    Raises:
        MaterialsError: If the formula is malformed, contains an element outside the claim
            lists (other than O, or C / Li alone), or fails :func:`alloy_properties`.
    """
    if not isinstance(formula, str):
        raise MaterialsError(f"formula must be a string, got {formula!r}")
    text = formula.strip()
    if text.lower() in _GRAPHITE_NAMES:
        return graphite_properties()
    amounts = _parse(text)
    if set(amounts) == {"C"}:
        return graphite_properties()
    if set(amounts) == {"Li"}:
        return lithium_properties()
    for symbol in amounts:
        if symbol in ("C", "Li"):
            raise MaterialsError(
                f"formula {formula!r}: {symbol} is accepted only alone, as the reference "
                f"{'graphite' if symbol == 'C' else 'lithium metal'}, not inside an alloy"
            )
        if symbol not in CLAIM_METALS and symbol != "O":
            raise MaterialsError(
                f"formula {formula!r}: element {symbol!r} is not in the claim lists; expected "
                f"{', '.join(CLAIM_METALS)}, O, or C / Li alone"
            )
    metals = {s: a for s, a in amounts.items() if s != "O"}
    if not metals:
        raise MaterialsError(f"formula {formula!r} contains no metal")
    total = sum(metals.values())
    composition = {s: a / total for s, a in metals.items()}
    oxygen_ratio = amounts.get("O", 0.0) / total
    return alloy_properties(
        composition,
        oxygen_ratio,
        phases=phases,
        silicide_consumption=silicide_consumption,
    )
