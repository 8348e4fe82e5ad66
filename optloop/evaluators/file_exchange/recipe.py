"""The job ticket: a design as a build recipe and a cycling protocol in a technician's units.

A ticket says what to build (each layer from the current collector outwards, with the
deposition conditions and the expected areal mass and capacity), how to cycle it (C-rates and
the currents they mean for this cell, in mA), and what to send back. The expected numbers are
the design's theoretical values (:func:`optloop.space.derive`), for the technician's sanity
checks; the objectives are computed from the data the lab returns, never from these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optloop.data.bdf import (
    CHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    DISCHARGE_CAPACITY,
    STEP,
    TEST_TIME,
    VOLTAGE,
)
from optloop.evaluators.file_exchange.build import (
    DEFAULT_STANDARD_BUILD,
    StandardBuild,
    Tolerances,
    unit_text,
)
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.materials import (
    alloy_properties,
    element_data,
    graphite_properties,
    lithium_properties,
)
from optloop.space import Design, derive
from optloop.space.derived import film_relative_density
from optloop.vocabulary import PROCESS_CONDITIONS

__all__ = [
    "DATA_SUFFIXES",
    "METADATA_SUFFIX",
    "OPTIONAL_METADATA_KEYS",
    "REQUIRED_METADATA_KEYS",
    "TICKET_FORMAT",
    "TICKET_FORMAT_VERSION",
    "CELL_ID_INSTRUCTION",
    "as_built_targets",
    "build_recipe",
    "build_ticket",
    "check_as_built",
    "composition_wt_percent",
    "render_ticket_markdown",
]

TICKET_FORMAT = "optloop.file_exchange.ticket"
TICKET_FORMAT_VERSION = 2
#: What a ticket asks of its cell id.
CELL_ID_INSTRUCTION = "label the cell with this id and write it as cell_id"
#: Names a data file may end in, longest first (``x.bdf.csv.gz`` before ``x.bdf``).
DATA_SUFFIXES: tuple[str, ...] = (".bdf.csv.gz", ".bdf.parquet", ".bdf.csv", ".bdf.gz", ".bdf")
#: The metadata file ``<stem>.bdf.metadata.json`` is the completion sentinel of its data file.
METADATA_SUFFIX = ".bdf.metadata.json"
REQUIRED_METADATA_KEYS: dict[str, str] = {
    "trial_id": "the ticket's trial_id",
    "cell_id": "the cell id printed on the ticket (C-...), written on the cell's label; a lab's "
    "own label is accepted but cannot be checked",
    "final": "true when the test is over, false for partial data of a running test",
}
OPTIONAL_METADATA_KEYS: dict[str, str] = {
    "status": "'failed' or 'lost' when the cell could not be tested (then a data file is "
    "optional and 'reason' is required)",
    "reason": "why the cell failed or was lost",
    "electrode_area_cm2": "negative-electrode area of this cell, if not the campaign's default",
    "stack_thickness_um": "full-cell stack thickness, for the volumetric energy density",
    "data_file": "name of the data file in inbox/ (default: the file with the same stem)",
    "operator": "who ran the test",
    "channel": "cycler channel",
    "notes": "anything a scientist should know",
    "reviewed": "who checked a result held for review, and why it is right (then it is "
    "recorded as it is)",
    "as_built": "the values measured on the cell as built, under the ticket's as_built keys "
    "(e.g. {\"film_thickness_nm\": 212, \"positive_loading_mAh_cm2\": 1.02})",
}

_UM_TO_CM = 1e-4
_G_TO_MG = 1e3


def _r(x: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits (tickets are for people, not for the metrics)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{digits}g}")


def composition_wt_percent(
    composition: Mapping[str, float], oxygen_ratio: float = 0.0
) -> dict[str, float]:
    """Convert atomic fractions of the metals (plus O per metal atom) to weight percent.

    Atomic masses come from pymatgen (:func:`optloop.materials.element_data`).

    Args:
        composition: ``{metal: atomic fraction}``, summing to 1.
        oxygen_ratio: O atoms per metal atom (0 for an alloy).

    Returns:
        ``{element: wt.%}`` over the metals and, for an oxide, ``"O"``; summing to 100.
    """
    masses = {s: x * element_data(s).atomic_mass_g_mol for s, x in composition.items()}
    if oxygen_ratio > 0:
        masses["O"] = oxygen_ratio * element_data("O").atomic_mass_g_mol
    total = sum(masses.values())
    return {s: _r(100.0 * m / total) for s, m in masses.items()}


def _thickness(um: float, tol_percent: float) -> dict[str, float]:
    return {
        "thickness_um": _r(um),
        "thickness_nm": _r(um * 1000.0),
        "thickness_tolerance_percent": _r(tol_percent),
    }


def _build_of(options: FileExchangeOptions) -> StandardBuild:
    return options.standard_build if options.standard_build is not None else DEFAULT_STANDARD_BUILD


def _condition_tolerance(name: str, value: float, tol: Tolerances) -> float:
    """Return the absolute tolerance of a process condition (temperatures in °C, others %)."""
    if name.endswith("_C"):
        return tol.temperature_C
    return abs(value) * tol.process_percent / 100.0


def _elemental_thickness_nm(
    composition: Mapping[str, float], oxygen_ratio: float, film_mass_mg_cm2: float
) -> dict[str, float]:
    """Return each metal's equivalent thickness: its atoms in the film as the bulk element, nm.

    A co-deposition source must deliver this much of its element, so the shares of these
    thicknesses are the sources' rate shares (elemental densities from pymatgen).
    """
    m_o = element_data("O").atomic_mass_g_mol
    m_fu = sum(x * element_data(s).atomic_mass_g_mol for s, x in composition.items())
    m_fu += oxygen_ratio * m_o
    mol_fu_cm2 = film_mass_mg_cm2 / _G_TO_MG / m_fu
    out: dict[str, float] = {}
    for s, x in composition.items():
        e = element_data(s)
        out[s] = mol_fu_cm2 * x * e.atomic_mass_g_mol / e.density_g_cm3 / _UM_TO_CM * 1000.0
    return out


def _sources(
    layer: Any, film_mass_mg_cm2: float, build: StandardBuild
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the source plan of an alloy film (one source per metal) and notes on it."""
    eq = _elemental_thickness_nm(layer.composition, layer.oxygen_ratio, film_mass_mg_cm2)
    total_eq = sum(eq.values())

    def share(s: str, source: str, purity: str | None = None) -> dict[str, Any]:
        """Return a source's entry: what it is, its element and its share of the film."""
        entry: dict[str, Any] = {"source": source, "element": s}
        if purity is not None:
            entry["purity"] = purity
        entry.update(atomic_percent=_r(100.0 * layer.composition[s]),
                     equivalent_thickness_nm=_r(eq[s]), rate_share=_r(eq[s] / total_eq))
        return entry
    ordered = sorted(eq, key=lambda s: (-layer.composition[s], s))
    film_nm = layer.thickness_um * 1000.0
    tol = build.tolerances
    cal = build.deposition
    notes: list[str] = []
    plan: list[dict[str, Any]] = []
    method = layer.method
    if method == "sputtering":
        p_design = layer.conditions["power_density_W_cm2"]
        rates = cal.sputter_rate_nm_s_per_W_cm2
        calibrated = all(s in rates for s in ordered)
        if calibrated:
            need = {s: eq[s] / rates[s] for s in ordered}  # W/cm² x s per source
            top = max(need.values())
            time_s = top / p_design
            notes.append(
                f"every target sputters for {time_s:.4g} s; powers from the lab's rate "
                "calibration (standard_build.deposition.sputter_rate_nm_s_per_W_cm2), the "
                "busiest target at the design's power density"
            )
        elif len(ordered) == 1:
            notes.append(f"one {ordered[0]} target at the design's power density")
        else:
            main = max(ordered, key=lambda s: eq[s])
            missing = [s for s in ordered if s not in rates]
            notes.append(
                f"no rate calibration for {missing}: the {main} target runs at the design's "
                f"{p_design:.4g} W/cm²; set each other target's power from your rate-vs-power "
                f"calibration so its rate is its rate share / the {main} share x the {main} "
                "rate"
            )
        for s in ordered:
            entry = share(s, f"{s} target", cal.target_purity)
            entry.update(power_density_W_cm2=None,
                         power_tolerance_percent=_r(tol.process_percent))
            if calibrated:
                entry["power_density_W_cm2"] = _r(eq[s] / rates[s] / time_s)
                entry["rate_nm_s"] = _r(eq[s] / time_s)
            elif s == max(ordered, key=lambda x: eq[x]):
                entry["power_density_W_cm2"] = _r(p_design)
            plan.append(entry)
        if len(ordered) > 1:
            notes.append(
                f"co-sputter {len(ordered)} targets at once onto a rotating substrate (or one "
                "alloy target of the composition above, if the lab has it)"
            )
    elif method == "vapour_deposition":
        rate = layer.conditions["deposition_rate_nm_s"]
        time_s = film_nm / rate
        for s in ordered:
            entry = share(s, f"{s} crucible (thermal or e-beam)", cal.target_purity)
            entry.update(rate_nm_s=_r(eq[s] / time_s),
                         rate_tolerance_percent=_r(tol.process_percent))
            plan.append(entry)
        notes.append(
            f"co-evaporate for {time_s:.4g} s; each source's rate is of its bulk element, on "
            "its own quartz monitor"
        )
    elif method == "cvd":
        for s in ordered:
            precursor = cal.cvd_precursors.get(s, f"(the lab's precursor of {s})")
            plan.append(share(s, f"precursor {precursor}"))
        notes.append(
            "set the precursor flows from the lab's calibration to reach the atomic "
            "percentages above"
        )
    else:  # plating
        for s in ordered:
            plan.append(share(s, f"{s} ions in the aqueous bath"))
        notes.append(
            "bath composition from the lab's co-deposition calibration for the atomic "
            "percentages above"
        )
    return plan, notes


