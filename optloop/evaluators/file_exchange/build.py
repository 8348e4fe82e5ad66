"""The campaign's standard build: what every cell shares, printed on every job ticket.

A design fixes the anode (films, graphite, lithium layer) and the cell balance; everything
else a technician needs to build the cell (format, electrolyte and its volume, separator,
where the cathode comes from and how it is matched to the design, the formation rest, how the
lithium layer and the graphite coating are made, the lab's deposition calibrations, and the
tolerances on every target) is the lab's standard build, stated once in the config
(``evaluator.options.standard_build``). Every field is typed and bounded; a value out of its
limits is refused with the field, the value and the limit.

Units are carried by the field names and spelt one way on the ticket (:func:`unit_text`).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_STANDARD_BUILD",
    "UNIT_SPELLING",
    "CathodeSupply",
    "CellFormat",
    "DepositionCalibration",
    "Electrolyte",
    "FormationBuild",
    "GraphiteCoating",
    "LithiumLayerBuild",
    "ReactiveGas",
    "Separator",
    "StandardBuild",
    "Tolerances",
    "unit_text",
]

#: One spelling per unit on tickets (the vocabulary's ASCII units become these).
UNIT_SPELLING: dict[str, str] = {
    "degC": "°C",
    "W/cm^2": "W/cm²",
    "mA/cm^2": "mA/cm²",
    "mAh/cm^2": "mAh/cm²",
    "mg/cm^2": "mg/cm²",
    "cm^2": "cm²",
    "um": "µm",
    "uL": "µL",
}


def unit_text(unit: str) -> str:
    """Return the ticket's spelling of a unit (``degC`` -> ``°C``, ``W/cm^2`` -> ``W/cm²``)."""
    return UNIT_SPELLING.get(unit, unit)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CellFormat(_Strict):
    """The test cell the lab builds every design into.

    Attributes:
        kind: Coin, pouch or Swagelok-type cell.
        size: The lab's name of the format, e.g. ``CR2032``.
        electrode_diameter_mm: Diameter of the punched anode disc (14 mm is 1.54 cm²); must
            match the exchange's ``electrode_area_cm2`` within 2 %.
        stack: Spacers, spring and casing, in the order they go in.
        assembly_atmosphere: Where cells are assembled.
    """

    kind: Literal["coin", "pouch", "swagelok"] = "coin"
    size: str = Field(default="CR2032", min_length=1, max_length=60)
    electrode_diameter_mm: float | None = Field(default=14.0, gt=1.0, le=200.0)
    stack: str = Field(
        default="case, cathode, separator, anode, 0.5 mm stainless spacer, wave spring, cap",
        min_length=1,
        max_length=300,
    )
    assembly_atmosphere: str = Field(
        default="argon glovebox, H2O and O2 below 1 ppm", min_length=1, max_length=200
    )


class Electrolyte(_Strict):
    """The electrolyte: its formulation and the volume put in each cell."""

    name: str = Field(
        default="1 M LiPF6 in EC:DEC 1:1 (v/v) + 10 wt% FEC", min_length=1, max_length=200
    )
    volume_uL: float = Field(default=40.0, gt=0.0, le=100_000.0)


class Separator(_Strict):
    """The separator: product, thickness and punched diameter."""

    material: str = Field(default="Celgard 2325 (PP/PE/PP)", min_length=1, max_length=200)
    thickness_um: float = Field(default=25.0, gt=0.0, le=1000.0)
    diameter_mm: float | None = Field(default=16.0, gt=1.0, le=300.0)


class CathodeSupply(_Strict):
    """Where the positive electrode comes from and how its loading is matched to the design.

    The design sets the positive loading (from its N/P ratio); the technician picks a sheet
    whose measured loading lies within ``loading_tolerance_percent`` of it. Loadings the lab
    cannot supply at all are refused before a ticket exists by a lab rule in the design space
    (``space.lab_rules``, e.g. ``positive_loading_mAh_cm2`` min/max), never on the ticket.
    """

    source: str = Field(
        default="the lab's stock of single-side coated cathode sheets on Al foil",
        min_length=1,
        max_length=300,
    )
    diameter_mm: float | None = Field(default=12.0, gt=1.0, le=300.0)
    loading_rule: str = Field(
        default="pick the stock sheet whose measured loading is closest to the ticket's; "
        "outside the tolerance, ask for a custom coating",
        min_length=1,
        max_length=300,
    )
    loading_tolerance_percent: float = Field(default=5.0, gt=0.0, le=50.0)


