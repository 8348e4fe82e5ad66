"""Design -> neutral cell-model quantities -> PyBaMM parameters: the only place PyBaMM names live.

Two steps (alloy-anode-physics.md section 9, pybamm-findings.md section 6):

1. :func:`cell_model_inputs` turns a :class:`~optloop.space.design.Design` and the materials
   data of its actual composition into a :class:`CellModelInputs`: named physical quantities
   with units, plus the capacity and lithium bookkeeping. No PyBaMM here.
2. :func:`to_pybamm_inputs` turns those into the ``inputs`` dict of one built simulation, and
   :func:`build_parameter_values` / :func:`model_options` give the model those inputs feed.

Every constant comes from :mod:`optloop.evaluators.pybamm.assumptions`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from optloop.evaluators.pybamm import assumptions as A
from optloop.exceptions import InfeasibleDesignError
from optloop.materials import (
    LI_PARTIAL_MOLAR_VOLUME_CM3_MOL,
    alloy_properties,
    graphite_properties,
)
from optloop.materials.phases import active_fractions, resolve_phases
from optloop.space.derived import derive
from optloop.space.design import Design

__all__ = [
    "CAPACITY_VARIABLE",
    "INPUT_NAMES",
    "CellModelInputs",
    "build_parameter_values",
    "cell_model_inputs",
    "model_options",
    "to_pybamm_inputs",
    "validate_inputs",
    "var_pts",
]

_CM_PER_M = 100.0
_CM2_PER_M2 = 1e4
_FARADAY = 96485.33212  # C/mol; only to convert c_max to mAh/cm3 consistently with materials
_MAH_PER_MOL = _FARADAY / 3.6

# --- PyBaMM names -----------------------------------------------------------------------------

_P = "Primary: "
_S = "Secondary: "
_EPS_GR = _P + "Negative electrode active material volume fraction"
_EPS_AL = _S + "Negative electrode active material volume fraction"
_EPS_POS = "Positive electrode active material volume fraction"
_C0_GR = _P + "Initial concentration in negative electrode [mol.m-3]"
_C0_AL = _S + "Initial concentration in negative electrode [mol.m-3]"
_C0_POS = "Initial concentration in positive electrode [mol.m-3]"
_CMAX_GR = _P + "Maximum concentration in negative electrode [mol.m-3]"
_CMAX_AL = _S + "Maximum concentration in negative electrode [mol.m-3]"
_CMAX_POS = "Maximum concentration in positive electrode [mol.m-3]"
_LAM_GR = _P + "Negative electrode LAM constant proportional term [s-1]"
_LAM_AL = _S + "Negative electrode LAM constant proportional term [s-1]"
_DSOL_AL = _S + "SEI solvent diffusivity [m2.s-1]"
_DSOL_GR = _P + "SEI solvent diffusivity [m2.s-1]"
_NOMINAL = "Nominal cell capacity [A.h]"
_POS_OCP = "Positive electrode OCP [V]"
_EXPANSION = "Alloy volume expansion"
_OCP_SHIFT = "Alloy OCP shift [V]"
_D_AL = _S + "Negative particle diffusivity [m2.s-1]"
_SIGMA_AL = _S + "Negative electrode critical stress [Pa]"
_E_AL = "Alloy Young's modulus [Pa]"
_OCP_PLATEAU = "Alloy OCP plateau weight"
_OCP_STEPS = (
    ("Alloy OCP step 1 stoichiometry", "Alloy OCP step 1 height [V]"),
    ("Alloy OCP step 2 stoichiometry", "Alloy OCP step 2 height [V]"),
)

#: The InputParameters of the built model: one simulation serves every design.
INPUT_NAMES: tuple[str, ...] = (
    _EPS_GR, _EPS_AL, _EPS_POS, _C0_GR, _C0_AL, _C0_POS, _CMAX_AL, _LAM_GR, _LAM_AL,
    _DSOL_AL, _DSOL_GR, _NOMINAL, _EXPANSION, _OCP_SHIFT, _D_AL, _SIGMA_AL, _E_AL,
    _OCP_PLATEAU, *(name for step in _OCP_STEPS for name in step),
)
#: Per-step discharge capacity (composites have no "Capacity [A.h]" summary variable).
CAPACITY_VARIABLE = "Discharge capacity [A.h]"


@dataclass(frozen=True)
class CellModelInputs:
    """The cell a design describes, as named physical quantities (no PyBaMM names).

    Capacities are per electrode area (mAh/cm^2) of the usable window; thicknesses in m.
    """

    formula: str
    carbon_thickness_m: float
    carbon_solid_fraction: float
    alloy_thickness_m: float
    alloy_relative_density: float
    alloy_amorphous: bool
    alloy_max_concentration_mol_m3: float
    alloy_volume_expansion: float
    alloy_mean_potential_V: float
    alloy_diffusivity_m2_s: float
    alloy_young_modulus_Pa: float
    alloy_critical_stress_Pa: float
    alloy_critical_size_factor: float
    alloy_effective_expansion: float
    alloy_ocp_plateau_weight: float
    alloy_ocp_steps: tuple[tuple[float, float], ...]
    alloy_critical_thickness_m: float
    alloy_damage_multiplier: float
    alloy_lam_rate_per_fraction_s: float
    alloy_sei_solvent_diffusivity_m2_s: float
    graphite_max_concentration_mol_m3: float
    positive_max_concentration_mol_m3: float
    positive_thickness_m: float
    positive_initial_stoichiometry: float
    negative_initial_stoichiometry: float
    alloy_capacity_mAh_cm2: float
    carbon_capacity_mAh_cm2: float
    negative_capacity_mAh_cm2: float
    positive_capacity_mAh_cm2: float
    lithium_layer_mAh_cm2: float
    lithium_layer_mol_m2: float
    irreversible_loss_mAh_cm2: float
    positive_first_charge_mAh_cm2: float
    positive_own_loss_mAh_cm2: float
    plated_lithium_mAh_cm2: float
    lithium_reservoir_mAh_cm2: float
    cyclable_lithium_mAh_cm2: float
    positive_lithium_mAh_cm2: float
    negative_lithium_mAh_cm2: float
    graphite_sei_solvent_diffusivity_m2_s: float
    graphite_lam_rate_per_fraction_s: float
    first_cycle_efficiency_max: float
    np_ratio: float
    np_ratio_with_reservoir: float
    anode_active_mass_g_cm2: float
    anode_theoretical_capacity_mAh_g: float
    swollen_anode_thickness_m: float
    stack_thickness_m: float
    nominal_capacity_Ah: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def critical_thickness_m(expansion: float, amorphous: bool, size_factor: float = 1.0) -> float:
    """Return the film thickness below which the alloy cycles nearly without mechanical loss.

    h_c = h_c,a-Si * (1 if amorphous else f_cryst) * F_el * (beta_Si / beta)^2, capped, with
    F_el the element's critical-size factor and beta the (porosity-relieved) expansion.
    """
    base = A.CRITICAL_THICKNESS_AMORPHOUS_SI_M * size_factor * (
        1.0 if amorphous else A.CRYSTALLINE_CRITICAL_THICKNESS_FACTOR
    )
    if expansion <= 0.0:
        return A.CRITICAL_THICKNESS_MAX_M
    return min(A.CRITICAL_THICKNESS_MAX_M, base * (A.REFERENCE_EXPANSION_SI / expansion) ** 2)


def effective_expansion(expansion: float, relative_density: float) -> float:
    """Return the swelling that strains a film whose pores take up part of it.

    beta_eff = (1 + beta) * rho / rho_dense - 1, floored at a fraction of beta; films denser
    than the dense sputtered film get no relief (assumptions: porous accommodation).
    """
    ratio = min(1.0, relative_density / A.POROUS_ACCOMMODATION_DENSITY)
    return max(A.POROUS_ACCOMMODATION_FLOOR * expansion, (1.0 + expansion) * ratio - 1.0)


@dataclass(frozen=True)
class ElementPhysics:
    """Per-element physics of an alloy, mixed over its active elements by stored Li."""

    diffusivity_m2_s: float
    young_modulus_Pa: float
    fracture_strength_factor: float
    critical_size_factor: float
    ocp_plateau_weight: float
    ocp_steps: tuple[tuple[float, float], ...]


def element_physics(weights: dict[str, float]) -> ElementPhysics:
    """Mix the per-element physics of ``{element: Li stored}`` (missing elements: Si's).

    Diffusivity and the fracture factors mix as log-means, the modulus and the OCP plateau
    weight linearly; the plateau steps of each element are kept, their heights scaled by the
    element's weight (two steps at most: the model has two step inputs).
    """
    total = sum(weights.values())
    if total <= 0.0:
        weights, total = {"Si": 1.0}, 1.0
    w = {el: v / total for el, v in weights.items() if v > 0.0}

    def get(table: dict[str, float], el: str, default: float) -> float:
        return table.get(el, default)

    def logmean(table: dict[str, float], default: float) -> float:
        return math.exp(sum(x * math.log(get(table, el, default)) for el, x in w.items()))

    d_si = A.ALLOY_ELEMENT_DIFFUSIVITY_M2_S["Si"]
    e_si = A.ALLOY_ELEMENT_YOUNG_MODULUS_PA["Si"]
    steps: list[tuple[float, float]] = []
    for el, x in sorted(w.items(), key=lambda kv: -kv[1]):
        for sto, height in A.ALLOY_OCP_STEPS.get(el, ()):
            steps.append((sto, height * x))
    steps = sorted(steps, key=lambda sh: -sh[1])[: len(_OCP_STEPS)]
    while len(steps) < len(_OCP_STEPS):
        steps.append((0.5, 0.0))
    return ElementPhysics(
        diffusivity_m2_s=logmean(A.ALLOY_ELEMENT_DIFFUSIVITY_M2_S, d_si),
        young_modulus_Pa=sum(x * get(A.ALLOY_ELEMENT_YOUNG_MODULUS_PA, el, e_si)
                             for el, x in w.items()),
        fracture_strength_factor=logmean(A.ALLOY_ELEMENT_FRACTURE_STRENGTH_FACTOR, 1.0),
        critical_size_factor=logmean(A.ALLOY_ELEMENT_CRITICAL_SIZE_FACTOR, 1.0),
        ocp_plateau_weight=sum(
            x * get(A.ALLOY_OCP_PLATEAU_WEIGHT, el, 0.0) for el, x in w.items()
        ),
        ocp_steps=tuple(sorted(steps)),
    )


def _li_weights(composition: dict[str, float]) -> dict[str, float]:
    """Return the Li each active alloying element stores per formula unit."""
    table = resolve_phases(None)
    return {
        el: n * table[el].li_per_host_atom for el, n in active_fractions(composition).items()
    }


@lru_cache(maxsize=8)
def _positive_max_concentration(parameter_set: str) -> float:
    import pybamm

    return float(pybamm.ParameterValues(parameter_set)[_CMAX_POS])


def cell_model_inputs(
    design: Design, *, parameter_set: str = "Chen2020_composite"
) -> CellModelInputs:
    """Map a design to the physical quantities of the cell model.

    Raises:
        InfeasibleDesignError: When the design cannot be simulated meaningfully (unsupported
            positive electrode, N/P below the plating limit, no cyclable lithium, ...); each
            message names the quantity, its value and the limit.
    """
    problems: list[str] = []
    if design.cell.positive_electrode != "NMC811":
        raise InfeasibleDesignError(
            [
                f"cell.positive_electrode={design.cell.positive_electrode!r}: the PyBaMM "
                "evaluator parameterises only NMC811 (Chen2020)"
            ]
        )
    graphite = graphite_properties()
    # Capacities, first-cycle loss and cell balance have one definition: the design space's.
    derived = derive(design)
    if design.carbon_layer is not None:
        t_c = design.carbon_layer.thickness_um * 1e-6
        solid_c = 1.0 - design.carbon_layer.porosity
    else:
        t_c, solid_c = 0.0, 0.0
    q_c = derived.carbon_areal_capacity_mAh_cm2

    # Alloy layer, from the materials data of its actual composition.
    layer = design.alloy_layer
    if layer is not None and derived.alloy is not None:
        props = derived.alloy
        if props.max_concentration_mol_m3 <= 0.0:
            raise InfeasibleDesignError(
                [
                    f"alloy {props.formula} stores no lithium (all of its alloying metal is "
                    "bound in silicides / intermetallics): nothing to simulate"
                ]
            )
        t_a = layer.thickness_um * 1e-6
        rho = float(derived.film_relative_density or 1.0)
        amorphous = layer.structure == "amorphous"
        formula = props.formula
        cmax_a = props.max_concentration_mol_m3
        beta = props.volume_expansion
        potential = props.mean_potential_V
        q_a = derived.alloy_areal_capacity_mAh_cm2
        physics = element_physics(_li_weights(props.composition))
    else:
        t_a, rho, amorphous, formula = 0.0, 1.0, True, "none"
        si = alloy_properties({"Si": 1.0})
        cmax_a, beta, potential = si.max_concentration_mol_m3, si.volume_expansion, 0.4
        q_a = 0.0
        physics = element_physics({"Si": 1.0})

    beta_eff = effective_expansion(beta, rho)
    h_c = critical_thickness_m(beta_eff, amorphous, physics.critical_size_factor)
    damage = 1.0 + (t_a / h_c) ** A.THICKNESS_DAMAGE_EXPONENT if t_a > 0 else 0.0
    # The particle's diffusion-induced stress stands for the film's mechanical loading, which
    # (substrate-constrained swelling) does not fall with the diffusivity: the proxy is kept at
    # Si's diffusivity, sigma ~ 1/D, and an element's toughness enters through its critical
    # size (assumptions: per-element alloy physics). The diffusivity itself still sets the
    # particle's kinetics. Porosity acts through the effective expansion in h_c.
    d_ratio = physics.diffusivity_m2_s / A.ALLOY_ELEMENT_DIFFUSIVITY_M2_S["Si"]
    lam_rel = A.ALLOY_LAM_RATE_PER_FRACTION_S * damage * d_ratio**A.LAM_EXPONENT
    d_sol = (
        A.ALLOY_SEI_SOLVENT_DIFFUSIVITY_M2_S
        * (A.AMORPHOUS_SEI_FACTOR if amorphous else 1.0)
        / rho
    )

    q_neg = derived.negative_areal_capacity_mAh_cm2
    if q_neg <= 0.0:
        raise InfeasibleDesignError(["negative electrode stores no lithium (capacity 0 mAh/cm2)"])
    q_pos = derived.positive_loading_mAh_cm2
    if q_pos <= 0.0:
        raise InfeasibleDesignError(
            [f"positive loading {q_pos:.3g} mAh/cm2: the lithium layer over-fills the anode"]
        )
    window = A.POSITIVE_STO_DISCHARGED - A.POSITIVE_STO_CHARGED
    q_pos_total = q_pos / window
    cmax_p = _positive_max_concentration(parameter_set)
    pos_vol_cap = cmax_p * _MAH_PER_MOL / 1e6 * window  # mAh/cm3 of positive solid
    l_pos = q_pos / (pos_vol_cap * A.POSITIVE_SOLID_FRACTION) / _CM_PER_M

    # --- Lithium bookkeeping (mAh/cm2; conserved) --------------------------------------
    # Li layer: thickness x density / molar mass, in mol/m2 and as charge.
    t_li = design.lithium_layer.thickness_um * 1e-6 if design.lithium_layer else 0.0
    n_li = t_li * A.LITHIUM_DENSITY_G_CM3 * 1e6 / A.LITHIUM_MOLAR_MASS_G_MOL
    q_pre = n_li * _MAH_PER_MOL / _CM2_PER_M2
    q_irr = derived.irreversible_loss_mAh_cm2
    s_ch, s_lim, s_made = A.POSITIVE_STO_CHARGED, A.POSITIVE_STO_LIMIT, A.POSITIVE_STO_AS_MADE
    q_first = (s_made - s_ch) * q_pos_total  # the formation charge, = Q_pos / eta_pos
    # Formation: the positive gives q_first, the Li layer q_pre; SEI and oxide take q_irr.
    # What the host cannot hold at the top of that charge plates as metal (dead lithium).
    host = A.HOST_MAX_STOICHIOMETRY * q_neg
    plated = max(0.0, q_first + q_pre - q_irr - host)
    total = s_made * q_pos_total + q_pre - q_irr - plated  # lithium in both hosts
    floor = A.NEGATIVE_STO_FLOOR * q_neg
    # Discharged state: the positive refills up to its window, never beyond; the negative
    # keeps its floor and any rest (the reservoir).
    sto_p0 = min(s_lim, (total - floor) / q_pos_total)
    q_neg_li = total - sto_p0 * q_pos_total
    sto_n0 = q_neg_li / q_neg
    reservoir = q_neg_li - floor
    cyclable = sto_p0 * q_pos_total + reservoir - s_ch * q_pos_total
    np_ratio = q_neg / q_pos
    np_res = q_neg / (q_pos + reservoir)  # anode capacity over its lithium at top of charge
    if cyclable <= 0.05 * q_pos:
        problems.append(
            f"first-cycle lithium loss {q_irr:.3g} mAh/cm2 (film, graphite and oxide) leaves "
            f"{max(cyclable, 0.0):.3g} mAh/cm2 cyclable against a positive window of "
            f"{q_pos:.3g} mAh/cm2; needs >5 %: add a lithium layer or less oxygen"
        )
    if np_ratio < A.MIN_NP_RATIO or q_pos + floor > host:
        problems.append(
            f"N/P {np_ratio:.3g} (negative {q_neg:.3g} mAh/cm2, positive {q_pos:.3g} "
            f"mAh/cm2) is below {A.MIN_NP_RATIO:g}: every charge plates lithium: plating risk"
        )
    elif plated > A.MAX_PLATED_FRACTION * q_pos:
        problems.append(
            f"the lithium layer ({q_pre:.3g} mAh/cm2) over-fills the anode: {plated:.3g} "
            f"mAh/cm2 would plate as metal beyond its free capacity at top of charge "
            f"(limit {A.MAX_PLATED_FRACTION:g} x positive {q_pos:.3g} mAh/cm2): plating risk"
        )
    if problems:
        raise InfeasibleDesignError(problems)
    # Harm of plated lithium: faster SEI growth (loss of lithium) and faster loss of active
    # material (dead lithium and its SEI clog pores and isolate particles).
    harm_sei = 1.0 + A.PLATED_LITHIUM_SEI_FACTOR * plated / q_pos
    harm_lam = 1.0 + A.PLATED_LITHIUM_LAM_FACTOR * plated / q_pos
    d_sol *= harm_sei
    d_sol_gr = A.GRAPHITE_SEI_SOLVENT_DIFFUSIVITY_M2_S * harm_sei
    lam_rel *= harm_lam
    lam_gr = A.GRAPHITE_LAM_RATE_PER_FRACTION_S * harm_lam
    # The first discharge is at most the positive's window and at most the cyclable lithium.
    fce_max = min((s_lim - s_ch) * q_pos_total, cyclable) / q_first

    swollen = t_c * (1.0 + graphite.volume_expansion) + t_a * (1.0 + beta)
    as_built = t_c + t_a + t_li
    anode = max(swollen, as_built)
    stack = (
        A.NEGATIVE_COLLECTOR_THICKNESS_M + anode + A.SEPARATOR_THICKNESS_M + l_pos
        + A.POSITIVE_COLLECTOR_THICKNESS_M
    )
    mass = derived.anode_mass_mg_cm2 * 1e-3
    return CellModelInputs(
        formula=formula,
        carbon_thickness_m=t_c,
        carbon_solid_fraction=solid_c,
        alloy_thickness_m=t_a,
        alloy_relative_density=rho,
        alloy_amorphous=amorphous,
        alloy_max_concentration_mol_m3=cmax_a,
        alloy_volume_expansion=beta,
        alloy_mean_potential_V=potential,
        alloy_diffusivity_m2_s=physics.diffusivity_m2_s,
        alloy_young_modulus_Pa=physics.young_modulus_Pa,
        alloy_critical_stress_Pa=A.ALLOY_CRITICAL_STRESS_PA * physics.fracture_strength_factor,
        alloy_critical_size_factor=physics.critical_size_factor,
        alloy_effective_expansion=beta_eff,
        alloy_ocp_plateau_weight=physics.ocp_plateau_weight,
        alloy_ocp_steps=physics.ocp_steps,
        alloy_critical_thickness_m=h_c,
        alloy_damage_multiplier=damage,
        alloy_lam_rate_per_fraction_s=lam_rel,
        alloy_sei_solvent_diffusivity_m2_s=d_sol,
        graphite_max_concentration_mol_m3=graphite.max_concentration_mol_m3,
        positive_max_concentration_mol_m3=cmax_p,
        positive_thickness_m=l_pos,
        positive_initial_stoichiometry=sto_p0,
        negative_initial_stoichiometry=sto_n0,
        alloy_capacity_mAh_cm2=q_a,
        carbon_capacity_mAh_cm2=q_c,
        negative_capacity_mAh_cm2=q_neg,
        positive_capacity_mAh_cm2=q_pos,
        lithium_layer_mAh_cm2=q_pre,
        lithium_layer_mol_m2=n_li,
        irreversible_loss_mAh_cm2=q_irr,
        positive_first_charge_mAh_cm2=q_first,
        positive_own_loss_mAh_cm2=q_first - q_pos,
        plated_lithium_mAh_cm2=plated,
        lithium_reservoir_mAh_cm2=reservoir,
        cyclable_lithium_mAh_cm2=cyclable,
        positive_lithium_mAh_cm2=sto_p0 * q_pos_total,
        negative_lithium_mAh_cm2=q_neg_li,
        graphite_sei_solvent_diffusivity_m2_s=d_sol_gr,
        graphite_lam_rate_per_fraction_s=lam_gr,
        first_cycle_efficiency_max=fce_max,
        np_ratio=np_ratio,
        np_ratio_with_reservoir=np_res,
        anode_active_mass_g_cm2=mass,
        anode_theoretical_capacity_mAh_g=q_neg / mass if mass > 0 else 0.0,
        swollen_anode_thickness_m=anode,
        stack_thickness_m=stack,
        nominal_capacity_Ah=q_pos * A.ELECTRODE_AREA_M2 * _CM2_PER_M2 / 1000.0,
    )


def to_pybamm_inputs(cmi: CellModelInputs) -> dict[str, float]:
    """Return the ``inputs`` of the built simulation for one cell (thickness via ε·t/L_ref)."""
    l_ref = A.NEGATIVE_MESH_THICKNESS_M
    floor = A.VOLUME_FRACTION_FLOOR
    eps_gr = max(floor, cmi.carbon_solid_fraction * cmi.carbon_thickness_m / l_ref)
    eps_al = max(floor, cmi.alloy_relative_density * cmi.alloy_thickness_m / l_ref)
    eps_pos = A.POSITIVE_SOLID_FRACTION * cmi.positive_thickness_m / A.POSITIVE_MESH_THICKNESS_M
    # Without an alloy layer the floor phase carries 1 % of Si's c_max so it stores ~nothing.
    cmax_al = cmi.alloy_max_concentration_mol_m3 * (1.0 if cmi.alloy_thickness_m > 0 else 0.01)
    # The negative's lithium spread over both meshed phases, placeholder phases included, so
    # the simulation holds exactly the bookkeeping's lithium (conservation).
    cap_n = (eps_gr * cmi.graphite_max_concentration_mol_m3 + eps_al * cmax_al) * l_ref
    sto_n = cmi.negative_lithium_mAh_cm2 * _CM2_PER_M2 / _MAH_PER_MOL / cap_n
    return {
        _EPS_GR: eps_gr,
        _EPS_AL: eps_al,
        _EPS_POS: eps_pos,
        _C0_GR: sto_n * cmi.graphite_max_concentration_mol_m3,
        _C0_AL: sto_n * cmax_al,
        _C0_POS: cmi.positive_initial_stoichiometry * cmi.positive_max_concentration_mol_m3,
        _CMAX_AL: cmax_al,
        _LAM_GR: cmi.graphite_lam_rate_per_fraction_s * eps_gr,
        _LAM_AL: cmi.alloy_lam_rate_per_fraction_s * eps_al,
        _DSOL_AL: cmi.alloy_sei_solvent_diffusivity_m2_s,
        _DSOL_GR: cmi.graphite_sei_solvent_diffusivity_m2_s,
        _NOMINAL: cmi.nominal_capacity_Ah,
        _EXPANSION: cmi.alloy_volume_expansion,
        _OCP_SHIFT: cmi.alloy_mean_potential_V - A.SI_OCP_REFERENCE_POTENTIAL_V,
        _D_AL: cmi.alloy_diffusivity_m2_s,
        _SIGMA_AL: cmi.alloy_critical_stress_Pa,
        _E_AL: cmi.alloy_young_modulus_Pa,
        _OCP_PLATEAU: cmi.alloy_ocp_plateau_weight,
        **{
            name: value
            for (n_sto, n_h), (sto, h) in zip(_OCP_STEPS, cmi.alloy_ocp_steps, strict=True)
            for name, value in ((n_sto, sto), (n_h, h))
        },
    }


def validate_inputs(inputs: dict[str, float]) -> list[str]:
    """Check the PyBaMM inputs before solving (pybamm-findings.md section 5); return problems."""
    problems = []
    for name, value in inputs.items():
        if not math.isfinite(value):
            problems.append(f"input {name!r} is {value!r}; must be finite")
    for name in (_EPS_GR, _EPS_AL, _EPS_POS):
        v = inputs[name]
        if not 0.0 < v <= 1.0:
            problems.append(f"{name} = {v:.4g} on the fixed mesh; must be in (0, 1]")
    if inputs[_EPS_GR] + inputs[_EPS_AL] > 1.0:
        problems.append(
            f"negative solid fractions sum to {inputs[_EPS_GR] + inputs[_EPS_AL]:.4g} > 1 "
            "on the fixed mesh: anode too thick"
        )
    sto_n = inputs[_C0_AL] / inputs[_CMAX_AL]
    if not 0.0 < sto_n <= A.NEGATIVE_STO_MAX:
        problems.append(
            f"initial negative stoichiometry {sto_n:.4g} outside (0, {A.NEGATIVE_STO_MAX:g}]: "
            "too much lithium for the anode (plating risk)"
        )
    if inputs[_NOMINAL] <= 0.0:
        problems.append(f"nominal capacity {inputs[_NOMINAL]:.4g} Ah must be > 0")
    return problems


# --- The model --------------------------------------------------------------------------------


def model_options() -> dict[str, Any]:
    """Return the PyBaMM model options (pybamm-findings.md section 6)."""
    return {
        "particle phases": ("2", "1"),
        "SEI": "solvent-diffusion limited",
        "particle mechanics": ("swelling only", "none"),
        "loss of active material": ("stress-driven", "none"),
    }


def var_pts(coarse: bool) -> dict[str, int] | None:
    """Return the coarse mesh (2.4x faster, findings section 2), or None for PyBaMM's default."""
    if not coarse:
        return None
    return {"x_n": 8, "x_s": 5, "x_p": 8, "r_n": 10, "r_n_prim": 10, "r_n_sec": 10, "r_p": 10}


def build_parameter_values(parameter_set: str = "Chen2020_composite") -> Any:
    """Return the ParameterValues of the built model, with every design quantity an input."""
    import pybamm

    pv = pybamm.ParameterValues(parameter_set)
    try:
        si_ocp = pv[_S + "Negative electrode OCP [V]"]
    except KeyError as exc:
        raise InfeasibleDesignError(
            [f"parameter set {parameter_set!r} has no two-phase negative electrode ({exc})"]
        ) from None
    okane = pybamm.ParameterValues("OKane2022")

    ocp_pos = pv[_POS_OCP]
    s_lim = A.POSITIVE_STO_LIMIT
    width = A.POSITIVE_RELITHIATION_WALL_WIDTH
    slope = A.POSITIVE_RELITHIATION_WALL_SLOPE_V

    s_lim_ch = A.POSITIVE_STO_LIMIT_CHARGED
    width_ch = A.POSITIVE_CHARGE_WALL_WIDTH

    def positive_ocp(sto: Any) -> Any:
        # The relithiation limit (the positive's own first-cycle loss): a steep smooth wall.
        wall = slope * width * pybamm.log(1.0 + pybamm.exp((sto - s_lim) / width))
        # The upper potential limit (4.3 V vs Li): a steep smooth rise below s_lim_ch.
        wall_ch = slope * width_ch * pybamm.log(1.0 + pybamm.exp((s_lim_ch - sto) / width_ch))
        return ocp_pos(sto) - wall + wall_ch

    ref = A.SI_OCP_REFERENCE_POTENTIAL_V
    step_width = A.ALLOY_OCP_STEP_WIDTH

    def alloy_ocp(sto: Any) -> Any:
        # U = V_mean + (1 - f)(U_Si - 0.4) + f (S(sto) + steep ends), S a zero-mean staircase
        # of the element's two-phase plateaus (assumptions: per-element OCP).
        f = pybamm.InputParameter(_OCP_PLATEAU)
        staircase = sum(
            pybamm.InputParameter(n_h)
            * (pybamm.sigmoid(sto, pybamm.InputParameter(n_sto), 1.0 / step_width)
               - pybamm.InputParameter(n_sto))
            for n_sto, n_h in _OCP_STEPS
        )
        ends = 1e-4 * (1.0 / sto + 1.0 / (sto - 1.0))
        return (
            ref + pybamm.InputParameter(_OCP_SHIFT) + (1.0 - f) * (si_ocp(sto) - ref)
            + f * (staircase + ends)
        )

    def alloy_volume_change(sto: Any) -> Any:
        return pybamm.InputParameter(_EXPANSION) * sto

    def alloy_young_modulus(sto: Any, T: Any) -> Any:
        return pybamm.InputParameter(_E_AL) * (1.0 - A.ALLOY_MODULUS_SOFTENING * sto)

    update: dict[str, Any] = {
        _P + "Negative electrode Poisson's ratio": A.GRAPHITE_POISSON_RATIO,
        _P + "Negative electrode Young's modulus [Pa]": A.GRAPHITE_YOUNG_MODULUS_PA,
        _P + "Negative electrode partial molar volume [m3.mol-1]": (
            A.GRAPHITE_PARTIAL_MOLAR_VOLUME_M3_MOL
        ),
        _P + "Negative electrode reference concentration for free of deformation [mol.m-3]": 0.0,
        _P + "Negative electrode volume change": okane["Negative electrode volume change"],
        _P + "Negative electrode LAM constant exponential term": A.LAM_EXPONENT,
        _P + "Negative electrode critical stress [Pa]": A.GRAPHITE_CRITICAL_STRESS_PA,
        _S + "Negative electrode Poisson's ratio": A.ALLOY_POISSON_RATIO,
        _S + "Negative electrode Young's modulus [Pa]": alloy_young_modulus,
        _S + "Negative electrode partial molar volume [m3.mol-1]": (
            LI_PARTIAL_MOLAR_VOLUME_CM3_MOL * 1e-6
        ),
        _S + "Negative electrode reference concentration for free of deformation [mol.m-3]": 0.0,
        _S + "Negative electrode volume change": alloy_volume_change,
        _S + "Negative electrode LAM constant exponential term": A.LAM_EXPONENT,
        _S + "Negative electrode OCP [V]": alloy_ocp,
        _CMAX_GR: graphite_properties().max_concentration_mol_m3,
        _POS_OCP: positive_ocp,
        "Negative electrode thickness [m]": A.NEGATIVE_MESH_THICKNESS_M,
        "Positive electrode thickness [m]": A.POSITIVE_MESH_THICKNESS_M,
    }
    for key in (
        "Positive electrode partial molar volume [m3.mol-1]",
        "Positive electrode Young's modulus [Pa]",
        "Positive electrode Poisson's ratio",
        "Positive electrode reference concentration for free of deformation [mol.m-3]",
        "Positive electrode volume change",
    ):
        update[key] = okane[key]
    for name in INPUT_NAMES:
        update[name] = "[input]"
    pv.update(update, check_already_exists=False)
    return pv
