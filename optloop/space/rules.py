"""Feasibility rules: what can be made, and what the campaign allows.

Three kinds of rule are in force. *Physical* rules say what deposition and cell balance allow
whatever the config (alloy-anode-physics.md §5, §6, §9); *space* rules say what this
campaign's config admits (elements, counts, bounds, layer modes); *lab* rules say what the
lab that builds the cells can make (``space.lab_rules``: bounds on any design field or
derived property, stated in the config). A design that breaks any
rule is refused with every broken rule named; it is never silently repaired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optloop.config.models import (
    DERIVED_QUANTITIES,
    Bounds,
    DesignSpaceConfig,
    LabRule,
    LayerMode,
    rule_quantity_names,
)
from optloop.materials.claim_metals import ALLOYING_METALS, NON_ALLOYING_METALS
from optloop.space.derived import MAX_PLATED_FRACTION, derive
from optloop.space.design import AlloyLayer, Design

__all__ = [
    "CVD_ELEMENTS",
    "GLASS_FORMERS",
    "LOW_MELTING",
    "PLATING_INFEASIBLE",
    "RULES",
    "Rule",
    "Violation",
    "check_design",
    "design_quantities",
    "lab_rule_violation",
    "rule_quantity_names",
]

#: Metals whose reduction potential lies far below hydrogen evolution: no aqueous plating.
PLATING_INFEASIBLE = frozenset({"Si", "Ge", "Al", "Ti", "Ta", "B"})
#: W plates only by induced co-deposition with an iron-group metal (Gileadi & Eliaz 2007).
W_INDUCERS = frozenset({"Fe", "Co", "Ni"})
#: Elements with practical CVD precursors: SiH4, GeH4, WF6, TiCl4, B2H6 (§5), plus metal
#: carbonyls / organometallics for Ni, Co, Fe, Cr, Cu, Al, Ta. Sn ends as SnO2 (oxides only).
CVD_ELEMENTS = frozenset({"Si", "Ge", "W", "Ti", "B", "Ni", "Co", "Fe", "Cr", "Cu", "Al", "Ta"})
#: Low-melting metals that crystallise even at room temperature when deposited alone.
LOW_MELTING = frozenset({"Sn", "Al", "In", "Pb", "Cd"})
#: Transition metals that, co-deposited at >= 20 at.%, keep alloy films amorphous (§9 step 1).
GLASS_FORMERS = frozenset({"Cu", "Fe", "Ni", "Ti", "Ta", "W", "Cr", "Co"})
GLASS_FORMER_MIN_FRACTION = 0.2
#: Highest substrate temperature at which Si / Ge films deposit amorphous (§5, §9 step 1).
AMORPHOUS_T_MAX_C = {"sputtering": 400.0, "vapour_deposition": 400.0, "cvd": 580.0}
#: Lowest positive loading a balanced cell can have, mAh/cm^2 (below it the Li layer alone
#: would over-fill the anode: plating hazard).
MIN_POSITIVE_LOADING = 0.1
#: Smallest share of the positive's capacity that must stay cyclable after the first cycle.
MIN_CYCLABLE_FRACTION = 0.05


@dataclass(frozen=True)
class Violation:
    """One broken rule and why."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass(frozen=True)
class Rule:
    """A named feasibility rule."""

    name: str
    kind: str  # "physical" or "space"
    description: str
    check: Callable[[Design, DesignSpaceConfig], list[str]]


def _plating(d: Design, _: DesignSpaceConfig) -> list[str]:
    layer = d.alloy_layer
    if layer is None or layer.method != "plating":
        return []
    out = []
    bad = sorted(set(layer.composition) & PLATING_INFEASIBLE)
    if bad:
        out.append(
            f"aqueous plating cannot deposit {bad}: their reduction potentials lie far below "
            "hydrogen evolution"
        )
    if "W" in layer.composition and not set(layer.composition) & W_INDUCERS:
        out.append("W plates only co-deposited with Fe, Co or Ni (induced co-deposition)")
    return out