class FormationBuild(_Strict):
    """What happens between crimping and the first cycle.

    The cycler's formation cycles are in the exchange's ``protocol``.
    """

    rest_before_h: float = Field(default=12.0, ge=0.0, le=720.0)
    """Open-circuit wetting rest after assembly (the lithium layer lithiates the anode now)."""
    note: str = Field(
        default="record the open-circuit voltage at the end of the rest", max_length=300
    )


class GraphiteCoating(_Strict):
    """How the graphite layer is made: its slurry recipe and processing.

    The design gives the graphite layer's thickness and porosity; the areal mass of the coating
    follows with this formulation.
    """

    active_material: str = Field(default="graphite", min_length=1, max_length=100)
    formulation_wt_percent: dict[str, float] = Field(
        default_factory=lambda: {"graphite": 94.0, "carbon black": 2.0, "CMC": 2.0, "SBR": 2.0}
    )
    process: str = Field(
        default="aqueous slurry, doctor-blade onto the Cu foil, dry 12 h at 80 °C under vacuum, "
        "calender to the ticket's thickness",
        min_length=1,
        max_length=300,
    )

    @field_validator("formulation_wt_percent")
    @classmethod
    def _sums_to_100(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not (0.0 < x <= 100.0)}
        if bad:
            raise ValueError(f"{bad}: each share must be > 0 and <= 100 wt%")
        total = sum(v.values())
        if abs(total - 100.0) > 0.5:
            raise ValueError(f"shares sum to {total:g} wt%; limit: 100 +/- 0.5 wt%")
        return v

    @model_validator(mode="after")
    def _has_active(self) -> GraphiteCoating:
        if self.active_material not in self.formulation_wt_percent:
            raise ValueError(
                f"active_material={self.active_material!r} is not in formulation_wt_percent "
                f"{sorted(self.formulation_wt_percent)}"
            )
        return self

    @property
    def active_fraction(self) -> float:
        """Return the active material's mass fraction of the dry coating."""
        return self.formulation_wt_percent[self.active_material] / sum(
            self.formulation_wt_percent.values()
        )


class LithiumLayerBuild(_Strict):
    """How the lithium metal layer is put on the anode (claim 9)."""

    method: Literal["thermal_evaporation", "foil_lamination", "electrodeposition"] = (
        "thermal_evaporation"
    )
    rate_nm_s: float | None = Field(default=2.0, gt=0.0, le=1000.0)
    """Evaporation or deposition rate (None: not applicable, e.g. lamination)."""
    base_pressure_Pa: float | None = Field(default=1e-4, gt=0.0, le=1e5)
    """Chamber base pressure before evaporation (None: not applicable)."""
    foil: str | None = Field(default=None, max_length=200)
    """The foil laminated (thickness, supplier), for ``foil_lamination``."""
    handling: str = Field(
        default="transfer to the glovebox without air exposure; assemble within 24 h",
        min_length=1,
        max_length=300,
    )


class ReactiveGas(_Strict):
    """The reactive gas that makes an oxide film (reactive sputtering or evaporation).

    Attributes:
        gas: The reactive gas.
        calibration: The lab's measured ``[O per metal atom, O2 partial pressure in Pa]``
            points (at least two, increasing); the ticket interpolates the partial pressure of
            the design's oxygen ratio. Empty: the ticket gives only the target O per metal.
        verify: How the lab checks the film's oxygen content.
    """

    gas: str = Field(default="O2", min_length=1, max_length=40)
    calibration: list[tuple[float, float]] = Field(default_factory=list)
    verify: str = Field(default="XPS or EDX on a witness sample", max_length=200)

    @field_validator("calibration")
    @classmethod
    def _increasing(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) == 1:
            raise ValueError("calibration needs at least two [O_per_metal, pressure_Pa] points")
        for o, p in v:
            if not (0.0 <= o <= 3.0) or not (0.0 <= p <= 100.0):
                raise ValueError(
                    f"point [{o:g}, {p:g}]; limit: 0 <= O_per_metal <= 3, 0 <= pressure_Pa "
                    "<= 100"
                )
        xs = [o for o, _ in v]
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise ValueError(f"O_per_metal values {xs} must increase")
        return v

    def partial_pressure_Pa(self, o_per_metal: float) -> float | None:
        """Return the calibrated partial pressure of a ratio in Pa.

        None without a calibration or outside it: a lab's calibration is never extrapolated.
        """
        pts = self.calibration
        if not pts or not (pts[0][0] <= o_per_metal <= pts[-1][0]):
            return None
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if x0 <= o_per_metal <= x1:
                return y0 + (y1 - y0) * (o_per_metal - x0) / (x1 - x0)
        return None  # pragma: no cover - the bracket above always holds