def _reactive(layer: Any, build: StandardBuild) -> dict[str, Any] | None:
    """Return the reactive-gas setting of an oxide film (None for a metallic film)."""
    if layer.oxygen_ratio <= 0:
        return None
    gas = build.reactive_gas
    how = {
        "sputtering": f"reactive sputtering: {gas.gas} in the Ar working gas",
        "vapour_deposition": f"reactive evaporation in a {gas.gas} background",
        "cvd": f"co-feed {gas.gas} with the precursors",
        "plating": f"plate the metals, then anneal in {gas.gas} to reach the oxygen content",
    }[layer.method]
    p_o2 = gas.partial_pressure_Pa(layer.oxygen_ratio)
    out: dict[str, Any] = {
        "gas": gas.gas,
        "how": how,
        "target_O_per_metal": _r(layer.oxygen_ratio),
        "O_per_metal_tolerance": _r(build.tolerances.oxygen_per_metal),
        "partial_pressure_Pa": None if p_o2 is None else _r(p_o2),
        "partial_pressure_basis": (
            "interpolated in standard_build.reactive_gas.calibration"
            if p_o2 is not None
            else "no lab calibration covers this ratio: set it from your own O/M calibration"
        ),
        "verify": gas.verify,
    }
    if layer.method == "sputtering":
        out["total_pressure_Pa"] = _r(layer.conditions["pressure_Pa"])
    return out