def _cvd(d: Design, _: DesignSpaceConfig) -> list[str]:
    layer = d.alloy_layer
    if layer is None or layer.method != "cvd":
        return []
    out = []
    bad = sorted(set(layer.composition) - CVD_ELEMENTS - {"Sn"})
    if bad:
        out.append(f"no practical CVD precursor for {bad}; CVD deposits {sorted(CVD_ELEMENTS)}")
    if "Sn" in layer.composition and layer.oxygen_ratio == 0:
        out.append("CVD of Sn yields SnO2: Sn by CVD needs oxygen_ratio > 0")
    return out


def amorphous_blocker(layer: AlloyLayer) -> str | None:
    """Return why the layer cannot be amorphous as deposited, or None if it can."""
    glass = sum(x for s, x in layer.composition.items() if s in GLASS_FORMERS)
    if glass >= GLASS_FORMER_MIN_FRACTION:
        return None
    alloying = set(layer.alloying)
    if not alloying & {"Si", "Ge"}:
        low = sorted(alloying & LOW_MELTING)
        what = f"low-melting {low}" if low else f"{sorted(alloying)}"
        return (
            f"{what} without >= {GLASS_FORMER_MIN_FRACTION:g} atomic fraction of a transition "
            f"metal (have {glass:.3g}) crystallise on deposition"
        )
    if layer.method == "plating":
        return "plated films are crystalline unless co-deposited with >= 0.2 of a glass former"
    t_max = AMORPHOUS_T_MAX_C[layer.method]
    t = layer.conditions["substrate_temperature_C"]
    if t >= t_max:
        return (
            f"Si/Ge films by {layer.method} crystallise at substrate_temperature_C = {t:g}; "
            f"amorphous needs < {t_max:g} degC"
        )
    return None


def _amorphous(d: Design, _: DesignSpaceConfig) -> list[str]:
    layer = d.alloy_layer
    if layer is None or layer.structure != "amorphous":
        return []
    why = amorphous_blocker(layer)
    return [f"structure 'amorphous' is not reachable: {why}"] if why else []


def _active(d: Design, _: DesignSpaceConfig) -> list[str]:
    if d.alloy_layer is None:
        return []
    p = derive(d)
    if p.alloy is not None and p.alloy.specific_capacity_mAh_g <= 0.0:
        return [
            f"alloy {p.alloy.formula} stores no lithium: its silicide / intermetallic formers "
            "bind all of the Li-alloying metal (e.g. 2 Si per Ni in NiSi2); lower the "
            "non-alloying fraction"
        ]
    return []


