"""Every constant and modelling assumption of the PyBaMM evaluator, with its source, in one place.

Each number is an :class:`Assumption` registered in :data:`ASSUMPTIONS`; the module-level
floats below are its ``.value``. ``kind`` says where the number comes from:

* ``"source"``: read from a publication or a PyBaMM parameter set (cited);
* ``"computed"``: derived here from other assumptions (formula given);
* ``"calibration"``: a **calibration choice**, tuned so that the simulated cells follow the
  qualitative anchors of ``alloy-anode-physics.md`` section 3 (thin films outlive thick ones,
  amorphous outlives crystalline, inactive metals buffer). These are *not* fitted to data;
  change them here and nowhere else.

Element data (capacities, molar volumes, expansion, c_max, potentials) are never typed here:
they come from :mod:`optloop.materials` for the actual composition.

Model-structure assumptions (not numbers) are listed in :data:`STRUCTURAL_ASSUMPTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optloop.materials.elements import element_data
from optloop.materials.phases import LITHIATED_PHASES as _PHASES
from optloop.space import derived as _D

_Li = element_data("Li")

__all__ = [
    "ASSUMPTIONS",
    "STRUCTURAL_ASSUMPTIONS",
    "Assumption",
    "assumptions_table",
]

Kind = Literal["source", "computed", "calibration"]


@dataclass(frozen=True)
class Assumption:
    """One named number of the model: its value, unit, origin and where it is used."""

    name: str
    value: float
    unit: str
    kind: Kind
    source: str


#: Every assumption by name (the module constants are their values).
ASSUMPTIONS: dict[str, Assumption] = {}


def _a(name: str, value: float, unit: str, kind: Kind, source: str) -> float:
    ASSUMPTIONS[name] = Assumption(name, float(value), unit, kind, source)
    return float(value)


_CHEN = "PyBaMM parameter set Chen2020 / Chen2020_composite (LG M50 cell), Chen et al. JES 2020"
_OKANE = "PyBaMM parameter set OKane2022 (O'Kane et al., PCCP 2022)"
_FINDINGS = "pybamm-findings.md"
_PHYS = "alloy-anode-physics.md"

# --- Geometry and the fixed mesh -------------------------------------------------------------

#: Thickness of the negative electrode mesh. Thickness cannot be a PyBaMM input, so the mesh
#: is fixed here and each phase's volume fraction is scaled by t/L_ref: SPM sees only eps*L
#: and a*L, so this is exact for SPM (findings section 2). Large enough that eps <= 1 for
#: any design (carbon <= 500 um + alloy <= 500 um).
NEGATIVE_MESH_THICKNESS_M = _a(
    "negative_mesh_thickness", 1000e-6, "m", "calibration",
    f"{_FINDINGS} section 2 workaround (ε scaled by t/L_ref); value chosen to bound ε <= 1",
)
#: Same trick for the positive electrode, whose loading follows the N/P ratio.
POSITIVE_MESH_THICKNESS_M = _a(
    "positive_mesh_thickness", 500e-6, "m", "calibration",
    "same ε·L equivalence as the negative; bounds the positive loading at ~30 mAh/cm2",
)
#: Active-material volume fraction of the real positive electrode (sets its real thickness).
POSITIVE_SOLID_FRACTION = _a("positive_solid_fraction", 0.665, "1", "source", _CHEN)
#: Separator and current-collector thicknesses of the stack used for the energy density.
SEPARATOR_THICKNESS_M = _a("separator_thickness", 12e-6, "m", "source", _CHEN)
NEGATIVE_COLLECTOR_THICKNESS_M = _a("negative_collector_thickness", 12e-6, "m", "source", _CHEN)
POSITIVE_COLLECTOR_THICKNESS_M = _a("positive_collector_thickness", 16e-6, "m", "source", _CHEN)
#: Electrode area of the simulated cell (0.065 m x 1.58 m); capacities in Ah are for it.
ELECTRODE_AREA_M2 = _a("electrode_area", 0.065 * 1.58, "m2", "source", _CHEN)

# --- Positive electrode (NMC811 of Chen2020) ---------------------------------------------------

#: Positive stoichiometry at the discharged (2.5 V) and charged (4.2 V) state of the LG M50.
POSITIVE_STO_DISCHARGED = _a(
    "positive_sto_discharged", _D.POSITIVE_STO_DISCHARGED, "1", "source", _CHEN
)
POSITIVE_STO_CHARGED = _a("positive_sto_charged", _D.POSITIVE_STO_CHARGED, "1", "source", _CHEN)

# --- Negative electrode: graphite (primary phase) ---------------------------------------------

#: Graphite's first-cycle loss to SEI, fraction of its reversible capacity.
GRAPHITE_FIRST_CYCLE_LOSS = _a(
    "graphite_first_cycle_loss", _D.CARBON_ICL_FRACTION, "1", "source",
    f"{_PHYS} section 7 (ICL 6-10 %)",
)
#: Graphite mechanics and stress-driven LAM (OKane2022 values).
GRAPHITE_POISSON_RATIO = _a("graphite_poisson_ratio", 0.3, "1", "source", _OKANE)
GRAPHITE_YOUNG_MODULUS_PA = _a("graphite_young_modulus", 15e9, "Pa", "source", _OKANE)
GRAPHITE_PARTIAL_MOLAR_VOLUME_M3_MOL = _a(
    "graphite_partial_molar_volume", 3.1e-6, "m3/mol", "source", _OKANE
)
GRAPHITE_CRITICAL_STRESS_PA = _a("graphite_critical_stress", 60e6, "Pa", "source", _OKANE)
LAM_EXPONENT = _a("lam_exponent", 2.0, "1", "source", _OKANE)
# The graphite's LAM rate and SEI solvent diffusivity are the host cell's ageing: calibrated
# in their own block below (section "Host-cell ageing").

# --- Host-cell ageing (issue 13, item 3): calibrated to the LG M50 ---------------------------
# A graphite host of the LG M50's size (optloop.evaluators.pybamm.host.HOST_DESIGN) on the
# evaluator's default protocol (0.5C CC-CV / 1C, 25 C) follows the LG M50's retention as given
# by NREL BLAST-Lite's LG M50 model (fitted to the measured ageing data of Truong Bui et al.
# 2021) at that same protocol (host.ANCHOR_RETENTION; the fitted model's values, not raw
# measurements). The M50 anode is graphite-SiOx and its positive ages too: both are inside the
# reference fade, so these two graphite knobs carry the whole host fade (the SiOx and the
# positive are not modelled separately); a design's alloy layer keeps its own LAM and SEI.
# SEI (solvent-diffusion limited) grows with time, LAM with stress (per cycle): the reference is
# at our own protocol, so each knob is per hour / per cycle as the model says. Fit, data and
# error: experiments/calibrate_host.py -> experiments/results/host_calibration.md.

_HOST_ANCHOR = (
    "fitted to the LG M50 retention at 25 C, 0.5C CC-CV / 1C, cycles 100-1000, of NREL "
    "BLAST-Lite 1.1.1's model Nmc811_GrSi_LGM50_5Ah_Battery, itself fitted to measured LG M50 "
    "ageing data (Truong Bui et al. 2021, IEEE Xplore 9617644); model values, not raw "
    "measurements: experiments/data/lgm50_fade_nrel_blast.csv, host.ANCHOR_RETENTION, "
    "experiments/results/host_calibration.md"
)
#: Published starting values the calibration scales.
GRAPHITE_SEI_SOLVENT_DIFFUSIVITY_SOURCE_M2_S = _a(
    "graphite_sei_solvent_diffusivity_source", 2.5e-22, "m2/s", "source", f"{_CHEN}; {_OKANE}"
)
GRAPHITE_LAM_RATE_PER_FRACTION_SOURCE_S = _a(
    "graphite_lam_rate_per_fraction_source", 2.7778e-7 / 0.735, "1/s", "source",
    f"{_OKANE} (2.78e-7 s-1 at eps = 0.735); ε scaling from {_FINDINGS} section 6",
)
HOST_SEI_FACTOR = _a("host_sei_factor", 711.0, "1", "calibration", _HOST_ANCHOR)
HOST_LAM_FACTOR = _a("host_lam_factor", 1.0, "1", "calibration", _HOST_ANCHOR)
#: Graphite SEI solvent diffusivity of the host (m2/s): source x host_sei_factor.
GRAPHITE_SEI_SOLVENT_DIFFUSIVITY_M2_S = _a(
    "graphite_sei_solvent_diffusivity",
    GRAPHITE_SEI_SOLVENT_DIFFUSIVITY_SOURCE_M2_S * HOST_SEI_FACTOR, "m2/s", "calibration",
    _HOST_ANCHOR,
)
#: Relative stress-driven LAM rate of graphite per unit active fraction (1/s): source x
#: host_lam_factor (scaled by the graphite's ε on the fixed mesh, findings section 6).
GRAPHITE_LAM_RATE_PER_FRACTION_S = _a(
    "graphite_lam_rate_per_fraction",
    GRAPHITE_LAM_RATE_PER_FRACTION_SOURCE_S * HOST_LAM_FACTOR, "1/s", "calibration",
    _HOST_ANCHOR,
)

# --- Negative electrode: the alloy film (secondary phase) --------------------------------------

ALLOY_POISSON_RATIO = _a(
    "alloy_poisson_ratio", 0.22, "1", "source", f"{_PHYS} section 8 (Si: 0.22-0.28)"
)
#: Young's modulus of the alloy, softening as it lithiates: E = E0 (1 - k sto). Lithiated Si
#: is far softer (a-Si ~90 GPa, Li3.75Si 12-40 GPa), so an anode kept partly lithiated by a
#: Li reservoir breathes with less stress. These are Si's values; other elements bring their
#: own E0 (per-element block below) and share the softening.
ALLOY_YOUNG_MODULUS_DELITHIATED_PA = _a(
    "alloy_young_modulus_delithiated", 80e9, "Pa", "source",
    f"{_PHYS} section 9 step 7 (Si: 80 GPa (1 - 0.8 sto)); section 8 (a-Si ~90 GPa)",
)
ALLOY_MODULUS_SOFTENING = _a(
    "alloy_modulus_softening", 0.8, "1", "source",
    f"{_PHYS} section 9 step 7; section 8 (Li3.75Si 12-40 GPa)",
)
ALLOY_CRITICAL_STRESS_PA = _a(
    "alloy_critical_stress", 1.5e8, "Pa", "calibration", f"{_FINDINGS} section 1 (Si)"
)
#: Li diffusivity of Si (Chen2020_composite); other elements: the per-element block below.
ALLOY_DIFFUSIVITY_M2_S = _a("alloy_diffusivity", 1.67e-14, "m2/s", "source", _CHEN)
#: Si's mean delithiation potential (the element table's 0.4 V), the anchor of the OCP shift:
#: an alloy's OCP is the Mark2016 curve shifted by V_mean - 0.4 V (Si keeps the curve as it
#: is), with its plateaus (per-element block below). The curve the model uses is Mark2016's
#: *average* of its lithiation and delithiation branches (no hysteresis in the model): its
#: capacity-weighted mean over sto 0-1 is 0.333 V, that of the delithiation branch 0.452 V
#: and of the lithiation branch 0.211 V (evaluated from PyBaMM's Chen2020_composite).
SI_OCP_REFERENCE_POTENTIAL_V = _a(
    "si_ocp_reference_potential", 0.4, "V", "source",
    f"{_PHYS} section 2 (Si 0.4 V); Mark2016 delithiation branch mean 0.45 V",
)

#: Critical film thickness of dense amorphous Si: below it a film cycles nearly without
#: mechanical loss (Griffith estimate h_c = Γ E / (Z σ^2) ≈ 250 nm; 250 nm a-Si cycles well).
CRITICAL_THICKNESS_AMORPHOUS_SI_M = _a(
    "critical_thickness_amorphous_si", 250e-9, "m", "computed",
    f"{_PHYS} section 3 (Griffith estimate; Maranchi 2003 250 nm a-Si)",
)
#: Crystalline films crack at a smaller thickness (c-Si particles ~150 nm vs a-Si ~870 nm).
CRYSTALLINE_CRITICAL_THICKNESS_FACTOR = _a(
    "crystalline_critical_thickness_factor", 0.4, "1", "calibration",
    f"{_PHYS} section 3 (critical sizes 150 nm c-Si vs 870 nm a-Si, ratio 0.17-0.4)",
)
#: The critical thickness scales with (beta_Si / beta)^2 (Griffith: h_c ~ 1/σ^2, σ ~ strain)
#: so inactive metals and oxide matrices, which lower the expansion beta, buffer; capped.
REFERENCE_EXPANSION_SI = _a(
    "reference_expansion_si", 2.8, "1", "source", f"{_PHYS} section 2 (Li15Si4 +280 %)"
)
CRITICAL_THICKNESS_MAX_M = _a(
    "critical_thickness_max", 5e-6, "m", "calibration", f"{_PHYS} section 9 step 7 (cap 5 um)"
)
#: Damage multiplier of the alloy LAM: 1 + (L_A / h_c)^p.
THICKNESS_DAMAGE_EXPONENT = _a(
    "thickness_damage_exponent", 2.0, "1", "calibration", f"{_PHYS} section 9 step 7"
)
#: Proportional term of the alloy's stress-driven LAM per unit active fraction, at the
#: damage multiplier 1 (thin, dense film). Tuned so that 250 nm a-Si is near-stable over
#: ~100 cycles and a 1-1.2 um film fades heavily within 20-50 cycles.
ALLOY_LAM_RATE_PER_FRACTION_S = _a(
    "alloy_lam_rate_per_fraction", 1.0e-4, "1/s", "calibration",
    f"{_PHYS} section 3 thin-film anchors",
)
#: SEI growth on the alloy: solvent diffusivity 100x graphite's, x0.7 for amorphous films, and
#: divided by rho_rel (porous films expose more surface).
ALLOY_SEI_SOLVENT_DIFFUSIVITY_M2_S = _a(
    "alloy_sei_solvent_diffusivity", 2.5e-20, "m2/s", "calibration", f"{_FINDINGS} section 6"
)
AMORPHOUS_SEI_FACTOR = _a(
    "amorphous_sei_factor", 0.7, "1", "calibration", f"{_FINDINGS} section 6"
)

#: First-cycle loss of the alloy film to SEI, fraction of its reversible capacity, plus the
#: oxide's own loss from :mod:`optloop.materials`; porous films lose (1 - rho_rel) more.
#: Defined once in :mod:`optloop.space.derived` (the space's cell balance uses them too).
FILM_FIRST_CYCLE_LOSS_AMORPHOUS = _a(
    "film_first_cycle_loss_amorphous", _D.FILM_ICL_FRACTION["amorphous"], "1", "source",
    f"{_PHYS} section 9 step 8",
)
FILM_FIRST_CYCLE_LOSS_CRYSTALLINE = _a(
    "film_first_cycle_loss_crystalline", _D.FILM_ICL_FRACTION["crystalline"], "1", "source",
    f"{_PHYS} section 9 step 8 (0.10 amorphous to 0.25 crystalline or porous)",
)

# --- Per-element alloy physics (issue 13 item 4) ---------------------------------------------
#
# Each alloying element brings its own Li diffusivity, Young's modulus, fracture behaviour and
# OCP shape; an alloy takes the Li-capacity-weighted mean of its active elements (log-mean for
# the diffusivity and the fracture factors). Elements without a value here use Si's, stated in
# the source text. Every value reaches the one built model through input parameters.

_GRAETZ = "Graetz et al., J. Electrochem. Soc. 151 (2004) A698 [L]"
_LIANG = (
    "c-Ge nanoparticles survive lithiation up to 620 nm (Liang et al., ACS Nano 7 (2013) 3427 "
    "[L]) against 150 nm for c-Si (Liu et al., ACS Nano 6 (2012) 1522 [L])"
)
_PMG = "pymatgen element data (CRC / WebElements Young's modulus of the metal)"
_NO_DATA = "no sourced room-temperature value: Si's kept (a surrogate)"


def _per_element(
    prefix: str, unit: str, values: dict[str, tuple[float, str, Kind]]
) -> dict[str, float]:
    """Register one assumption per element (``<prefix>_<element>``); return their values."""
    return {
        el: _a(f"{prefix}_{el}", v, unit, kind, src) for el, (v, src, kind) in values.items()
    }


#: Li diffusivity in the alloy phase. Si: ALLOY_DIFFUSIVITY_M2_S (Chen2020_composite).
#: Ge: ~400x Si at room temperature
#: (Graetz 2004), which makes its lithiation fast and isotropic. Sn, Al and the rest: no
#: accepted room-temperature value, Si's kept.
ALLOY_ELEMENT_DIFFUSIVITY_M2_S: dict[str, float] = _per_element(
    "alloy_diffusivity", "m2/s",
    {
        "Ge": (400 * ALLOY_DIFFUSIVITY_M2_S, f"{_GRAETZ}: D(Ge) ~ 400 x D(Si)", "source"),
    },
)
#: Young's modulus of the delithiated host (the softening with lithiation, 1 - 0.8 sto, is Si's
#: for every element). Si: ALLOY_YOUNG_MODULUS_DELITHIATED_PA. Ge: c-Ge ~103 GPa
#: (handbook, [L]; pymatgen has none). The metals: pymatgen's element data.
ALLOY_ELEMENT_YOUNG_MODULUS_PA: dict[str, float] = _per_element(
    "alloy_young_modulus", "Pa",
    {
        "Ge": (103e9, "c-Ge Young's modulus ~103 GPa (handbook value) [L]", "source"),
        "Sn": (50e9, _PMG, "source"),
        "Al": (70e9, _PMG, "source"),
        "Pb": (16e9, _PMG, "source"),
        "In": (11e9, _PMG, "source"),
        "Cd": (50e9, _PMG, "source"),
        "Ag": (83e9, _PMG, "source"),
        "Pd": (121e9, _PMG, "source"),
    },
)
ALLOY_ELEMENT_DIFFUSIVITY_M2_S["Si"] = ALLOY_DIFFUSIVITY_M2_S
ALLOY_ELEMENT_YOUNG_MODULUS_PA["Si"] = ALLOY_YOUNG_MODULUS_DELITHIATED_PA
#: Fracture strength of the lithiated phase relative to Li-Si, a factor on the critical stress
#: of the stress-driven LAM. Al: beta-LiAl is a brittle Zintl intermetallic formed through a
#: sharp two-phase front with ~25 % linear misfit ((1 + 0.96)^(1/3) - 1), with no plastic
#: flow to relax it (LixSi flows at ~1 GPa, Sethuraman 2010), so Al films pulverise
#: ("a huge loss in capacity due to volume changes", evaporated Al films, Hamon et al.,
#: J. Power Sources 97-98 (2001) 185; Obrovac & Chevrier 2014 [L]). The factor itself is a
#: calibration: the fracture energy of LiAl is not measured; 0.2 makes a c-Al film fade
#: faster than an a-Si film of equal thickness at 0.5-1 um (0.35 held only at 0.5 um: Al's
#: low expansion gives it a large critical thickness, so its life barely falls with
#: thickness). Others: Si's (1).
ALLOY_ELEMENT_FRACTURE_STRENGTH_FACTOR: dict[str, float] = _per_element(
    "alloy_fracture_strength_factor", "1",
    {
        "Al": (
            0.2, "brittle LiAl; Hamon et al. J. Power Sources 97-98 (2001) 185; "
            "Obrovac & Chevrier, Chem. Rev. 114 (2014) 11444 [L]", "calibration",
        ),
    },
)
#: Critical-size factor of the element relative to Si at the same structure and expansion
#: (toughness beyond the expansion, e.g. isotropic lithiation): Ge 620/150 nm divided by the
#: expansion part (beta_Si / beta_Ge)^2 = (2.80 / 2.47)^2 already in the critical thickness.
ALLOY_ELEMENT_CRITICAL_SIZE_FACTOR: dict[str, float] = _per_element(
    "alloy_critical_size_factor", "1",
    {
        "Ge": (
            (620.0 / 150.0) / (2.80 / 2.473) ** 2, f"{_LIANG}; expansion part removed",
            "computed",
        )
    },
)
#: OCP shape: the Mark2016 Si curve (a sloping single phase) blended with a plateau curve of
#: weight f, U = V_mean + (1 - f)(U_Si - 0.4 V) + f S(sto), where S is a zero-mean staircase
#: of the two-phase plateaus (delithiation potentials vs Li, room temperature). Si, Ge:
#: amorphous, sloping (f = 0). Sn: three delithiation plateaus ~0.58 / 0.70 / 0.78 V
#: (Li-rich -> LiSn -> Sn; Winter & Besenhard, Electrochim. Acta 45 (1999) 31 [L]) at the
#: phase boundaries LiSn (1/4.25 of Li17Sn4) and Li7Sn3 (2.33/4.25): steps of 0.08 V and
#: 0.12 V. Al: one alpha-Al / beta-LiAl plateau (flat, Hamon 2001). f = 0.8 keeps 20 % of the
#: Si curve's slope and its steep ends so the solver sees a well-posed OCP (calibration).
ALLOY_OCP_PLATEAU_WEIGHT: dict[str, float] = _per_element(
    "alloy_ocp_plateau_weight", "1",
    {
        "Sn": (0.8, "two-phase plateaus of Li-Sn (Winter & Besenhard 1999) [L]", "calibration"),
        "Al": (0.8, "single alpha-Al/beta-LiAl plateau (Hamon 2001) [L]", "calibration"),
    },
)
#: Mean delithiation potential of each element vs Li/Li+ (room temperature), the V_mean of
#: the OCP above. The values live in optloop.materials.phases (LITHIATED_PHASES); they are
#: registered here with their literature sources. With the model's OCP, the capacity-weighted
#: mean over sto 0.01-0.99 is Si 0.333 V (Mark2016 average branch, see above), Ge 0.433 V,
#: Sn 0.537 V, Al 0.337 V (tests/test_physics_alloys.py checks Sn and the order).
#: Sn: delithiation plateaus of the Li-Sn phases at ~0.45-0.5 (Li-rich phases), 0.58, 0.70
#: and 0.78 V (Winter & Besenhard, Electrochim. Acta 45 (1999) 31 [L]; Courtney & Dahn, JES
#: 144 (1997) 2045 [L]), mean 0.5-0.6 V. At the top of charge Sn sits on its Li-rich plateau
#: (~0.41 V in the model), far above Si (~0.18 V at the end of the CV hold), so a full cell
#: with the fixed 4.2 V cut-off drives the NMC811 deeper (~4.58 V vs Li, stoichiometry ~0.13
#: against 0.266 at the window's top) and the cell delivers more than its nominal capacity.
#: Al: beta-LiAl two-phase plateau; delithiation ~0.4-0.45 V, lithiation ~0.2-0.3 V (Hamon
#: et al., J. Power Sources 97-98 (2001) 185 [L]); the table's 0.35 V lies between the two
#: branches, like the Mark2016 average curve for Si (not changed here).
ALLOY_ELEMENT_MEAN_POTENTIAL_V: dict[str, float] = _per_element(
    "alloy_mean_delithiation_potential", "V",
    {
        "Si": (
            _PHASES["Si"].mean_potential_V,
            "Obrovac & Chevrier, Chem. Rev. 114 (2014) 11444 [L]; Mark2016 delithiation "
            "branch mean 0.45 V", "source",
        ),
        "Ge": (
            _PHASES["Ge"].mean_potential_V,
            f"Obrovac & Chevrier 2014 [L]; {_GRAETZ} (Ge films delithiate at ~0.4-0.6 V)",
            "source",
        ),
        "Sn": (
            _PHASES["Sn"].mean_potential_V,
            "Winter & Besenhard, Electrochim. Acta 45 (1999) 31 [L]: plateaus ~0.45-0.5, "
            "0.58, 0.70, 0.78 V on delithiation; Obrovac & Chevrier 2014 [L]", "source",
        ),
        "Al": (
            _PHASES["Al"].mean_potential_V,
            "Obrovac & Chevrier 2014 [L]; LiAl plateau delithiation ~0.4-0.45 V, lithiation "
            "~0.2-0.3 V (Hamon et al. 2001 [L]): 0.35 V between the branches", "source",
        ),
    },
)
#: Plateau staircase: (step stoichiometry, step height [V]) pairs, highest plateau at low sto.
ALLOY_OCP_STEPS: dict[str, tuple[tuple[float, float], ...]] = {
    "Sn": (
        (
            _a("alloy_ocp_Sn_step1_sto", 1.0 / 4.25, "1", "computed", "LiSn / Li17Sn4"),
            _a("alloy_ocp_Sn_step1_height", 0.08, "V", "source", "0.78 - 0.70 V, Winter 1999"),
        ),
        (
            _a("alloy_ocp_Sn_step2_sto", 2.33 / 4.25, "1", "computed", "Li7Sn3 / Li17Sn4"),
            _a("alloy_ocp_Sn_step2_height", 0.12, "V", "source", "0.70 - 0.58 V, Winter 1999"),
        ),
    ),
}
#: Width of each plateau step in stoichiometry (numerical smoothing).
ALLOY_OCP_STEP_WIDTH = _a(
    "alloy_ocp_step_width", 0.02, "1", "calibration", "smooth enough for the solver"
)
#: Porous films accommodate part of the swelling in their pores: the swelling that strains a
#: film is beta_eff = (1 + beta) rho / rho_dense - 1 (the rule that an electrode porosity
#: beta / (1 + beta) takes up the whole expansion, Obrovac & Chevrier 2014 [L]; density-modulated
#: Si films made by switching the Ar pressure are more stable, J. Power Sources 273 (2015) 52
#: [R]). rho_dense is the dense sputtered film's (no relief for films denser than it).
POROUS_ACCOMMODATION_DENSITY = _a(
    "porous_accommodation_density", _D.SPUTTER_DENSITY_DENSE, "1", "source",
    f"{_PHYS} section 5 (dense sputtered film)",
)
#: Floor on the effective expansion (a film whose pores take up all the swelling still strains
#: at its contacts): 10 % of the solid's expansion (calibration).
POROUS_ACCOMMODATION_FLOOR = _a(
    "porous_accommodation_floor", 0.1, "1", "calibration", "keeps the critical thickness finite"
)

# --- Film density by deposition method (defined in optloop.space.derived) ---------------------

#: Relative density of a sputtered film at low and high Ar pressure (log-linear in between).
SPUTTER_DENSITY_DENSE = _a(
    "sputter_density_dense", _D.SPUTTER_DENSITY_DENSE, "1", "source", f"{_PHYS} section 5"
)
SPUTTER_DENSITY_POROUS = _a(
    "sputter_density_porous", _D.SPUTTER_DENSITY_POROUS, "1", "source", f"{_PHYS} section 5"
)
SPUTTER_PRESSURE_DENSE_PA = _a(
    "sputter_pressure_dense", _D.SPUTTER_PRESSURE_DENSE_PA, "Pa", "calibration",
    f"{_PHYS} section 5 (low Ar pressure)",
)
SPUTTER_PRESSURE_POROUS_PA = _a(
    "sputter_pressure_porous", _D.SPUTTER_PRESSURE_POROUS_PA, "Pa", "calibration",
    f"{_PHYS} section 5 (high Ar pressure)",
)
EVAPORATION_DENSITY = _a(
    "evaporation_density", _D.EVAPORATION_DENSITY, "1", "source", f"{_PHYS} section 5"
)
CVD_DENSITY = _a("cvd_density", _D.CVD_DENSITY, "1", "source", f"{_PHYS} section 5")
PLATING_DENSITY = _a("plating_density", _D.PLATING_DENSITY, "1", "source", f"{_PHYS} section 5")

# --- Lithium inventory, prelithiation and plating ---------------------------------------------

#: First-cycle efficiency of the positive electrode itself (defined in optloop.space.derived,
#: whose first-cycle efficiency ceiling uses it too). Its loss is kinetic (the oxide cannot be
#: relithiated to its as-made stoichiometry), so the simulated positive cannot go above the
#: discharged stoichiometry of its window, and the lithium it gave on the formation charge
#: beyond its window stays in the negative electrode, where it first offsets the SEI loss.
POSITIVE_FIRST_CYCLE_EFFICIENCY = _a(
    "positive_first_cycle_efficiency", _D.POSITIVE_FIRST_CYCLE_EFFICIENCY, "1", "source",
    "NCM811 half cell ~C/10, 3.0-4.3 V vs Li: ~0.88 (Noh et al., J. Power Sources 233 (2013) "
    "121 [L]; NMC811 0.85-0.90 in the literature); kinetic loss at the end of the first "
    "discharge (Kasnatscheew et al., PCCP 18 (2016) 3956)",
)
#: Stoichiometry of the as-made positive: the first charge takes it from here to the charged
#: stoichiometry, and only the fraction eta_pos of that comes back: s0 = s_ch + window / eta.
POSITIVE_STO_AS_MADE = _a(
    "positive_sto_as_made",
    POSITIVE_STO_CHARGED + (POSITIVE_STO_DISCHARGED - POSITIVE_STO_CHARGED)
    / POSITIVE_FIRST_CYCLE_EFFICIENCY,
    "1", "computed",
    "s_charged + (s_discharged - s_charged) / eta_pos (0.996: fully lithiated LiMO2)",
)
#: The positive's relithiation limit as a steep, smooth fall of its OCP beyond the limit
#: s_lim = s_discharged - margin: dU = -slope * width * softplus((sto - s_lim) / width). It
#: stands for the kinetic barrier near full lithiation (Kasnatscheew 2016) and keeps the
#: positive inside its window when the negative still holds lithium at the end of discharge
#: (a reservoir). 0.14 V at the limit, 0.7 V at +0.008; < 2 mV at -0.01. The margin absorbs
#: the wall's overshoot at 1C (~0.004) and a charge deeper than the reference window, so the
#: measured first-cycle efficiency stays below eta_pos: (s_lim - s_charged) / (s0 - s_charged)
#: = 0.864 on the reference window. Since the charge wall below (4.3 V vs Li) stops the
#: deepest charge at ~0.258 (c-Sn; it reached ~0.11 without it), that bound is at most 0.865,
#: so the margin is now larger than it needs to be (~0.005 would keep FCE <= 0.88); kept, as
#: every capacity of the evaluator depends on it. Numerical calibrations.
POSITIVE_RELITHIATION_WALL_SLOPE_V = _a(
    "positive_relithiation_wall_slope", 100.0, "V", "calibration",
    "steep enough that a 2.5 V cut-off stops the positive within ~0.01 of its window",
)
POSITIVE_RELITHIATION_MARGIN = _a(
    "positive_relithiation_margin", 0.012, "1", "calibration",
    "keeps measured first-cycle efficiencies <= eta_pos for every alloy of the default space",
)
POSITIVE_STO_LIMIT = _a(
    "positive_sto_limit", POSITIVE_STO_DISCHARGED - POSITIVE_RELITHIATION_MARGIN, "1",
    "computed", "s_discharged - margin: the positive refills up to here, never beyond",
)
POSITIVE_RELITHIATION_WALL_WIDTH = _a(
    "positive_relithiation_wall_width", 0.002, "1", "calibration",
    "smooth enough for the solver; the OCP below the window is unchanged (< 2 mV)",
)
#: The mirror image at the charged end: the positive's upper potential limit. An NMC811 half
#: cell is charged to 4.3 V vs Li/Li+ (Noh et al., J. Power Sources 233 (2013) 121: 3.0-4.3 V);
#: beyond it the delithiated oxide releases lattice oxygen and degrades (Jung et al., J.
#: Electrochem. Soc. 164 (2017) A1361). A cell whose negative sits at a higher potential than
#: graphite at top of charge (Si, Ge, Al, Sn) would otherwise push the positive to 4.4-4.6 V
#: under the 4.2 V cell cut-off, beyond Chen2020's fitted window, and deliver more than its
#: window's capacity. A lab lowers the charge voltage for such an anode; the model does the same
#: with a steep smooth rise of the OCP below s_lim_ch (the stoichiometry where Chen2020's OCP is
#: at the limit): dU = +slope * width * softplus((s_lim_ch - sto) / width).
POSITIVE_UPPER_POTENTIAL_LIMIT_V = _a(
    "positive_upper_potential_limit", 4.3, "V", "source",
    "NMC811 half-cell upper cut-off 4.3 V vs Li/Li+ (Noh et al., J. Power Sources 233 (2013) "
    "121); lattice oxygen release of NMC811 sets in above ~4.3 V (Jung et al., JES 164 (2017) "
    "A1361)",
)
POSITIVE_STO_LIMIT_CHARGED = _a(
    "positive_sto_limit_charged", 0.2613, "1", "computed",
    "Chen2020 NMC811 OCP solved for U(s) = 4.3 V (0.26134; the LG M50's 4.2 V charged state "
    "0.2661 is at 4.285 V): the positive delithiates down to here, never beyond",
)
POSITIVE_CHARGE_WALL_WIDTH = _a(
    "positive_charge_wall_width", 0.001, "1", "calibration",
    "with the relithiation wall's slope: +0.07 V at s_lim_ch, +0.3 V at -0.0026 (c-Sn's 4.58 "
    "V), < 1 mV at the LG M50's charged stoichiometry (+0.0048), so graphite cells are "
    "unchanged",
)
#: Molar mass and density of lithium metal (pymatgen data via optloop.materials): a Li layer
#: of thickness t brings t * rho / M mol of lithium per area.
LITHIUM_MOLAR_MASS_G_MOL = _a(
    "lithium_molar_mass", _Li.atomic_mass_g_mol, "g/mol", "source",
    "pymatgen element data (optloop.materials.elements)",
)
LITHIUM_DENSITY_G_CM3 = _a(
    "lithium_density", _Li.density_g_cm3, "g/cm3", "source",
    "pymatgen element data (optloop.materials.elements); 0.534 g/cm3",
)
#: Highest negative stoichiometry the host takes at top of charge; beyond it lithium plates.
HOST_MAX_STOICHIOMETRY = _a(
    "host_max_stoichiometry", _D.HOST_MAX_STOICHIOMETRY, "1", "calibration",
    f"{_PHYS} section 6 (excess beyond the anode's free capacity plates)",
)
#: Plated lithium beyond this fraction of the positive's capacity: refused as a plating hazard.
MAX_PLATED_FRACTION = _a(
    "max_plated_fraction", _D.MAX_PLATED_FRACTION, "1", "calibration",
    f"{_PHYS} section 6 (dendrites, dead Li and extra SEI)",
)
#: Harm of plated lithium below that limit: it is dead lithium (lost from the inventory) and
#: its fresh metal surface keeps consuming electrolyte, so the SEI of the negative grows
#: faster: solvent diffusivity x (1 + k * plated / Q_pos). Over-prelithiation shortens life
#: (Materials Today 2022, doi:10.1016/j.mattod.2022.07.008, on the degree of prelithiation
#: and cycling stability [abstract read]; Holtstiege et al., Batteries 2018: excess lithium
#: plates); k itself is a calibration choice: 10 % of Q_pos plated doubles the SEI growth.
PLATED_LITHIUM_SEI_FACTOR = _a(
    "plated_lithium_sei_factor", 10.0, "1", "calibration",
    "Materials Today 2022 doi:10.1016/j.mattod.2022.07.008; Holtstiege et al. 2018",
)
#: The negative electrode keeps at least this stoichiometry at the end of discharge (OCP
#: curves diverge at 0). The lithium it holds there is part of the inventory, taken from the
#: positive's lithium, never added.
#: Plated lithium also speeds up loss of active material: dead lithium and the SEI on it
#: clog pores and isolate particles (Yang et al., J. Power Sources 360 (2017) 28: plating-
#: induced pore clogging turns linear ageing nonlinear [L]; O'Kane et al. PCCP 2022 couple
#: plating, SEI and LAM). LAM rate x (1 + k * plated / Q_pos); k is a calibration choice,
#: equal to the SEI one, so the harm shows whichever mechanism limits life.
PLATED_LITHIUM_LAM_FACTOR = _a(
    "plated_lithium_lam_factor", 10.0, "1", "calibration",
    "Yang et al. J. Power Sources 360 (2017) 28; O'Kane et al. PCCP 2022",
)
NEGATIVE_STO_FLOOR = _a("negative_sto_floor", 0.01, "1", "calibration", _FINDINGS + " section 6")
#: Highest initial negative stoichiometry accepted (findings section 5: sto >= 1 crashes).
NEGATIVE_STO_MAX = _a("negative_sto_max", 0.95, "1", "source", _FINDINGS + " section 6")
#: Minimum N/P (reversible capacities, Q_neg / Q_pos): below it every charge plates lithium,
#: refused as a plating risk (a FAILED evaluation with the reason).
MIN_NP_RATIO = _a("min_np_ratio", 1.05, "1", "source", f"{_PHYS} section 6 (industry N/P)")

# --- Numerics -----------------------------------------------------------------------------------

#: Floor on every volume fraction (zero gives ZeroDivisionError / IDA_BAD_K, findings §5).
VOLUME_FRACTION_FLOOR = _a("volume_fraction_floor", 1e-4, "1", "source", _FINDINGS + " section 5")

STRUCTURAL_ASSUMPTIONS: tuple[str, ...] = (
    "SPM with a two-phase negative electrode (graphite primary, alloy secondary), "
    "solvent-diffusion-limited SEI on both phases, swelling-only mechanics and stress-driven "
    "LAM on the negative electrode only (pybamm-findings.md section 6).",
    "The layered stack (carbon on the collector, alloy on top) is homogenised into a uniform "
    "two-phase mixture, the only option in PyBaMM.",
    "Thickness is emulated through volume fractions on a fixed mesh (exact for SPM); the "
    "alloy LAM proportional term is scaled the same way.",
    "The alloy phase keeps Chen2020_composite's Si particle radius for every alloy; its Li "
    "diffusivity, Young's modulus, critical stress and OCP (the Mark2016 Si slope blended with "
    "the element's two-phase plateaus, around its mean potential) are per element, mixed over "
    "the active elements by stored Li, and enter the one built model as inputs.",
    "The particle's diffusion-induced stress is the proxy of a film's mechanical loading: the "
    "alloy LAM term is scaled by (D / D_Si)^m so the proxy does not fall with a faster "
    "diffusivity; an element's toughness enters through its critical size and fracture "
    "strength, porosity through the swelling its pores take up (effective expansion in h_c).",
    "The alloy's partial molar volume is the constant-Li-volume value of optloop.materials for "
    "every alloy; its volume change is beta * sto with beta from optloop.materials.",
    "Formation is not simulated: the cell starts discharged after it. Lithium is conserved: "
    "as-made positive (stoichiometry s0 = s_charged + window / eta_pos) + Li layer = positive + "
    "negative (reservoir included) + formation loss (SEI, oxide) + plated lithium.",
    "The positive cannot be relithiated beyond its discharged stoichiometry (its own "
    "first-cycle loss, a steep OCP wall); lithium left in the negative at the end of discharge "
    "is a reservoir that feeds later loss of lithium inventory.",
    "The positive is never charged beyond its upper potential limit (4.3 V vs Li, a steep OCP "
    "wall below s_lim_ch): with an anode at a higher potential than graphite at top of charge "
    "the 4.2 V cell cut-off then stops the positive at its limit, as a lab would by lowering "
    "the charge voltage, and the cell delivers at most its positive window's capacity.",
    "Lithium beyond the host's free capacity at the top of the formation charge plates as "
    "metal: dead lithium that speeds up SEI growth; beyond a limit the design is refused.",
    "The first-cycle efficiency is what a cycler measures: the first discharge over the first "
    "charge, which includes the lithium the positive gave to formation before the simulated "
    "cycle.",
    "Energy density uses the fully swollen anode thickness L_C (1 + beta_C) + L_A (1 + beta_A) "
    "(a worst case), plus separator, positive electrode and both current collectors.",
    "Designs with N/P (reversible capacities) below the minimum, or whose plated lithium "
    "exceeds the limit, are rejected before solving as a plating risk (FAILED, not "
    "penalised); plated lithium below the limit is simulated as harm (faster SEI and LAM).",
    "Only NMC811 (Chen2020) is parameterised as a positive electrode.",
    "Host-cell ageing (graphite SEI solvent diffusivity and graphite stress-driven LAM) is "
    "calibrated to the LG M50's retention (graphite-SiOx / NMC811; NREL BLAST-Lite's model of "
    "Truong Bui et al. 2021 data at the default protocol): the M50's silicon and "
    "positive-electrode fade are lumped into these graphite knobs; the positive electrode "
    "does not degrade by itself, so a design without graphite has no host fade.",
)


def assumptions_table() -> str:
    """Return every numeric assumption as a Markdown table (name, value, unit, kind, source)."""
    lines = ["| name | value | unit | kind | source |", "|---|---|---|---|---|"]
    for a in ASSUMPTIONS.values():
        lines.append(f"| {a.name} | {a.value:.4g} | {a.unit} | {a.kind} | {a.source} |")
    return "\n".join(lines)