def build_recipe(
    design: Design | Mapping[str, Any], options: FileExchangeOptions
) -> dict[str, Any]:
    """Return the build recipe of a design: layers outwards from the collector, and the cell.

    Every target carries its tolerance (``standard_build.tolerances``); every film names how
    it is made (co-deposition sources with their rate shares and powers, the reactive gas of
    an oxide, the lithium layer's method, the graphite formulation).

    Args:
        design: The design (or its dict).
        options: The evaluator's options (cell configuration, electrode area, standard build).

    Returns:
        JSON-ready ``{"current_collector", "layers", "cell"}``. Layer masses and capacities are
        per electrode area (mg/cm², mAh/cm²); cell capacities are for ``electrode_area_cm2``.

    Raises:
        DesignError: If the design dict is malformed.
        MaterialsError: If a composition has no materials data.
    """
    d = design if isinstance(design, Design) else Design.from_dict(dict(design))
    build = _build_of(options)
    tol = build.tolerances
    derived = derive(d)
    layers: list[dict[str, Any]] = []
    if d.carbon_layer is not None:
        c = d.carbon_layer
        g = graphite_properties()
        coat = build.graphite
        mass = g.density_g_cm3 * (1.0 - c.porosity) * c.thickness_um * _UM_TO_CM * _G_TO_MG
        layers.append(
            {
                "layer": "carbon",
                "material": coat.active_material,
                **_thickness(c.thickness_um, tol.thickness_percent),
                "porosity_percent": _r(100.0 * c.porosity),
                "porosity_tolerance_percent": _r(tol.porosity_percent),
                "formulation_wt_percent": dict(coat.formulation_wt_percent),
                "process": coat.process,
                "expected_areal_mass_mg_cm2": _r(mass),
                "expected_coating_mass_mg_cm2": _r(mass / coat.active_fraction),
                "coating_mass_tolerance_percent": _r(tol.thickness_percent),
                "expected_capacity_mAh_cm2": _r(derived.carbon_areal_capacity_mAh_cm2),
            }
        )
    if d.alloy_layer is not None:
        a = d.alloy_layer
        props = alloy_properties(a.composition, a.oxygen_ratio)
        rho_rel = film_relative_density(a)
        mass = props.density_g_cm3 * rho_rel * a.thickness_um * _UM_TO_CM * _G_TO_MG
        specs = PROCESS_CONDITIONS[a.method]
        # Main element first, as in the formula.
        ordered = dict(sorted(a.composition.items(), key=lambda kv: (-kv[1], kv[0])))
        sources, notes = _sources(a, mass, build)
        layers.append(
            {
                "layer": "alloy" if a.oxygen_ratio == 0 else "complex oxide",
                "material": a.formula,
                "composition_at_percent": {s: _r(100.0 * x) for s, x in ordered.items()},
                "composition_tolerance_at_percent": _r(tol.composition_at_percent),
                "oxygen_atoms_per_metal_atom": _r(a.oxygen_ratio),
                "composition_wt_percent": composition_wt_percent(ordered, a.oxygen_ratio),
                **_thickness(a.thickness_um, tol.thickness_percent),
                "structure": a.structure,
                "deposition": {
                    "method": a.method,
                    "conditions": [
                        {
                            "name": name,
                            "description": (
                                "power density of the busiest target"
                                if name == "power_density_W_cm2" and len(a.composition) > 1
                                else specs[name].description
                            ),
                            "value": _r(value),
                            "tolerance": _r(_condition_tolerance(name, value, tol)),
                            "unit": unit_text(specs[name].unit),
                        }
                        for name, value in sorted(a.conditions.items())
                    ],
                    "sources": sources,
                    "reactive_gas": _reactive(a, build),
                    "notes": notes,
                },
                "expected_relative_density": _r(rho_rel),
                "expected_areal_mass_mg_cm2": _r(mass),
                "expected_capacity_mAh_cm2": _r(derived.alloy_areal_capacity_mAh_cm2),
            }
        )
    if d.lithium_layer is not None:
        li = d.lithium_layer
        how = build.lithium_layer
        mass = lithium_properties().density_g_cm3 * li.thickness_um * _UM_TO_CM * _G_TO_MG
        dep: dict[str, Any] = {"method": how.method, "handling": how.handling}
        if how.rate_nm_s is not None and how.method != "foil_lamination":
            dep["rate_nm_s"] = _r(how.rate_nm_s)
            dep["time_s"] = _r(li.thickness_um * 1000.0 / how.rate_nm_s)
        if how.base_pressure_Pa is not None and how.method == "thermal_evaporation":
            dep["base_pressure_Pa"] = _r(how.base_pressure_Pa)
        if how.foil is not None:
            dep["foil"] = how.foil
        layers.append(
            {
                "layer": "lithium",
                "material": "lithium metal",
                **_thickness(li.thickness_um, tol.thickness_percent),
                "deposition": dep,
                "expected_areal_mass_mg_cm2": _r(mass),
                "expected_capacity_mAh_cm2": _r(derived.lithium_areal_capacity_mAh_cm2),
            }
        )
    for position, layer in enumerate(layers, start=1):
        layer["position_from_collector"] = position

    area = options.electrode_area_cm2
    half = options.cell == "half"
    nominal_mAh_cm2 = (
        derived.negative_areal_capacity_mAh_cm2 if half else derived.positive_loading_mAh_cm2
    )
    cell: dict[str, Any] = {
        "configuration": options.cell,
        "format": f"{build.cell_format.kind} cell {build.cell_format.size}",
        "stack": build.cell_format.stack,
        "assembly_atmosphere": build.cell_format.assembly_atmosphere,
        "counter_electrode": "lithium metal foil" if half else d.cell.positive_electrode,
        "electrode_area_cm2": _r(area),
        "electrode_diameter_mm": build.cell_format.electrode_diameter_mm,
        "electrolyte": build.electrolyte.name,
        "electrolyte_volume_uL": _r(build.electrolyte.volume_uL),
        "electrolyte_volume_tolerance_percent": _r(tol.electrolyte_volume_percent),
        "separator": build.separator.material,
        "separator_thickness_um": _r(build.separator.thickness_um),
        "separator_diameter_mm": build.separator.diameter_mm,
        "positive_electrode": d.cell.positive_electrode,
        "cathode_source": build.cathode.source,
        "cathode_diameter_mm": build.cathode.diameter_mm,
        "cathode_loading_rule": build.cathode.loading_rule,
        "np_ratio": _r(derived.np_ratio),
        "positive_loading_mAh_cm2": _r(derived.positive_loading_mAh_cm2),
        "positive_loading_tolerance_percent": _r(build.cathode.loading_tolerance_percent),
        "expected_negative_capacity_mAh_cm2": _r(derived.negative_areal_capacity_mAh_cm2),
        "expected_first_cycle_loss_mAh_cm2": _r(derived.irreversible_loss_mAh_cm2),
        "expected_anode_mass_mg_cm2": _r(derived.anode_mass_mg_cm2),
        "expected_anode_thickness_um": _r(derived.anode_thickness_um),
        "nominal_capacity_mAh": _r(nominal_mAh_cm2 * area),
        "nominal_capacity_basis": (
            "reversible anode capacity (half cell against lithium)"
            if half
            else "positive electrode loading (full cell)"
        ),
    }
    if half:
        cell["note"] = (
            "half cell: build the anode against lithium foil; the positive electrode and N/P "
            "above describe the full cell the design is meant for"
        )
    return {
        "current_collector": build.current_collector,
        "layers": layers,
        "cell": cell,
    }


