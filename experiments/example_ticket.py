"""Write the example job ticket of docs/: a ternary oxide film on graphite with a lithium layer.

The ticket is what the file-exchange evaluator writes into ``outbox/`` for this design under
the example lab's standard build below (the build, calibrations and tolerances are an example
lab's, stated as a campaign would state them in ``evaluator.options.standard_build``).

Run from the repository root (writes ``docs/example-ticket.md`` and ``.json``)::

    python experiments/example_ticket.py

``tests/test_tickets.py`` regenerates both and checks they match the committed files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optloop.evaluators.file_exchange import (
    FileExchangeOptions,
    build_ticket,
    render_ticket_markdown,
)
from optloop.evaluators.file_exchange.ids import make_cell_id, make_id

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: Si0.55Sn0.30Cu0.15 with 0.3 O per metal atom, 300 nm co-sputtered on 40 um graphite, 1.5 um Li.
EXAMPLE_DESIGN: dict[str, Any] = {
    "alloy_layer": {
        "composition": {"Si": 0.55, "Sn": 0.30, "Cu": 0.15},
        "oxygen_ratio": 0.3,
        "thickness_um": 0.3,
        "structure": "amorphous",
        "method": "sputtering",
        "conditions": {
            "substrate_temperature_C": 150.0,
            "power_density_W_cm2": 5.0,
            "pressure_Pa": 0.6,
        },
    },
    "carbon_layer": {"thickness_um": 40.0, "porosity": 0.35},
    "lithium_layer": {"thickness_um": 1.5},
    "cell": {"positive_electrode": "NMC811", "np_ratio": 1.15},
}

#: The example lab's options: its protocol and its standard build.
EXAMPLE_OPTIONS: dict[str, Any] = {
    "root": "/mnt/labshare/anode-campaign-1",
    "channels": 8,
    "cell": "full",
    "electrode_area_cm2": 1.54,
    "protocol": {"cycles": 200, "formation_cycles": 1, "formation_c_rate": 0.1},
    "standard_build": {
        "cell_format": {"kind": "coin", "size": "CR2032", "electrode_diameter_mm": 14.0},
        "current_collector": "Cu foil, 10 µm, battery grade",
        "electrolyte": {"name": "1 M LiPF6 in EC:DEC 1:1 (v/v) + 10 wt% FEC", "volume_uL": 40},
        "separator": {"material": "Celgard 2325 (PP/PE/PP)", "thickness_um": 25,
                      "diameter_mm": 16},
        "cathode": {
            "source": "NMC811 sheets on Al foil from the lab's stock (0.5-4 mAh/cm²)",
            "diameter_mm": 12.0,
            "loading_tolerance_percent": 5,
        },
        "formation": {"rest_before_h": 12},
        "graphite": {
            "active_material": "graphite",
            "formulation_wt_percent": {"graphite": 94, "carbon black": 2, "CMC": 2, "SBR": 2},
        },
        "lithium_layer": {"method": "thermal_evaporation", "rate_nm_s": 2.0,
                          "base_pressure_Pa": 1e-4},
        "reactive_gas": {"gas": "O2", "calibration": [[0.0, 0.0], [0.5, 0.02], [1.0, 0.05]]},
        "deposition": {"sputter_rate_nm_s_per_W_cm2": {"Si": 0.03, "Sn": 0.12, "Cu": 0.10}},
        "tolerances": {"thickness_percent": 10, "composition_at_percent": 2},
    },
}

JOB_ID = "fx-anode-campaign-1.trial-0007"
#: The checked trial id a ticket shows (as the exchange makes it from the job id).
TRIAL_ID = make_id(JOB_ID, kind="T")
#: The checked id of the trial's first cell (attempt 1), the label the lab writes back.
CELL_ID = make_cell_id(JOB_ID, 1)
CREATED_UTC = "2026-03-02T09:15:00+00:00"


def example_ticket() -> dict[str, Any]:
    """Return the example ticket (a pure function: the same bytes every time)."""
    return build_ticket(
        trial_id=TRIAL_ID,
        cell_id=CELL_ID,
        job_id=JOB_ID,
        created_utc=CREATED_UTC,
        design=EXAMPLE_DESIGN,
        fidelity="full",
        options=FileExchangeOptions.from_dict(EXAMPLE_OPTIONS),
    )


def render() -> dict[str, str]:
    """Return ``{file name: text}`` of the example ticket's JSON and Markdown."""
    ticket = example_ticket()
    return {
        "example-ticket.json": json.dumps(ticket, indent=2, ensure_ascii=False) + "\n",
        "example-ticket.md": render_ticket_markdown(ticket),
    }


def main() -> None:
    """Write the example ticket into docs/."""
    for name, text in render().items():
        (DOCS / name).write_text(text, encoding="utf-8")
        print(f"wrote {DOCS / name}")


if __name__ == "__main__":
    main()
