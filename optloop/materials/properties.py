"""Capacity, expansion and Li concentration of an alloy or complex oxide of the claim metals.

Per formula unit A(x_A)...B(x_B)...O(z), normalised to one metal atom
(alloy-anode-physics.md sections 3, 4 and 9 steps 2-4)::

    n_act,i = active atoms of alloying metal i (Si loses k_B per silicide former)
    M_f     = sum_i x_i M_i + z M_O
    V_f     = sum_i x_i M_i / rho_i + z V_O
    Q_rev   = sum_i n_act,i y_i F / (3.6 M_f)        mAh/g
    Q_irr   = 2 z F / (3.6 M_f)                      mAh/g (every O reduced to Li2O)
    beta    = sum_i n_act,i y_i Omega_Li / V_f       (constant-Li-volume rule)
    c_max   = sum_i n_act,i y_i / V_f                mol/m^3 of unlithiated solid
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from optloop.exceptions import MaterialsError
from optloop.materials.claim_metals import ALLOYING_METALS
from optloop.materials.constants import (
    FARADAY_C_MOL,
    LI_PARTIAL_MOLAR_VOLUME_CM3_MOL,
    MAH_PER_COULOMB,
    MAX_OXYGEN_RATIO,
)
from optloop.materials.elements import CLAIM_METALS, element_data
from optloop.materials.phases import LithiatedPhase, active_fractions, resolve_phases

__all__ = [
    "COMPOSITION_TOL",
    "MaterialProperties",
    "alloy_properties",
    "format_formula",
]

#: Tolerance on the sum of the metal fractions (the design space's simplex tolerance).
COMPOSITION_TOL = 1e-6
_CM3_PER_M3 = 1e6
# Li2O takes two Li per reduced O.
_LI_PER_OXYGEN = 2.0


@dataclass(frozen=True)
class MaterialProperties:
    """Electrochemical and volumetric properties of one material, per metal atom.

    Attributes:
        formula: Canonical formula, metals normalised to one atom (``"Si0.8Fe0.2"``, ``"SnO2"``).
        composition: ``{metal: atomic fraction}``, summing to 1.
        oxygen_ratio: ``z``, O atoms per metal atom.
        molar_mass_g_mol: ``M_f`` per formula unit.
        molar_volume_cm3_mol: ``V_f`` per formula unit (unlithiated).
        density_g_cm3: ``M_f / V_f``.
        active_li_per_metal: ``sum n_act,i * y_i``, reversible Li per formula unit.
        specific_capacity_mAh_g: Reversible capacity per unlithiated mass.
        volumetric_capacity_mAh_cm3: Reversible capacity per unlithiated volume.
        irreversible_capacity_mAh_g: First-lithiation loss to reducing the oxide (0 for alloys).
        first_cycle_efficiency_max: ``Q_rev / (Q_rev + Q_irr)``; the oxide's ceiling, before SEI.
        volume_expansion: ``beta`` as a fraction of the unlithiated volume (2.8 means +280 %).
        max_concentration_mol_m3: ``c_max``, cyclable Li per unlithiated volume.
        mean_potential_V: Capacity-weighted mean delithiation potential vs Li/Li+.
    """

    formula: str
    composition: dict[str, float]
    oxygen_ratio: float
    molar_mass_g_mol: float
    molar_volume_cm3_mol: float
    density_g_cm3: float
    active_li_per_metal: float
    specific_capacity_mAh_g: float
    volumetric_capacity_mAh_cm3: float
    irreversible_capacity_mAh_g: float
    first_cycle_efficiency_max: float
    volume_expansion: float
    max_concentration_mol_m3: float
    mean_potential_V: float

    def to_dict(self) -> dict[str, Any]:
        """Return the properties as a JSON-ready dict (the composition copied)."""
        return asdict(self)


def format_formula(composition: Mapping[str, float], oxygen_ratio: float = 0.0) -> str:
    """Write a canonical formula: metals in the given order, then O; amounts of 1 omitted.

    Args:
        composition: ``{metal: fraction}``.
        oxygen_ratio: O atoms per metal atom.
    """
    parts = [(s, x) for s, x in composition.items()]
    if oxygen_ratio > 0.0:
        parts.append(("O", oxygen_ratio))
    return "".join(s if math.isclose(x, 1.0) else f"{s}{x:.6g}" for s, x in parts)


def _validate(composition: Mapping[str, float], oxygen_ratio: float) -> dict[str, float]:
    """Check the composition and oxygen ratio; return the composition as floats."""
    if not composition:
        raise MaterialsError("composition is empty: expected {metal: atomic fraction}")
    comp: dict[str, float] = {}
    for symbol, fraction in composition.items():
        if symbol not in CLAIM_METALS:
            raise MaterialsError(
                f"composition element {symbol!r} (fraction {fraction}) is not a claim metal: "
                f"expected one of {', '.join(CLAIM_METALS)}"
            )
        try:
            value = float(fraction)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0.0):
            raise MaterialsError(
                f"composition fraction of {symbol!r} is {fraction!r}: must be finite and > 0"
            )
        comp[symbol] = value
    total = math.fsum(comp.values())
    if abs(total - 1.0) > COMPOSITION_TOL:
        raise MaterialsError(
            f"composition fractions sum to {total:.9g}, not 1 (tolerance {COMPOSITION_TOL:g}): "
            f"{comp}"
        )
    if not any(s in ALLOYING_METALS for s in comp):
        raise MaterialsError(
            f"composition {comp} has no Li-alloying metal: expected at least one "
            f"of {', '.join(ALLOYING_METALS)} (claim 3)"
        )
    if not (math.isfinite(oxygen_ratio) and 0.0 <= oxygen_ratio <= MAX_OXYGEN_RATIO):
        raise MaterialsError(
            f"oxygen_ratio={oxygen_ratio} O per metal atom must lie in [0, {MAX_OXYGEN_RATIO}]"
        )
    return comp


def _mean_potential(
    active: Mapping[str, float],
    composition: Mapping[str, float],
    phases: Mapping[str, LithiatedPhase],
) -> float:
    """Weight each host's potential by the Li it stores (by x_i y_i if nothing is active)."""
    weights = {s: n * phases[s].li_per_host_atom for s, n in active.items()}
    if sum(weights.values()) <= 0.0:
        # All Si consumed by silicides: keep the potential defined and continuous in x_B.
        weights = {s: composition[s] * phases[s].li_per_host_atom for s in active}
    total = sum(weights.values())
    return sum(w * phases[s].mean_potential_V for s, w in weights.items()) / total