def as_built_targets(recipe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return what the lab reports as built: ``{key: {"target", "tolerance", "unit"}}``.

    The lab puts the measured values into the metadata file's ``as_built`` object under these
    keys; they are kept with the trial's result and compared with the targets.
    """
    out: dict[str, dict[str, Any]] = {}

    def put(key: str, target: float, tolerance: float, unit: str) -> None:
        out[key] = {"target": _r(target), "tolerance": _r(tolerance), "unit": unit}

    for layer in recipe["layers"]:
        pct = float(layer["thickness_tolerance_percent"]) / 100.0
        if layer["layer"] == "carbon":
            put("graphite_thickness_um", layer["thickness_um"], layer["thickness_um"] * pct, "µm")
            put(
                "graphite_porosity_percent",
                layer["porosity_percent"],
                layer["porosity_tolerance_percent"],
                "%",
            )
            put(
                "graphite_coating_mass_mg_cm2",
                layer["expected_coating_mass_mg_cm2"],
                layer["expected_coating_mass_mg_cm2"]
                * layer["coating_mass_tolerance_percent"]
                / 100.0,
                "mg/cm²",
            )
        elif layer["layer"] == "lithium":
            put("lithium_thickness_um", layer["thickness_um"], layer["thickness_um"] * pct, "µm")
        else:
            put("film_thickness_nm", layer["thickness_nm"], layer["thickness_nm"] * pct, "nm")
            for s, x in layer["composition_at_percent"].items():
                put(f"film_{s}_at_percent", x, layer["composition_tolerance_at_percent"], "at.%")
            dep = layer["deposition"]
            gas = dep["reactive_gas"]
            if gas is not None:
                put(
                    "film_O_per_metal",
                    gas["target_O_per_metal"],
                    gas["O_per_metal_tolerance"],
                    "O per metal atom",
                )
            per_target = any(src.get("power_density_W_cm2") is not None for src in dep["sources"])
            for c in dep["conditions"]:
                if per_target and c["name"] == "power_density_W_cm2":
                    continue  # reported per target below
                put(f"{dep['method']}_{c['name']}", c["value"], c["tolerance"], c["unit"])
            for src in dep["sources"]:
                power = src.get("power_density_W_cm2")
                if power is not None:
                    put(
                        f"target_{src['element']}_power_density_W_cm2",
                        power,
                        power * src["power_tolerance_percent"] / 100.0,
                        "W/cm²",
                    )
    cell = recipe["cell"]
    loading = float(cell["positive_loading_mAh_cm2"])
    put(
        "positive_loading_mAh_cm2",
        loading,
        loading * cell["positive_loading_tolerance_percent"] / 100.0,
        "mAh/cm²",
    )
    volume = float(cell["electrolyte_volume_uL"])
    put(
        "electrolyte_volume_uL",
        volume,
        volume * cell["electrolyte_volume_tolerance_percent"] / 100.0,
        "µL",
    )
    return out


def check_as_built(
    targets: Mapping[str, Mapping[str, Any]], as_built: Any
) -> list[dict[str, Any]]:
    """Compare the lab's as-built values with the ticket's targets, one row per key given.

    Returns:
        ``[{"key", "target", "as_built", "tolerance", "unit", "within"}]``; ``within`` is
        None for a key the ticket has no target for or a value that is not a number.
    """
    if not isinstance(as_built, Mapping):
        return []
    rows: list[dict[str, Any]] = []
    for key, value in as_built.items():
        t = targets.get(str(key))
        number = (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else None
        )
        within: bool | None = None
        if t is not None and number is not None and math.isfinite(number):
            within = abs(number - float(t["target"])) <= float(t["tolerance"]) * (1 + 1e-9)
        rows.append(
            {
                "key": str(key),
                "target": None if t is None else t["target"],
                "as_built": value,
                "tolerance": None if t is None else t["tolerance"],
                "unit": None if t is None else t["unit"],
                "within": within,
            }
        )
    return rows


def _protocol(options: FileExchangeOptions, fidelity: str, nominal_mAh: float) -> dict[str, Any]:
    p = options.protocol
    build = _build_of(options)
    low, high = p.window_V(options.cell)

    def mA(c_rate: float) -> float:
        return _r(c_rate * nominal_mAh)

    out: dict[str, Any] = {
        "temperature_C": _r(p.temperature_C),
        "voltage_min_V": _r(low),
        "voltage_max_V": _r(high),
        "formation": {
            "rest_before_h": _r(build.formation.rest_before_h),
            "rest_note": build.formation.note,
            "cycles": p.formation_cycles,
            "c_rate": _r(p.formation_c_rate),
            "current_mA": mA(p.formation_c_rate),
        },
        "cycles": p.cycles_for(fidelity),
        "cycles_include_formation": False,
        "total_cycles_on_cycler": p.cycles_for(fidelity) + p.formation_cycles,
        "charge_c_rate": _r(p.charge_c_rate),
        "charge_current_mA": mA(p.charge_c_rate),
        "discharge_c_rate": _r(p.discharge_c_rate),
        "discharge_current_mA": mA(p.discharge_c_rate),
        "cv_hold": None,
        "rest_min": _r(p.rest_min),
        "early_stop": (
            f"you may stop once the delivered capacity stays below {options.threshold:g} x "
            "that of the first cycle after formation (end of life)"
        ),
    }
    if p.cv_cutoff_c_rate is not None:
        hold_V = low if options.cell == "half" else high
        step = "lithiation (discharge)" if options.cell == "half" else "charge"
        out["cv_hold"] = {
            "after": step,
            "voltage_V": _r(hold_V),
            "until_c_rate": _r(p.cv_cutoff_c_rate),
            "until_current_mA": mA(p.cv_cutoff_c_rate),
        }
    return out


def _send_back(trial_id: str, cell_id: str | None) -> dict[str, Any]:
    return {
        "folder": "inbox/",
        "data_file": (
            f"<stem>.bdf.csv (or {', '.join(s for s in DATA_SUFFIXES if s != '.bdf.csv')}); "
            f"suggested stem: {trial_id}__<cell_id>"
        ),
        "metadata_file": (
            f"<stem>{METADATA_SUFFIX}, written LAST: it tells optloop the data file is complete"
        ),
        "required_columns": [TEST_TIME, VOLTAGE, CURRENT, CYCLE],
        "recommended_columns": [STEP, CHARGE_CAPACITY, DISCHARGE_CAPACITY],
        "sign_convention": "positive current charges the cell (SI units: s, V, A, Ah)",
        "required_metadata": dict(REQUIRED_METADATA_KEYS),
        "optional_metadata": dict(OPTIONAL_METADATA_KEYS),
        "example_metadata": {
            "trial_id": trial_id,
            "cell_id": cell_id if cell_id is not None else "CC-0042",
            "final": True,
            "operator": "initials",
            "channel": "3",
        },
        "partial_data": "send the file so far with final=false; send the whole test again "
        "with final=true when it ends",
        "cancel": f"if outbox/{trial_id}.cancel.json appears, stop the test; send nothing more",
    }


def build_ticket(
    *,
    trial_id: str,
    job_id: str,
    created_utc: str,
    design: Mapping[str, Any],
    fidelity: str,
    options: FileExchangeOptions,
    rebuild: Mapping[str, Any] | None = None,
    cell_id: str | None = None,
) -> dict[str, Any]:
    """Return the job ticket: ids, standard build, design, recipe, protocol, what to send back.

    The ticket is a pure function of its arguments, so writing it again gives the same bytes.

    Args:
        trial_id: The trial id the lab writes in its metadata.
        job_id: The exchange's job id.
        created_utc: When the job was submitted.
        design: The design.
        fidelity: The fidelity (sets the cycle count).
        options: The exchange's options (cell, protocol, standard build).
        rebuild: For a new cell after a lost one: ``{"replaces", "reason", "attempt"}``.
        cell_id: The checked id of the cell to build (:func:`.ids.make_cell_id`), printed
            with :data:`CELL_ID_INSTRUCTION`; None (tickets of older records): no cell id.

    Raises:
        DesignError: If the design is malformed.
        MaterialsError: If a composition has no materials data.
    """
    recipe = build_recipe(design, options)
    nominal = float(recipe["cell"]["nominal_capacity_mAh"])
    build = _build_of(options)
    return {
        "format": TICKET_FORMAT,
        "format_version": TICKET_FORMAT_VERSION,
        "trial_id": trial_id,
        "cell_id": cell_id,
        "cell_id_instruction": CELL_ID_INSTRUCTION if cell_id is not None else None,
        "job_id": job_id,
        "created_utc": created_utc,
        "fidelity": fidelity,
        "rebuild": None if rebuild is None else dict(rebuild),
        "standard_build": {
            "stated_in_config": options.standard_build is not None,
            **build.model_dump(mode="json"),
        },
        "design": dict(design),
        "recipe": recipe,
        "protocol": _protocol(options, fidelity, nominal),
        "as_built": {
            "how": "Put the measured values into the metadata file as an object "
            "\"as_built\" with these keys; they are kept with the trial's result and "
            "compared with the targets",
            "targets": as_built_targets(recipe),
        },
        "send_back": _send_back(trial_id, cell_id),
    }


def _g(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _thickness_text(layer: Mapping[str, Any]) -> str:
    um = float(layer["thickness_um"])
    tol = layer.get("thickness_tolerance_percent")
    pm = f" ± {_g(tol)} %" if tol is not None else ""
    return f"{layer['thickness_nm']:.4g} nm{pm}" if um < 1.0 else f"{um:.4g} µm{pm}"


def _pm(value: Any, tolerance: Any, unit: str) -> str:
    return f"{_g(value)} ± {_g(tolerance)} {unit}".rstrip()


def _standard_build_lines(sb: Mapping[str, Any]) -> list[str]:
    cf, el, sep, cat = sb["cell_format"], sb["electrolyte"], sb["separator"], sb["cathode"]
    head = "## Standard build (every cell of this campaign)"
    lines = [head, ""]
    if not sb.get("stated_in_config"):
        lines += [
            "**Not stated in the campaign config: these are optloop's typical coin-cell "
            "defaults. Check with the campaign owner before building.**",
            "",
        ]
    d_mm = cf["electrode_diameter_mm"]
    disc = f", anode disc {_g(d_mm)} mm" if d_mm else ""
    sep_d = f", {_g(sep['diameter_mm'])} mm disc" if sep["diameter_mm"] else ""
    cat_d = f", {_g(cat['diameter_mm'])} mm disc" if cat["diameter_mm"] else ""
    lines += [
        f"- Cell format: {cf['kind']} cell {cf['size']}{disc}; stack: {cf['stack']}; "
        f"assembled in {cf['assembly_atmosphere']}",
        f"- Current collector: {sb['current_collector']}",
        f"- Electrolyte: {el['name']}, {_g(el['volume_uL'])} µL per cell",
        f"- Separator: {sep['material']}, {_g(sep['thickness_um'])} µm{sep_d}",
        f"- Cathode: {cat['source']}{cat_d}; loading: {cat['loading_rule']} "
        f"(tolerance ± {_g(cat['loading_tolerance_percent'])} %)",
        f"- Formation: rest {_g(sb['formation']['rest_before_h'])} h at open circuit after "
        f"assembly ({sb['formation']['note']}), then the formation cycles below",
        "",
    ]
    return lines


def _layer_lines(layer: Mapping[str, Any]) -> list[str]:
    head = (
        f"{layer['position_from_collector']}. **{layer['layer']}**: {layer['material']}, "
        f"{_thickness_text(layer)}"
    )
    lines = []
    if layer["layer"] == "carbon":
        head += ", porosity " + _pm(
            layer["porosity_percent"], layer["porosity_tolerance_percent"], "%"
        )
        lines.append(head)
        form = ", ".join(f"{k} {_g(v)}" for k, v in layer["formulation_wt_percent"].items())
        lines.append(f"   - formulation (wt.%): {form}; {layer['process']}")
        coat = layer["expected_coating_mass_mg_cm2"]
        coat_tol = coat * layer["coating_mass_tolerance_percent"] / 100.0
        lines.append(
            f"   - coating areal mass {_pm(coat, coat_tol, 'mg/cm²')} (holds "
            f"{_g(layer['expected_areal_mass_mg_cm2'])} mg/cm² of graphite)"
        )
    elif layer["layer"] == "lithium":
        lines.append(head)
        dep = layer["deposition"]
        how = dep["method"].replace("_", " ")
        bits = [how]
        if "rate_nm_s" in dep:
            bits.append(f"rate {_g(dep['rate_nm_s'])} nm/s ({_g(dep['time_s'])} s)")
        if "base_pressure_Pa" in dep:
            bits.append(f"base pressure {_g(dep['base_pressure_Pa'])} Pa or lower")
        if "foil" in dep:
            bits.append(f"foil: {dep['foil']}")
        lines.append(f"   - method: {', '.join(bits)}; {dep['handling']}")
    else:
        lines.append(head)
        at = ", ".join(f"{s} {_g(v)}" for s, v in layer["composition_at_percent"].items())
        wt = ", ".join(f"{s} {_g(v)}" for s, v in layer["composition_wt_percent"].items())
        lines.append(
            f"   - composition: at.% {at} (each ± {_g(layer['composition_tolerance_at_percent'])}"
            f" at.%); wt.% {wt}"
        )
        dep = layer["deposition"]
        conds = ", ".join(
            f"{c['description']} {_pm(c['value'], c['tolerance'], c['unit'])}"
            for c in dep["conditions"]
        )
        lines.append(f"   - structure: {layer['structure']}; {dep['method']}: {conds}")
        for src in dep["sources"]:
            bits = [f"{_g(src['atomic_percent'])} at.%", f"rate share {_g(src['rate_share'])}",
                    f"equivalent {_g(src['equivalent_thickness_nm'])} nm"]
            if src.get("power_density_W_cm2") is not None:
                bits.append(
                    "power "
                    + _pm(
                        src["power_density_W_cm2"],
                        src["power_density_W_cm2"] * src["power_tolerance_percent"] / 100.0,
                        "W/cm²",
                    )
                )
            elif "power_density_W_cm2" in src:
                bits.append("power from your rate calibration")
            if src.get("rate_nm_s") is not None:
                bits.append(f"rate {_g(src['rate_nm_s'])} nm/s")
            purity = f" ({src['purity']})" if src.get("purity") else ""
            lines.append(f"   - source: {src['source']}{purity}: {', '.join(bits)}")
        for note in dep["notes"]:
            lines.append(f"   - {note}")
        gas = dep["reactive_gas"]
        if gas is not None:
            pp = (
                f"{gas['gas']} partial pressure {_g(gas['partial_pressure_Pa'])} Pa"
                if gas["partial_pressure_Pa"] is not None
                else f"{gas['gas']} partial pressure: {gas['partial_pressure_basis']}"
            )
            total = (
                f", total pressure {_g(gas['total_pressure_Pa'])} Pa"
                if "total_pressure_Pa" in gas
                else ""
            )
            target = _pm(
                gas["target_O_per_metal"], gas["O_per_metal_tolerance"], "O per metal atom"
            )
            lines.append(
                f"   - oxide: {gas['how']}; target {target}; {pp}{total}; verify by "
                f"{gas['verify']}"
            )
    lines.append(
        f"   - expected: {_g(layer['expected_areal_mass_mg_cm2'])} mg/cm², "
        f"{_g(layer['expected_capacity_mAh_cm2'])} mAh/cm²"
    )
    return lines


def render_ticket_markdown(ticket: Mapping[str, Any]) -> str:
    """Return the ticket as a page a technician can read (Markdown)."""
    recipe, protocol, back = ticket["recipe"], ticket["protocol"], ticket["send_back"]
    cell = recipe["cell"]
    lines = [f"# Job ticket {ticket['trial_id']}", ""]
    rebuild = ticket.get("rebuild")
    if rebuild:
        lines += [
            f"**Rebuild (cell {rebuild['attempt']}): replaces `{rebuild['replaces']}`, "
            f"lost: {rebuild['reason']}.** Build a new cell of the same design; do not reuse "
            "any part of the old one, nor its label.",
            "",
        ]
    cell_id = ticket.get("cell_id")
    if cell_id:
        how = str(ticket["cell_id_instruction"])
        lines += [f"**Cell id: `{cell_id}`**. {how[0].upper()}{how[1:]} in the metadata file.",
                  ""]
    lines += [
        f"- Job id: `{ticket['job_id']}`",
        f"- Created (UTC): {ticket['created_utc']}",
        f"- Fidelity: {ticket['fidelity']}",
        f"- Cell: {cell['configuration']} cell, {cell['format']}, electrode area "
        f"{_g(cell['electrode_area_cm2'])} cm², counter electrode {cell['counter_electrode']}",
        "",
    ]
    if "standard_build" in ticket:
        lines += _standard_build_lines(ticket["standard_build"])
    lines += [
        "## Build (from the current collector outwards)",
        "",
        f"0. Current collector: {recipe['current_collector']}",
    ]
    for layer in recipe["layers"]:
        lines += _layer_lines(layer)
    loading = _pm(
        cell["positive_loading_mAh_cm2"],
        cell["positive_loading_mAh_cm2"] * cell["positive_loading_tolerance_percent"] / 100.0,
        "mAh/cm²",
    )
    volume = cell["electrolyte_volume_uL"]
    lines += [
        "",
        f"Positive electrode {cell['positive_electrode']} ({cell['cathode_source']}), N/P "
        f"{_g(cell['np_ratio'])}, loading {loading}. Electrolyte {cell['electrolyte']}, "
        f"{_pm(volume, volume * cell['electrolyte_volume_tolerance_percent'] / 100.0, 'µL')}; "
        f"separator {cell['separator']}. Nominal capacity "
        f"{_g(cell['nominal_capacity_mAh'])} mAh ({cell['nominal_capacity_basis']}).",
    ]
    if "note" in cell:
        lines.append(f"Note: {cell['note']}.")
    form = protocol["formation"]
    lines += [
        "",
        "## Cycling protocol",
        "",
        f"- Temperature {_g(protocol['temperature_C'])} °C, window "
        f"{_g(protocol['voltage_min_V'])}-{_g(protocol['voltage_max_V'])} V, rest "
        f"{_g(protocol['rest_min'])} min after each step",
        f"- Formation: {form['cycles']} cycle(s) at C/{1.0 / form['c_rate']:.3g} "
        f"({_g(form['current_mA'])} mA)",
        f"- Then {protocol['cycles']} cycles (formation not included: "
        f"{protocol['total_cycles_on_cycler']} cycles on the cycler in all): charge "
        f"{_g(protocol['charge_c_rate'])}C ({_g(protocol['charge_current_mA'])} mA), discharge "
        f"{_g(protocol['discharge_c_rate'])}C ({_g(protocol['discharge_current_mA'])} mA)",
    ]
    hold = protocol["cv_hold"]
    if hold is not None:
        lines.append(
            f"- CV hold after {hold['after']} at {_g(hold['voltage_V'])} V until "
            f"{_g(hold['until_c_rate'])}C ({_g(hold['until_current_mA'])} mA)"
        )
    lines.append(f"- Early stop: {protocol['early_stop']}")
    as_built = ticket.get("as_built")
    if as_built:
        lines += [
            "",
            "## As built (measure, then report in the metadata file)",
            "",
            f"{as_built['how']}.",
            "",
            "| key | target | tolerance | unit |",
            "|---|---|---|---|",
        ]
        for key, t in as_built["targets"].items():
            lines.append(f"| `{key}` | {_g(t['target'])} | ± {_g(t['tolerance'])} | {t['unit']} |")
    lines += [
        "",
        "## Send back (into `inbox/`)",
        "",
        f"- Data: {back['data_file']}; columns {', '.join(back['required_columns'])}; "
        f"{back['sign_convention']}",
        f"- Metadata: {back['metadata_file']}",
        "- Required keys: "
        + "; ".join(f"`{k}` ({v})" for k, v in back["required_metadata"].items()),
        f"- As built (optional): `as_built` ({back['optional_metadata']['as_built']})",
        f"- Partial data: {back['partial_data']}",
        f"- Cancelled: {back['cancel']}",
        "",
    ]
    return "\n".join(lines)
