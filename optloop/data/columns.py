"""The BDF column vocabulary, as data: ontology terms, preferred labels, aliases and units.

Each :class:`Term` is one quantity of the Battery Data Format ontology (1.3.0), keyed by its
machine name (``test_time_second``), with its preferred label (``Test Time / s``) and the other
*names* the quantity goes by: legacy BDF labels (``Step Index``, ``Step Capacity``,
``Surface Temperature T1``), BatteryArchive labels (``Test_Time (s)``, ``Cycle_Index``,
``Charge_Capacity (Ah)``) and common spellings. A header is matched by its name part, ignoring
case, spaces, underscores and punctuation, and its unit part is looked up in :data:`UNITS`
(see :mod:`optloop.data.ingest`). Sources: the ontology's ``schema/schema.json`` and
``battery-data-format`` ``src/bdf/normalize/ingest_aliases.py``; BatteryArchive columns as
mapped by BEEP (``beep/structure/battery_archive.py``).

Two deliberate choices:

* ``Step Index / 1`` was the step counter in older BDF files; 1.3.0 keeps ``step_index`` as a
  separate term (the control technique's index). It is read as :data:`STEP` only when the file
  has no ``Step Count`` column (a *fallback* name), and otherwise left as it is.
* BatteryArchive's ``Charge_Capacity (Ah)`` / ``Discharge_Capacity (Ah)`` reset every cycle
  (BEEP takes their maximum per cycle), so they are the *cycle* capacities; ``Cell_Temperature``
  is left unmapped, as upstream BDF does, because it is ambiguous (surface, can or internal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "AMBIENT_TEMPERATURE",
    "CHARGE_CAPACITY",
    "CUMULATIVE_CHARGE_CAPACITY",
    "CUMULATIVE_DISCHARGE_CAPACITY",
    "CURRENT",
    "CYCLE",
    "CYCLE_NET_CAPACITY",
    "DISCHARGE_CAPACITY",
    "NET_CAPACITY",
    "STEP",
    "STEP_CAPACITY",
    "STEP_CHARGE_CAPACITY",
    "STEP_DISCHARGE_CAPACITY",
    "TERMS",
    "TEST_TIME",
    "UNITS",
    "VOLTAGE",
    "Term",
    "name_key",
    "unit_key",
]

TEST_TIME = "Test Time / s"
VOLTAGE = "Voltage / V"
#: Positive current charges the cell.
CURRENT = "Current / A"
#: Non-decreasing; its start value is the instrument's (converters must not renumber).
CYCLE = "Cycle Count / 1"
STEP = "Step Count / 1"
#: Charge passed in while charging, reset to zero when the cycle count increments.
CHARGE_CAPACITY = "Cycle Charging Capacity / Ah"
#: Charge passed out while discharging, reset to zero when the cycle count increments.
DISCHARGE_CAPACITY = "Cycle Discharging Capacity / Ah"
#: Charge passed in while charging since the test started, never reset.
CUMULATIVE_CHARGE_CAPACITY = "Charging Capacity / Ah"
#: Charge passed out while discharging since the test started, never reset.
CUMULATIVE_DISCHARGE_CAPACITY = "Discharging Capacity / Ah"
#: Charge throughput within the current step (either direction), reset at each step.
STEP_CAPACITY = "Step Cumulative Capacity / Ah"
#: Charge passed in within the current step, reset at each step.
STEP_CHARGE_CAPACITY = "Step Charging Capacity / Ah"
#: Charge passed out within the current step, reset at each step.
STEP_DISCHARGE_CAPACITY = "Step Discharging Capacity / Ah"
#: Charge in minus charge out since the test started (may go up and down).
NET_CAPACITY = "Net Capacity / Ah"
#: Charge in minus charge out within the current cycle, reset when the cycle count increments.
CYCLE_NET_CAPACITY = "Cycle Net Capacity / Ah"
AMBIENT_TEMPERATURE = "Ambient Temperature / degC"

#: Accepted units of each kind of quantity: unit -> ``(scale, offset)`` such that
#: ``value_in_bdf_unit = scale * value + offset``. The first entry of each kind is the BDF unit.
#: Units match through :func:`unit_key` (case-insensitive, ``µ`` or ``u``, ``°C`` or ``degC``),
#: so no kind may hold two units that differ only in case: ``MPa`` is megapascal, and there
#: is no megaampere next to the milliampere.
UNITS: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "time": {"s": (1.0, 0.0), "sec": (1.0, 0.0), "ms": (1e-3, 0.0), "µs": (1e-6, 0.0),
                 "min": (60.0, 0.0), "h": (3600.0, 0.0), "hr": (3600.0, 0.0),
                 "d": (86400.0, 0.0)},
        "voltage": {"V": (1.0, 0.0), "mV": (1e-3, 0.0), "µV": (1e-6, 0.0)},
        "current": {"A": (1.0, 0.0), "mA": (1e-3, 0.0), "µA": (1e-6, 0.0), "nA": (1e-9, 0.0)},
        "charge": {"Ah": (1.0, 0.0), "mAh": (1e-3, 0.0), "µAh": (1e-6, 0.0),
                   "As": (1.0 / 3600.0, 0.0), "C": (1.0 / 3600.0, 0.0),
                   "mAs": (1e-3 / 3600.0, 0.0)},
        "energy": {"Wh": (1.0, 0.0), "mWh": (1e-3, 0.0), "µWh": (1e-6, 0.0),
                   "kWh": (1e3, 0.0), "J": (1.0 / 3600.0, 0.0)},
        "power": {"W": (1.0, 0.0), "mW": (1e-3, 0.0), "µW": (1e-6, 0.0), "kW": (1e3, 0.0)},
        "resistance": {"Ohm": (1.0, 0.0), "mOhm": (1e-3, 0.0), "µOhm": (1e-6, 0.0)},
        "temperature": {"degC": (1.0, 0.0), "C": (1.0, 0.0), "celsius": (1.0, 0.0),
                        "K": (1.0, -273.15), "kelvin": (1.0, -273.15),
                        "degF": (5.0 / 9.0, -160.0 / 9.0), "F": (5.0 / 9.0, -160.0 / 9.0)},
        "pressure": {"Pa": (1.0, 0.0), "kPa": (1e3, 0.0), "MPa": (1e6, 0.0),
                     "bar": (1e5, 0.0), "mbar": (1e2, 0.0)},
        "count": {"1": (1.0, 0.0), "": (1.0, 0.0)},
    }
)


@dataclass(frozen=True)
class Term:
    """One BDF ontology term and the names it goes by in files."""

    name: str
    """Machine name, e.g. ``"test_time_second"``."""
    label: str
    """Preferred label in BDF 1.3.0, e.g. ``"Test Time / s"``; its unit is the BDF unit."""
    kind: str
    """Kind of quantity: a key of :data:`UNITS`."""
    aliases: tuple[str, ...] = ()
    """Other quantity names (without unit) that mean this term."""
    fallback_aliases: tuple[str, ...] = ()
    """Names used only when no other column gives this term (else left as they are)."""
    machine_aliases: tuple[tuple[str, str], ...] = ()
    """Legacy machine names and the unit they imply, e.g. ``("test_time_millisecond", "ms")``."""

    @property
    def unit(self) -> str:
        """Return the BDF unit, from the label (``"1"`` for counts)."""
        return self.label.rsplit(" / ", 1)[1] if " / " in self.label else "1"


def _t(name: str, label: str, kind: str, *aliases: str, **extra: object) -> Term:
    return Term(name, label, kind, tuple(aliases), **extra)  # type: ignore[arg-type]


TERMS: tuple[Term, ...] = (
    _t("test_time_second", TEST_TIME, "time", "test time", "total time",
       machine_aliases=(("test_time_millisecond", "ms"),)),
    _t("unix_time_second", "Unix Time / s", "time", "unix time", "epoch time", "epoch time utc",
       machine_aliases=(("unix_time_millisecond", "ms"),)),
    _t("voltage_volt", VOLTAGE, "voltage", "voltage", "potential", "cell voltage"),
    _t("current_ampere", CURRENT, "current", "current"),
    _t("cycle_count", CYCLE, "count", "cycle count", "cycle index", "cycle number", "cycle"),
    _t("step_count", STEP, "count", "step count", "step number",
       fallback_aliases=("step index",)),
    _t("record_index", "Record Index / 1", "count", "record index", "data point"),
    _t("step_time_second", "Step Time / s", "time", "step time"),
    _t("charging_capacity_ah", CUMULATIVE_CHARGE_CAPACITY, "charge", "charging capacity",
       "cumulative charging capacity", "test cumulated charge capacity"),
    _t("discharging_capacity_ah", CUMULATIVE_DISCHARGE_CAPACITY, "charge",
       "discharging capacity", "cumulative discharging capacity",
       "test cumulated discharge capacity"),
    _t("cycle_charging_capacity_ah", CHARGE_CAPACITY, "charge", "cycle charging capacity",
       "cycle charge capacity", "charge capacity"),
    _t("cycle_discharging_capacity_ah", DISCHARGE_CAPACITY, "charge",
       "cycle discharging capacity", "cycle discharge capacity", "discharge capacity"),
    _t("step_cumulative_capacity_ah", STEP_CAPACITY, "charge", "step cumulative capacity",
       "step capacity", machine_aliases=(("step_capacity_ah", "Ah"),)),
    _t("step_charging_capacity_ah", STEP_CHARGE_CAPACITY, "charge", "step charging capacity",
       "step charge capacity"),
    _t("step_discharging_capacity_ah", STEP_DISCHARGE_CAPACITY, "charge",
       "step discharging capacity", "step discharge capacity"),
    _t("net_capacity_ah", NET_CAPACITY, "charge", "net capacity", "test net capacity"),
    _t("cycle_net_capacity_ah", CYCLE_NET_CAPACITY, "charge", "cycle net capacity"),
    _t("cumulative_capacity_ah", "Cumulative Capacity / Ah", "charge", "cumulative capacity"),
    _t("charging_energy_wh", "Charging Energy / Wh", "energy", "charging energy",
       "test cumulated charge energy"),
    _t("discharging_energy_wh", "Discharging Energy / Wh", "energy", "discharging energy",
       "test cumulated discharge energy"),
    _t("cycle_charging_energy_wh", "Cycle Charging Energy / Wh", "energy",
       "cycle charging energy", "charge energy"),
    _t("cycle_discharging_energy_wh", "Cycle Discharging Energy / Wh", "energy",
       "cycle discharging energy", "discharge energy"),
    _t("step_cumulative_energy_wh", "Step Cumulative Energy / Wh", "energy",
       "step cumulative energy", "step energy", machine_aliases=(("step_energy_wh", "Wh"),)),
    _t("net_energy_wh", "Net Energy / Wh", "energy", "net energy", "test net energy"),
    _t("cumulative_energy_wh", "Cumulative Energy / Wh", "energy", "cumulative energy"),
    _t("power_watt", "Power / W", "power", "power"),
    _t("internal_resistance_ohm", "Internal Resistance / Ohm", "resistance",
       "internal resistance"),
    _t("dc_internal_resistance_ohm", "DC Internal Resistance / ohm", "resistance",
       "dc internal resistance"),
    _t("ac_internal_resistance_ohm", "AC Internal Resistance / ohm", "resistance",
       "ac internal resistance"),
    _t("ambient_temperature_celsius", AMBIENT_TEMPERATURE, "temperature", "ambient temperature",
       "environment temperature", "environmental temperature", "chamber temperature",
       "temperature chamber"),
    _t("surface_temperature_celsius", "Surface Temperature / degC", "temperature",
       "surface temperature"),
    _t("temperature_t1_celsius", "Temperature T1 / degC", "temperature", "temperature t1",
       "surface temperature t1", "temperature"),
    *(
        _t(f"temperature_t{i}_celsius", f"Temperature T{i} / degC", "temperature",
           f"temperature t{i}", f"surface temperature t{i}")
        for i in range(2, 6)
    ),
    _t("ambient_pressure_pa", "Ambient Pressure / Pa", "pressure", "ambient pressure"),
    _t("applied_pressure_pa", "Applied Pressure / Pa", "pressure", "applied pressure"),
    _t("surface_pressure_pa", "Surface Pressure / Pa", "pressure", "surface pressure"),
)

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_UNIT_SPELLINGS = {"µ": "u", "μ": "u", "°": "deg", "Ω": "ohm", "·": "", ".": ""}


def name_key(name: str) -> str:
    """Return the matching key of a quantity name: lower case, words joined by one space.

    ``"Test_Time"``, ``" test  time "`` and ``"TEST-TIME"`` all give ``"test time"``.
    """
    return _NOT_ALNUM.sub(" ", name.lower()).strip()


def unit_key(unit: str) -> str:
    """Return the matching key of a unit: lower case, no spaces, ``µ`` -> ``u``, ``°`` -> ``deg``.

    ``"mA"`` and ``" MA "`` give ``"ma"``; ``"°C"`` gives ``"degc"``; ``"A.h"`` gives
    ``"ah"``.
    """
    out = unit.strip()
    for old, new in _UNIT_SPELLINGS.items():
        out = out.replace(old, new)
    return re.sub(r"\s+", "", out).lower()
