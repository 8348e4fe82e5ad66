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
    "build_recipe",
    "build_ticket",
    "composition_wt_percent",
    "render_ticket_markdown",
]

TICKET_FORMAT = "optloop.file_exchange.ticket"
TICKET_FORMAT_VERSION = 1
#: Names a data file may end in, longest first (``x.bdf.csv.gz`` before ``x.bdf``).
DATA_SUFFIXES: tuple[str, ...] = (".bdf.csv.gz", ".bdf.parquet", ".bdf.csv", ".bdf.gz", ".bdf")
#: The metadata file ``<stem>.bdf.metadata.json`` is the completion sentinel of its data file.
METADATA_SUFFIX = ".bdf.metadata.json"
REQUIRED_METADATA_KEYS: dict[str, str] = {
    "trial_id": "the ticket's trial_id",
    "cell_id": "the lab's id of the cell (free text)",
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


def _thickness(um: float) -> dict[str, float]:
    return {"thickness_um": _r(um), "thickness_nm": _r(um * 1000.0)}


def build_recipe(
    design: Design | Mapping[str, Any], options: FileExchangeOptions
) -> dict[str, Any]:
    """Return the build recipe of a design: layers outwards from the collector, and the cell.

    Args:
        design: The design (or its dict).
        options: The evaluator's options (cell configuration and electrode area).

    Returns:
        JSON-ready ``{"current_collector", "layers", "cell"}``. Layer masses and capacities are
        per electrode area (mg/cm², mAh/cm²); cell capacities are for ``electrode_area_cm2``.

    Raises:
        DesignError: If the design dict is malformed.
        MaterialsError: If a composition has no materials data.
    """
    d = design if isinstance(design, Design) else Design.from_dict(dict(design))
    derived = derive(d)
    layers: list[dict[str, Any]] = []
    if d.carbon_layer is not None:
        c = d.carbon_layer
        g = graphite_properties()
        mass = g.density_g_cm3 * (1.0 - c.porosity) * c.thickness_um * _UM_TO_CM * _G_TO_MG
        layers.append(
            {
                "layer": "carbon",
                "material": "graphite",
                **_thickness(c.thickness_um),
                "porosity_percent": _r(100.0 * c.porosity),
                "expected_areal_mass_mg_cm2": _r(mass),
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
        layers.append(
            {
                "layer": "alloy" if a.oxygen_ratio == 0 else "complex oxide",
                "material": a.formula,
                "composition_at_percent": {s: _r(100.0 * x) for s, x in ordered.items()},
                "oxygen_atoms_per_metal_atom": _r(a.oxygen_ratio),
                "composition_wt_percent": composition_wt_percent(ordered, a.oxygen_ratio),
                **_thickness(a.thickness_um),
                "structure": a.structure,
                "deposition": {
                    "method": a.method,
                    "conditions": [
                        {
                            "name": name,
                            "description": specs[name].description,
                            "value": _r(value),
                            "unit": specs[name].unit,
                        }
                        for name, value in sorted(a.conditions.items())
                    ],
                },
                "expected_relative_density": _r(rho_rel),
                "expected_areal_mass_mg_cm2": _r(mass),
                "expected_capacity_mAh_cm2": _r(derived.alloy_areal_capacity_mAh_cm2),
            }
        )
    if d.lithium_layer is not None:
        li = d.lithium_layer
        mass = lithium_properties().density_g_cm3 * li.thickness_um * _UM_TO_CM * _G_TO_MG
        layers.append(
            {
                "layer": "lithium",
                "material": "lithium metal foil or film",
                **_thickness(li.thickness_um),
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
        "counter_electrode": "lithium metal foil" if half else d.cell.positive_electrode,
        "electrode_area_cm2": _r(area),
        "positive_electrode": d.cell.positive_electrode,
        "np_ratio": _r(derived.np_ratio),
        "positive_loading_mAh_cm2": _r(derived.positive_loading_mAh_cm2),
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
        "current_collector": "copper foil (the lab's standard)",
        "layers": layers,
        "cell": cell,
    }


def _protocol(options: FileExchangeOptions, fidelity: str, nominal_mAh: float) -> dict[str, Any]:
    p = options.protocol
    low, high = p.window_V(options.cell)

    def mA(c_rate: float) -> float:
        return _r(c_rate * nominal_mAh)

    out: dict[str, Any] = {
        "temperature_C": _r(p.temperature_C),
        "voltage_min_V": _r(low),
        "voltage_max_V": _r(high),
        "formation": {
            "cycles": p.formation_cycles,
            "c_rate": _r(p.formation_c_rate),
            "current_mA": mA(p.formation_c_rate),
        },
        "cycles": p.cycles_for(fidelity),
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


def _send_back(trial_id: str) -> dict[str, Any]:
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
            "cell_id": "CC-0042",
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
) -> dict[str, Any]:
    """Return the job ticket: ids, design, build recipe, protocol and what to send back.

    The ticket is a pure function of its arguments, so writing it again gives the same bytes.

    Raises:
        DesignError: If the design is malformed.
        MaterialsError: If a composition has no materials data.
    """
    recipe = build_recipe(design, options)
    nominal = float(recipe["cell"]["nominal_capacity_mAh"])
    return {
        "format": TICKET_FORMAT,
        "format_version": TICKET_FORMAT_VERSION,
        "trial_id": trial_id,
        "job_id": job_id,
        "created_utc": created_utc,
        "fidelity": fidelity,
        "design": dict(design),
        "recipe": recipe,
        "protocol": _protocol(options, fidelity, nominal),
        "send_back": _send_back(trial_id),
    }


def _g(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _thickness_text(layer: Mapping[str, Any]) -> str:
    um = float(layer["thickness_um"])
    return f"{layer['thickness_nm']:.4g} nm" if um < 1.0 else f"{um:.4g} µm"


def render_ticket_markdown(ticket: Mapping[str, Any]) -> str:
    """Return the ticket as a page a technician can read (Markdown)."""
    recipe, protocol, back = ticket["recipe"], ticket["protocol"], ticket["send_back"]
    cell = recipe["cell"]
    lines = [
        f"# Job ticket {ticket['trial_id']}",
        "",
        f"- Job id: `{ticket['job_id']}`",
        f"- Created (UTC): {ticket['created_utc']}",
        f"- Fidelity: {ticket['fidelity']}",
        f"- Cell: {cell['configuration']} cell, electrode area {_g(cell['electrode_area_cm2'])} "
        f"cm², counter electrode {cell['counter_electrode']}",
        "",
        "## Build (from the current collector outwards)",
        "",
        f"0. Current collector: {recipe['current_collector']}",
    ]
    for layer in recipe["layers"]:
        head = (
            f"{layer['position_from_collector']}. **{layer['layer']}**: {layer['material']}, "
            f"{_thickness_text(layer)}"
        )
        if "porosity_percent" in layer:
            head += f", porosity {_g(layer['porosity_percent'])} %"
        lines.append(head)
        if "composition_at_percent" in layer:
            at = ", ".join(f"{s} {_g(v)}" for s, v in layer["composition_at_percent"].items())
            wt = ", ".join(f"{s} {_g(v)}" for s, v in layer["composition_wt_percent"].items())
            lines.append(f"   - composition: at.% {at}; wt.% {wt}")
            if layer["oxygen_atoms_per_metal_atom"]:
                lines.append(
                    f"   - oxygen: {_g(layer['oxygen_atoms_per_metal_atom'])} O per metal atom"
                )
            dep = layer["deposition"]
            conds = ", ".join(
                f"{c['description']} {_g(c['value'])} {c['unit']}" for c in dep["conditions"]
            )
            lines.append(f"   - structure: {layer['structure']}; {dep['method']}: {conds}")
        lines.append(
            f"   - expected: {_g(layer['expected_areal_mass_mg_cm2'])} mg/cm², "
            f"{_g(layer['expected_capacity_mAh_cm2'])} mAh/cm²"
        )
    lines += [
        "",
        f"Positive electrode {cell['positive_electrode']}, N/P {_g(cell['np_ratio'])}, "
        f"loading {_g(cell['positive_loading_mAh_cm2'])} mAh/cm². Nominal capacity "
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
        f"- Then {protocol['cycles']} cycles: charge {_g(protocol['charge_c_rate'])}C "
        f"({_g(protocol['charge_current_mA'])} mA), discharge "
        f"{_g(protocol['discharge_c_rate'])}C ({_g(protocol['discharge_current_mA'])} mA)",
    ]
    hold = protocol["cv_hold"]
    if hold is not None:
        lines.append(
            f"- CV hold after {hold['after']} at {_g(hold['voltage_V'])} V until "
            f"{_g(hold['until_c_rate'])}C ({_g(hold['until_current_mA'])} mA)"
        )
    lines.append(f"- Early stop: {protocol['early_stop']}")
    lines += [
        "",
        "## Send back (into `inbox/`)",
        "",
        f"- Data: {back['data_file']}; columns {', '.join(back['required_columns'])}; "
        f"{back['sign_convention']}",
        f"- Metadata: {back['metadata_file']}",
        "- Required keys: "
        + "; ".join(f"`{k}` ({v})" for k, v in back["required_metadata"].items()),
        f"- Partial data: {back['partial_data']}",
        f"- Cancelled: {back['cancel']}",
        "",
    ]
    return "\n".join(lines)