def alloy_properties(
    composition: Mapping[str, float],
    oxygen_ratio: float = 0.0,
    *,
    phases: Mapping[str, LithiatedPhase] | None = None,
    silicide_consumption: bool = True,
) -> MaterialProperties:
    """Compute the properties of an alloy or complex oxide of the claim metals.

    Args:
        composition: Atomic fractions of the metals, summing to 1, e.g. ``{"Si": 0.8,
            "Fe": 0.2}``. At least one alloying metal (claim 3) must be present.
        oxygen_ratio: ``z``, O atoms per metal atom (0 for an alloy). All O is counted as
            reducible to Li2O on the first lithiation, an upper bound on the loss.
        phases: ``{host: LithiatedPhase}`` overrides of :data:`LITHIATED_PHASES`, e.g.
            ``ALTERNATIVE_PHASES`` or ``{"Sn": ALTERNATIVE_PHASES["Sn"]}``.
        silicide_consumption: Let silicide formers lock up Si (k_B rule, see
            :func:`~optloop.materials.phases.active_fractions`).

    Returns:
        The material's properties per metal atom.

    Raises:
        MaterialsError: On an unknown element, a non-positive fraction, fractions not summing
            to 1, no alloying metal, or an oxygen ratio outside [0, MAX_OXYGEN_RATIO].
    """
    z = float(oxygen_ratio)
    comp = _validate(composition, z)
    table = resolve_phases(phases)
    oxygen = element_data("O")

    molar_mass = math.fsum(x * element_data(s).atomic_mass_g_mol for s, x in comp.items())
    molar_mass += z * oxygen.atomic_mass_g_mol
    molar_volume = math.fsum(x * element_data(s).molar_volume_cm3_mol for s, x in comp.items())
    molar_volume += z * oxygen.molar_volume_cm3_mol

    active = active_fractions(comp, silicide_consumption=silicide_consumption)
    li = math.fsum(n * table[s].li_per_host_atom for s, n in active.items())
    mah_per_mol = FARADAY_C_MOL * MAH_PER_COULOMB
    q_rev = li * mah_per_mol / molar_mass
    q_irr = _LI_PER_OXYGEN * z * mah_per_mol / molar_mass
    # With no oxide loss the ceiling is 1, also for a fully consumed (zero-capacity) Si.
    ice = q_rev / (q_rev + q_irr) if q_irr > 0.0 else 1.0
    density = molar_mass / molar_volume
    return MaterialProperties(
        formula=format_formula(comp, z),
        composition=comp,
        oxygen_ratio=z,
        molar_mass_g_mol=molar_mass,
        molar_volume_cm3_mol=molar_volume,
        density_g_cm3=density,
        active_li_per_metal=li,
        specific_capacity_mAh_g=q_rev,
        volumetric_capacity_mAh_cm3=q_rev * density,
        irreversible_capacity_mAh_g=q_irr,
        first_cycle_efficiency_max=ice,
        volume_expansion=li * LI_PARTIAL_MOLAR_VOLUME_CM3_MOL / molar_volume,
        max_concentration_mol_m3=li / molar_volume * _CM3_PER_M3,
        mean_potential_V=_mean_potential(active, comp, table),
    )