def _balance(d: Design, space: DesignSpaceConfig) -> list[str]:
    # Messages name only what the design has: no "lithium layer" on a design without one.
    p = derive(d)
    li = d.lithium_layer is not None
    out = []
    if p.positive_loading_mAh_cm2 < MIN_POSITIVE_LOADING:
        given = d.cell.positive_loading_mAh_cm2 is not None
        head = (
            f"positive_loading_mAh_cm2 = {p.positive_loading_mAh_cm2:.3g} mAh/cm^2"
            if given
            else f"positive loading would be {p.positive_loading_mAh_cm2:.3g} mAh/cm^2"
        )
        if given:
            why = ": too little to cycle a measurable cell"
        else:
            why = (
                f": the anode's {p.negative_areal_capacity_mAh_cm2:.3g} mAh/cm^2 at "
                f"np_ratio = {d.cell.np_ratio:g} leaves too little to cycle"
            )
        out.append(f"{head} (limit >= {MIN_POSITIVE_LOADING} mAh/cm^2){why}")
    elif p.positive_cyclable_fraction <= MIN_CYCLABLE_FRACTION:
        sources = [
            name
            for name, present in (
                ("films", d.alloy_layer is not None),
                ("graphite", d.carbon_layer is not None),
                ("oxide", d.alloy_layer is not None and d.alloy_layer.oxygen_ratio > 0),
            )
            if present
        ]
        credit = (
            f" less the lithium layer's {p.lithium_areal_capacity_mAh_cm2:.3g}" if li else ""
        )
        fix = "more lithium in the lithium layer" if li else "add a lithium layer"
        if d.alloy_layer is not None and d.alloy_layer.oxygen_ratio > 0:
            fix += " or less oxygen"
        out.append(
            f"first-cycle lithium loss {p.irreversible_loss_mAh_cm2:.3g} mAh/cm^2 "
            f"({', '.join(sources)}){credit} leaves "
            f"{100 * p.positive_cyclable_fraction:.3g} % of the positive's "
            f"{p.positive_loading_mAh_cm2:.3g} mAh/cm^2 cyclable (limit > "
            f"{100 * MIN_CYCLABLE_FRACTION:g} %): {fix}"
        )
    if li and p.plated_lithium_mAh_cm2 > MAX_PLATED_FRACTION * p.positive_loading_mAh_cm2:
        out.append(
            f"the lithium layer's {p.lithium_areal_capacity_mAh_cm2:.3g} mAh/cm^2 over-fills "
            f"the anode: {p.plated_lithium_mAh_cm2:.3g} mAh/cm^2 would plate as metal beyond "
            f"its free capacity at top of charge (limit {MAX_PLATED_FRACTION:g} x the "
            f"positive's {p.positive_loading_mAh_cm2:.3g} mAh/cm^2): plating hazard"
        )
    if d.cell.positive_loading_mAh_cm2 is not None and p.np_ratio < space.cell.min_np_ratio:
        out.append(
            f"N/P = {p.np_ratio:.3g} is below min_np_ratio = {space.cell.min_np_ratio:g} "
            f"(negative {p.negative_areal_capacity_mAh_cm2:.3g} mAh/cm^2 against positive "
            f"{p.positive_loading_mAh_cm2:.3g})"
        )
    return out


def _bound(name: str, value: float, b: Bounds, unit: str = "") -> list[str]:
    if b.contains(value):
        return []
    return [f"{name} = {value:g}{' ' + unit if unit else ''} is outside {b}"]


def _alloy_in_space(d: Design, space: DesignSpaceConfig) -> list[str]:
    layer, cfg = d.alloy_layer, space.alloy_layer
    if layer is None:
        return ["the campaign's designs need an alloy layer"]
    out = []
    alloying, inactive = layer.alloying, layer.non_alloying
    bad = sorted(set(alloying) - set(cfg.alloying_elements))
    bad += sorted(set(inactive) - set(cfg.non_alloying_elements))
    if bad:
        allowed = cfg.alloying_elements + cfg.non_alloying_elements
        out.append(f"elements {bad} are not allowed in this campaign (allowed: {allowed})")
    if len(alloying) > cfg.max_alloying_elements:
        out.append(
            f"{len(alloying)} alloying metals {sorted(alloying)}; "
            f"max_alloying_elements = {cfg.max_alloying_elements}"
        )
    if len(inactive) > cfg.max_non_alloying_elements:
        out.append(
            f"{len(inactive)} non-alloying metals {sorted(inactive)}; "
            f"max_non_alloying_elements = {cfg.max_non_alloying_elements}"
        )
    small = {s: x for s, x in layer.composition.items() if x < cfg.min_element_fraction - 1e-9}
    if small:
        out.append(
            f"fractions {small} are below min_element_fraction = {cfg.min_element_fraction}"
        )
    out += _bound("non-alloying fraction", sum(inactive.values()), cfg.non_alloying_fraction)
    if cfg.oxygen_ratio is None:
        if layer.oxygen_ratio > 0:
            out.append(f"oxygen_ratio = {layer.oxygen_ratio:g} but this campaign allows no oxides")
    else:
        out += _bound("oxygen_ratio", layer.oxygen_ratio, cfg.oxygen_ratio)
    out += _bound("alloy thickness_um", layer.thickness_um, cfg.thickness_um, "um")
    if layer.structure not in cfg.structures:
        out.append(f"structure {layer.structure!r} not allowed (allowed: {cfg.structures})")
    if layer.method not in cfg.methods:
        out.append(f"method {layer.method!r} not allowed (allowed: {sorted(cfg.methods)})")
    else:
        for name, b in cfg.methods[layer.method].items():
            out += _bound(f"{layer.method}.{name}", layer.conditions[name], b)
    return out


