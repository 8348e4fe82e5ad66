"""Lithiated phases of the alloying metals, and the Si consumed by silicide formers.

Values follow alloy-anode-physics.md sections 2, 3 and 9 (confidence tags there). ``y`` is Li
per host atom in the fully lithiated room-temperature phase; the potential is a typical
average delithiation plateau vs Li/Li+ (+-0.1 V).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from optloop.exceptions import MaterialsError
from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS

__all__ = [
    "ALTERNATIVE_PHASES",
    "LITHIATED_PHASES",
    "SILICIDE_CONSUMPTION",
    "LithiatedPhase",
    "active_fractions",
    "intermetallic_consumption",
    "resolve_phases",
]

_OBROVAC_2014 = "Obrovac & Chevrier, Chem. Rev. 114 (2014) 11444, doi:10.1021/cr500207g"
_HATCHARD_2004 = "Hatchard & Dahn, JES 151 (2004) A838, doi:10.1149/1.1739217"
_COURTNEY_1997 = "Courtney & Dahn, JES 144 (1997) 2045"
_NOTES = "alloy-anode-physics.md section 2 (computed from stoichiometry)"
# Potentials above this are not an anode's: a sanity bound on phase data, not physics.
_MAX_POTENTIAL_V = 3.0


@dataclass(frozen=True)
class LithiatedPhase:
    """The fully lithiated phase an alloying metal reaches at room temperature.

    Attributes:
        host: Symbol of the alloying metal (claim 3).
        formula: The lithiated phase, e.g. ``"Li15Si4"``.
        li_per_host_atom: ``y``, Li taken per host atom.
        mean_potential_V: Average delithiation potential vs Li/Li+.
        source: Citation (and confidence) of the phase and its potential.
    """

    host: str
    formula: str
    li_per_host_atom: float
    mean_potential_V: float
    source: str

    def __post_init__(self) -> None:
        if self.host not in ALLOYING_METALS:
            raise MaterialsError(
                f"lithiated phase {self.formula!r}: host {self.host!r} is not one of the "
                f"alloying metals {', '.join(ALLOYING_METALS)}"
            )
        y = self.li_per_host_atom
        if not (math.isfinite(y) and y > 0.0):
            raise MaterialsError(
                f"lithiated phase {self.formula!r}: li_per_host_atom={y} must be finite and > 0"
            )
        v = self.mean_potential_V
        if not (math.isfinite(v) and 0.0 <= v <= _MAX_POTENTIAL_V):
            raise MaterialsError(
                f"lithiated phase {self.formula!r}: mean_potential_V={v} must lie in "
                f"[0, {_MAX_POTENTIAL_V}] V"
            )


def _phases(*phases: LithiatedPhase) -> Mapping[str, LithiatedPhase]:
    return MappingProxyType({p.host: p for p in phases})


#: Default lithiated phase of each alloying metal (alloy-anode-physics.md sections 2 and 9).
LITHIATED_PHASES: Mapping[str, LithiatedPhase] = _phases(
    LithiatedPhase("Si", "Li15Si4", 3.75, 0.4, f"{_HATCHARD_2004}; {_OBROVAC_2014}"),
    LithiatedPhase("Ge", "Li15Ge4", 3.75, 0.5, _OBROVAC_2014),
    # Li17Sn4 is the current assignment of the Li-richest Li-Sn phase; Li22Sn5 is in
    # ALTERNATIVE_PHASES for comparison with older literature.
    LithiatedPhase("Sn", "Li17Sn4", 4.25, 0.55, _OBROVAC_2014),
    LithiatedPhase("Al", "LiAl", 1.0, 0.35, _OBROVAC_2014),
    LithiatedPhase("Pb", "Li17Pb4", 4.25, 0.5, _OBROVAC_2014),
    # LiPd / Li2Pd exist thermodynamically, but little room-temperature electrochemical
    # activity is reported: y = 0.2 is an effective value treating Pd as nearly inactive.
    LithiatedPhase(
        "Pd", "Li0.2Pd", 0.2, 0.2, f"{_NOTES}; effective y, nearly inactive, LOW CONFIDENCE"
    ),
    # LiAg is the conservative choice; Li-richer phases are reported (ALTERNATIVE_PHASES).
    LithiatedPhase("Ag", "LiAg", 1.0, 0.2, f"{_NOTES}; potential < 0.25 V, literature"),
    # LiIn is the practical limit (its 0.6 V plateau makes LiIn a reference electrode).
    LithiatedPhase("In", "LiIn", 1.0, 0.6, f"{_NOTES}; potential from literature"),
    LithiatedPhase("Cd", "Li3Cd", 3.0, 0.35, f"{_NOTES}; potential uncertain (0.3-0.4 V)"),
)

#: Alternative phases a caller may pass as ``phases=`` to override the defaults.
ALTERNATIVE_PHASES: Mapping[str, LithiatedPhase] = _phases(
    LithiatedPhase("Sn", "Li22Sn5", 4.4, 0.55, f"{_COURTNEY_1997}; older assignment"),
    LithiatedPhase("Ag", "Li9Ag4", 2.25, 0.15, f"{_NOTES}; potential estimated, uncertain"),
    # Full lithiation to <= 10 mV; the mean potential mixes the 0.6 V LiIn plateau with the
    # lower Li-rich plateaus (estimate).
    LithiatedPhase("In", "Li13In3", 13.0 / 3.0, 0.4, f"{_NOTES}; potential estimated"),
    LithiatedPhase("Pd", "Li2Pd", 2.0, 0.2, f"{_NOTES}; thermodynamic upper bound"),
)

#: Si atoms consumed per atom of a non-alloying metal when Si is the host (k_B of
#: alloy-anode-physics.md section 9 step 2): disilicide formers MSi2 take 2 Si, Cu3Si takes
#: 1/3, SiB6 takes 1/6 (uncertain). UNCERTAIN for as-sputtered amorphous films, in which the
#: silicides may not form; ``silicide_consumption=False`` switches the rule off.
SILICIDE_CONSUMPTION: Mapping[str, float] = MappingProxyType(
    {
        "Fe": 2.0,
        "Co": 2.0,
        "Ni": 2.0,
        "Ti": 2.0,
        "Cr": 2.0,
        "Ta": 2.0,
        "W": 2.0,
        "Cu": 1.0 / 3.0,
        "B": 1.0 / 6.0,
    }
)


def intermetallic_consumption(host: str, partner: str) -> float:
    """Return k_B, the host atoms a non-alloying atom locks into an inactive intermetallic.

    Only Si loses atoms (silicides are inactive); Sn and the other hosts form intermetallics
    that react with Li themselves, so all their atoms stay active and k_B = 0.

    Args:
        host: An alloying metal.
        partner: A non-alloying metal.

    Raises:
        MaterialsError: If ``host`` is not alloying or ``partner`` is not non-alloying.
    """
    if host not in ALLOYING_METALS:
        raise MaterialsError(f"host {host!r} is not one of {', '.join(ALLOYING_METALS)}")
    if partner not in NON_ALLOYING_METALS:
        raise MaterialsError(f"partner {partner!r} is not one of {', '.join(NON_ALLOYING_METALS)}")
    return SILICIDE_CONSUMPTION[partner] if host == "Si" else 0.0


def active_fractions(
    composition: Mapping[str, float], *, silicide_consumption: bool = True
) -> dict[str, float]:
    """Return the atoms per formula unit of each alloying metal left free to take Li.

    The rule for any mix: every non-alloying atom B takes k_B Si atoms out of the Si *only*
    (the silicide is the stable product; no other host loses atoms), and the active Si
    floors at zero once all of it is consumed. Other alloying metals stay fully active.

    Args:
        composition: Atomic fractions of the metals (validated by the caller).
        silicide_consumption: Apply the k_B rule; ``False`` treats every B as inert filler.

    Returns:
        ``{alloying metal: n_act}``, in the composition's order.
    """
    active = {s: x for s, x in composition.items() if s in ALLOYING_METALS}
    if silicide_consumption and "Si" in active:
        consumed = sum(
            intermetallic_consumption("Si", s) * x
            for s, x in composition.items()
            if s in NON_ALLOYING_METALS
        )
        active["Si"] = max(0.0, active["Si"] - consumed)
    return active


def resolve_phases(phases: Mapping[str, LithiatedPhase] | None) -> dict[str, LithiatedPhase]:
    """Merge caller overrides over :data:`LITHIATED_PHASES`.

    Args:
        phases: ``{host: phase}`` overrides (e.g. ``ALTERNATIVE_PHASES``), or ``None``.

    Raises:
        MaterialsError: If a key is not the phase's own host.
    """
    merged = dict(LITHIATED_PHASES)
    for host, phase in (phases or {}).items():
        if host != phase.host:
            raise MaterialsError(
                f"phase override {host!r} -> {phase.formula!r}: key must equal the phase's "
                f"host {phase.host!r}"
            )
        merged[host] = phase
    return merged