class DepositionCalibration(_Strict):
    """The lab's rate calibrations of its deposition sources (optional).

    Attributes:
        sputter_rate_nm_s_per_W_cm2: Per element target, the deposition rate (nm/s of the
            element's own bulk thickness) per W/cm² of target power density. With it, a
            co-sputtering ticket gives every target's power; without, the main target runs at
            the design's power density and the others are set from the lab's calibration.
        target_purity: Printed with every target.
        cvd_precursors: Per element, the CVD precursor.
    """

    sputter_rate_nm_s_per_W_cm2: dict[str, float] = Field(default_factory=dict)
    target_purity: str = Field(default="99.99 % or better", max_length=60)
    cvd_precursors: dict[str, str] = Field(
        default_factory=lambda: {
            "Si": "SiH4",
            "Ge": "GeH4",
            "W": "WF6",
            "Ti": "TiCl4",
            "B": "B2H6",
            "Sn": "SnCl4",
        }
    )

    @field_validator("sputter_rate_nm_s_per_W_cm2")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not (0.0 < x <= 100.0) or not math.isfinite(x)}
        if bad:
            raise ValueError(f"{bad}; limit: 0 < rate <= 100 nm/s per W/cm²")
        return v


class Tolerances(_Strict):
    """How far an as-built value may be from the ticket's target (printed beside it)."""

    thickness_percent: float = Field(default=10.0, gt=0.0, le=100.0)
    composition_at_percent: float = Field(default=2.0, gt=0.0, le=50.0)
    """Absolute, in at.% of each element."""
    oxygen_per_metal: float = Field(default=0.05, gt=0.0, le=1.0)
    porosity_percent: float = Field(default=3.0, gt=0.0, le=50.0)
    """Absolute, in percentage points."""
    temperature_C: float = Field(default=5.0, gt=0.0, le=100.0)
    process_percent: float = Field(default=5.0, gt=0.0, le=100.0)
    """Power, pressure, rates and current densities."""
    positive_loading_percent: float = Field(default=5.0, gt=0.0, le=50.0)
    electrolyte_volume_percent: float = Field(default=5.0, gt=0.0, le=100.0)


class StandardBuild(_Strict):
    """Everything every cell of a campaign shares, printed on every ticket.

    Every section has defaults (a typical coin-cell build); a config that states no
    ``standard_build`` gets them, and every ticket then says so.
    """

    cell_format: CellFormat = CellFormat()
    current_collector: str = Field(
        default="Cu foil, 10 µm, battery grade", min_length=1, max_length=200
    )
    electrolyte: Electrolyte = Electrolyte()
    separator: Separator = Separator()
    cathode: CathodeSupply = CathodeSupply()
    formation: FormationBuild = FormationBuild()
    graphite: GraphiteCoating = GraphiteCoating()
    lithium_layer: LithiumLayerBuild = LithiumLayerBuild()
    reactive_gas: ReactiveGas = ReactiveGas()
    deposition: DepositionCalibration = DepositionCalibration()
    tolerances: Tolerances = Tolerances()

    @model_validator(mode="after")
    def _fits(self) -> StandardBuild:
        sep = self.separator.diameter_mm
        disc = self.cell_format.electrode_diameter_mm
        if sep is not None and disc is not None and sep <= disc:
            raise ValueError(
                f"separator.diameter_mm={sep:g} must exceed cell_format.electrode_diameter_mm="
                f"{disc:g}, else the electrodes touch"
            )
        return self


#: The build printed when the config states none (the ticket says it is not the lab's own).
DEFAULT_STANDARD_BUILD = StandardBuild()