def _layer_mode(name: str, present: bool, mode: LayerMode) -> list[str]:
    if mode == "required" and not present:
        return [f"{name} is required in this campaign"]
    if mode == "absent" and present:
        return [f"{name} is excluded in this campaign (mode: absent)"]
    return []


def _layers_in_space(d: Design, space: DesignSpaceConfig) -> list[str]:
    out = _layer_mode("carbon_layer", d.carbon_layer is not None, space.carbon_layer.mode)
    if d.carbon_layer is not None:
        out += _bound(
            "carbon thickness_um",
            d.carbon_layer.thickness_um,
            space.carbon_layer.thickness_um,
            "um",
        )
        out += _bound("carbon porosity", d.carbon_layer.porosity, space.carbon_layer.porosity)
    out += _layer_mode("lithium_layer", d.lithium_layer is not None, space.lithium_layer.mode)
    if d.lithium_layer is not None:
        out += _bound(
            "lithium thickness_um",
            d.lithium_layer.thickness_um,
            space.lithium_layer.thickness_um,
            "um",
        )
    return out


def _cell_in_space(d: Design, space: DesignSpaceConfig) -> list[str]:
    cell, cfg = d.cell, space.cell
    out = []
    if cell.positive_electrode not in cfg.positive_electrodes:
        out.append(
            f"positive electrode {cell.positive_electrode!r} not allowed "
            f"(allowed: {cfg.positive_electrodes})"
        )
    if cfg.np_ratio is not None:
        if cell.np_ratio is None:
            out.append("this campaign balances cells by np_ratio; the design gives a loading")
        else:
            out += _bound("np_ratio", cell.np_ratio, cfg.np_ratio)
    elif cfg.positive_loading_mAh_cm2 is not None:
        if cell.positive_loading_mAh_cm2 is None:
            out.append(
                "this campaign fixes positive_loading_mAh_cm2; the design gives an np_ratio"
            )
        else:
            out += _bound(
                "positive_loading_mAh_cm2",
                cell.positive_loading_mAh_cm2,
                cfg.positive_loading_mAh_cm2,
                "mAh/cm^2",
            )
    return out


_LAYERS = ("alloy_layer", "carbon_layer", "lithium_layer")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def design_quantities(design: Design) -> dict[str, Any]:
    """Return every quantity a lab rule may name, for one design.

    Design fields are dotted (``alloy_layer.conditions.pressure_Pa``); an element the film
    lacks has fraction 0; a field of an absent layer is missing (rules on it do not apply).
    Layer names map to ``"present"`` / ``"absent"``. Derived properties are added by name.
    """
    out: dict[str, Any] = {}
    data = design.to_dict()
    for layer in _LAYERS:
        out[layer] = "absent" if data.get(layer) is None else "present"
    _flatten("", {k: v for k, v in data.items() if v is not None}, out)
    if design.alloy_layer is not None:
        for s in (*ALLOYING_METALS, *NON_ALLOYING_METALS):
            out.setdefault(f"alloy_layer.composition.{s}", 0.0)
    derived = derive(design)
    for name in DERIVED_QUANTITIES:
        out[name] = getattr(derived, name)
    return out


