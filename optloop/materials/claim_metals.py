"""The metals the patent's claims name: the one list every module takes them from."""

from __future__ import annotations

__all__ = ["ALLOYING_METALS", "NON_ALLOYING_METALS"]

#: Metals forming an alloy with lithium (claim 3).
ALLOYING_METALS: tuple[str, ...] = ("Si", "Ge", "Sn", "Al", "Pb", "Pd", "Ag", "In", "Cd")
#: Metals not forming an alloy with lithium (claim 4).
NON_ALLOYING_METALS: tuple[str, ...] = ("Cu", "Fe", "B", "Ni", "Ti", "Ta", "W", "Cr", "Co")
