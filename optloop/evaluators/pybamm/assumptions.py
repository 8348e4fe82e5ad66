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
#: Li reservoir breathes with less stress. The same curve is used for every alloy.
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
#: Reference Li diffusivity of the alloy phase (Si of Chen2020_composite), for every alloy.
ALLOY_DIFFUSIVITY_M2_S = _a("alloy_diffusivity", 1.67e-14, "m2/s", "source", _CHEN)
#: Mean delithiation potential of the Mark2016 Si OCP curve: other alloys use the same curve
#: shifted rigidly by (their mean potential - this), a surrogate (physics section 9 step 6).
SI_OCP_REFERENCE_POTENTIAL_V = _a(
    "si_ocp_reference_potential", 0.4, "V", "source", f"{_PHYS} section 2 (Si 0.4 V)"
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
#: Porous films (lower relative density) accommodate part of the swelling in their pores:
#: LAM multiplier rho_rel^q.
POROUS_BUFFER_EXPONENT = _a(
    "porous_buffer_exponent", 2.0, "1", "calibration",
    f"{_PHYS} section 3 (density-modulated Si multilayers more stable)",
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
#: the wall's overshoot at 1C (~0.004) and the deeper charge an alloy at a higher potential
#: imposes (charged stoichiometry down to ~0.20 for Sn), so the measured first-cycle efficiency
#: stays below eta_pos: (s_lim - s_charged) / (s0 - s_charged) = 0.864 on the reference
#: window, up to ~0.88 at the deepest charge. Numerical calibrations.
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
    "The alloy phase keeps Chen2020_composite's Si particle radius and diffusivity for every "
    "alloy; its OCP is the Mark2016 Si curve shifted by (mean potential - 0.4 V).",
    "The alloy's partial molar volume is the constant-Li-volume value of optloop.materials for "
    "every alloy; its volume change is beta * sto with beta from optloop.materials.",
    "Formation is not simulated: the cell starts discharged after it. Lithium is conserved: "
    "as-made positive (stoichiometry s0 = s_charged + window / eta_pos) + Li layer = positive + "
    "negative (reservoir included) + formation loss (SEI, oxide) + plated lithium.",
    "The positive cannot be relithiated beyond its discharged stoichiometry (its own "
    "first-cycle loss, a steep OCP wall); lithium left in the negative at the end of discharge "
    "is a reservoir that feeds later loss of lithium inventory.",
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