def _matches(value: Any, wanted: Any) -> bool:
    options = wanted if isinstance(wanted, list) else [wanted]
    for w in options:
        if isinstance(w, str) or isinstance(value, str):
            if str(value) == str(w):
                return True
        elif isinstance(value, int | float) and abs(float(value) - float(w)) <= 1e-9 * max(
            1.0, abs(float(w))
        ):
            return True
    return False


def lab_rule_violation(rule: LabRule, q: dict[str, Any]) -> str | None:
    """Return why a design (its :func:`design_quantities`) breaks a lab rule, or None."""
    for key, wanted in rule.when.items():
        if key not in q or not _matches(q[key], wanted):
            return None
    if rule.quantity not in q or q[rule.quantity] is None:
        return None  # the layer or field is absent: nothing to build, nothing to refuse
    value = q[rule.quantity]
    shown = f"{value:.4g}" if isinstance(value, float) else repr(value)
    if rule.one_of is not None and not _matches(value, list(rule.one_of)):
        return (
            f"{rule.name}: {rule.quantity} = {shown}; allowed: {list(rule.one_of)} "
            f"({rule.reason})"
        )
    if isinstance(value, int | float):
        v = float(value)
        if rule.min is not None and v < rule.min - 1e-9 * max(1.0, abs(rule.min)):
            return f"{rule.name}: {rule.quantity} = {shown}; limit >= {rule.min:g} ({rule.reason})"
        if rule.max is not None and v > rule.max + 1e-9 * max(1.0, abs(rule.max)):
            return f"{rule.name}: {rule.quantity} = {shown}; limit <= {rule.max:g} ({rule.reason})"
    return None


def _lab(d: Design, space: DesignSpaceConfig) -> list[str]:
    if not space.lab_rules:
        return []
    q = design_quantities(d)
    return [m for r in space.lab_rules if (m := lab_rule_violation(r, q)) is not None]


RULES: tuple[Rule, ...] = (
    Rule(
        "plating_elements",
        "physical",
        "aqueous plating cannot deposit Si, Ge, Al, Ti, Ta, B; W only with Fe, Co or Ni",
        _plating,
    ),
    Rule(
        "cvd_precursors",
        "physical",
        "CVD needs a precursor: Si, Ge, W, Ti, B, Ni, Co, Fe, Cr, Cu, Al, Ta; Sn only as oxide",
        _cvd,
    ),
    Rule(
        "amorphous_reachable",
        "physical",
        "amorphous needs Si/Ge below the crystallisation temperature (sputter/evaporate "
        "< 400 degC, CVD < 580 degC) or >= 0.2 of a transition metal; low-melting Sn, Al, In, "
        "Pb, Cd alone crystallise",
        _amorphous,
    ),
    Rule(
        "alloy_stores_lithium",
        "physical",
        "the alloy keeps some Li-alloying metal free of silicides / intermetallics",
        _active,
    ),
    Rule(
        "cell_balance",
        "physical",
        "N/P >= min_np_ratio, a positive loading >= 0.1 mAh/cm^2 after the Li layer's excess, "
        "> 5 % of the positive cyclable after the first-cycle loss",
        _balance,
    ),
    Rule(
        "alloy_in_space",
        "space",
        "alloy elements, counts, fractions, oxygen, thickness, structure, method and "
        "conditions within the config",
        _alloy_in_space,
    ),
    Rule(
        "layers_in_space",
        "space",
        "carbon and lithium layers present as the config's modes say, within bounds",
        _layers_in_space,
    ),
    Rule(
        "cell_in_space",
        "space",
        "positive electrode and balance (N/P or loading) within the config",
        _cell_in_space,
    ),
    Rule(
        "lab_rules",
        "lab",
        "what the lab can build, as stated in the config (space.lab_rules)",
        _lab,
    ),
)


def check_design(design: Design, space: DesignSpaceConfig) -> list[Violation]:
    """Return every rule the design breaks in this space (empty when feasible)."""
    out: list[Violation] = []
    for rule in RULES:
        out += [Violation(rule.name, m) for m in rule.check(design, space)]
    return out
