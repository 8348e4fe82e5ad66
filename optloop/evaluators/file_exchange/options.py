"""Options of the file-exchange evaluator: the exchange folder, the lab's cells and protocol."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optloop.evaluators.file_exchange.build import StandardBuild
from optloop.exceptions import ConfigError, format_validation_error

__all__ = [
    "DEFAULT_VOLTAGE_WINDOW_V",
    "CyclingProtocol",
    "FileExchangeOptions",
]

#: Voltage window used when the protocol gives none: a full cell against NMC/NCA/LFP-class
#: positives, or the anode against lithium (delithiation stops at 1.5 V, lithiation near 0 V).
DEFAULT_VOLTAGE_WINDOW_V: dict[str, tuple[float, float]] = {
    "full": (2.5, 4.2),
    "half": (0.01, 1.5),
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CyclingProtocol(_Strict):
    """The cycling protocol, in the units a technician sets on the cycler.

    C-rates are relative to the cell's nominal capacity (the ticket converts them to mA from
    the design's theoretical capacity and the electrode area). ``None`` voltages take the
    window of the cell configuration (:data:`DEFAULT_VOLTAGE_WINDOW_V`).

    Attributes:
        charge_c_rate: Constant-current charge rate (positive current).
        discharge_c_rate: Constant-current discharge rate.
        voltage_min_V: Lower cut-off voltage.
        voltage_max_V: Upper cut-off voltage.
        cv_cutoff_c_rate: After the CC charge, hold the upper voltage until the current falls
            to this rate; ``None``: no constant-voltage step.
        temperature_C: Chamber temperature.
        cycles: Cycles after formation for fidelity ``"full"`` (the test may stop at end of
            life earlier).
        screen_cycles: Cycles after formation for fidelity ``"screen"``; ``None`` offers only
            ``"full"``.
        formation_cycles: Slow cycles run first (SEI formation).
        formation_c_rate: C-rate of charge and discharge during formation.
        rest_min: Rest after each charge and discharge step.
    """

    charge_c_rate: float = Field(default=0.5, gt=0.0, le=20.0)
    discharge_c_rate: float = Field(default=0.5, gt=0.0, le=20.0)
    voltage_min_V: float | None = Field(default=None, ge=-1.0, le=6.0)
    voltage_max_V: float | None = Field(default=None, ge=-1.0, le=6.0)
    cv_cutoff_c_rate: float | None = Field(default=0.05, gt=0.0, le=5.0)
    temperature_C: float = Field(default=25.0, ge=-40.0, le=80.0)
    cycles: int = Field(default=200, ge=1, le=20_000)
    screen_cycles: int | None = Field(default=None, ge=1, le=20_000)
    formation_cycles: int = Field(default=1, ge=0, le=20)
    formation_c_rate: float = Field(default=0.1, gt=0.0, le=5.0)
    rest_min: float = Field(default=10.0, ge=0.0, le=1440.0)

    @model_validator(mode="after")
    def _consistent(self) -> CyclingProtocol:
        if (
            self.voltage_min_V is not None
            and self.voltage_max_V is not None
            and self.voltage_max_V - self.voltage_min_V < 0.1
        ):
            raise ValueError(
                f"voltage window {self.voltage_min_V}-{self.voltage_max_V} V; limit: "
                "voltage_max_V - voltage_min_V >= 0.1 V"
            )
        if self.cv_cutoff_c_rate is not None and self.cv_cutoff_c_rate >= self.charge_c_rate:
            raise ValueError(
                f"cv_cutoff_c_rate={self.cv_cutoff_c_rate} must be below charge_c_rate="
                f"{self.charge_c_rate}, else the CV hold ends at once"
            )
        if self.screen_cycles is not None and self.screen_cycles > self.cycles:
            raise ValueError(
                f"screen_cycles={self.screen_cycles} exceeds cycles={self.cycles}; limit: "
                "screen_cycles <= cycles"
            )
        return self

    def window_V(self, cell: str) -> tuple[float, float]:
        """Return ``(voltage_min_V, voltage_max_V)``, defaults filled in for ``cell``."""
        low, high = DEFAULT_VOLTAGE_WINDOW_V[cell]
        return (
            low if self.voltage_min_V is None else self.voltage_min_V,
            high if self.voltage_max_V is None else self.voltage_max_V,
        )

    def fidelities(self) -> list[str]:
        """Return the fidelities this protocol offers: ``"full"`` and maybe ``"screen"``."""
        return ["full"] if self.screen_cycles is None else ["full", "screen"]

    def cycles_for(self, fidelity: str) -> int:
        """Return the cycles after formation of a fidelity.

        Raises:
            ValueError: If the fidelity is not offered.
        """
        if fidelity == "full":
            return self.cycles
        if fidelity == "screen" and self.screen_cycles is not None:
            return self.screen_cycles
        raise ValueError(f"fidelity={fidelity!r} unknown; allowed: {self.fidelities()}")

    def est_duration_s(self, fidelity: str = "full") -> float:
        """Return the longest test time of a fidelity: CC steps, rests, no CV tail, in s."""
        rest_h = 2.0 * self.rest_min / 60.0
        cycle_h = 1.0 / self.charge_c_rate + 1.0 / self.discharge_c_rate + rest_h
        formation_h = 2.0 / self.formation_c_rate + rest_h
        hours = self.cycles_for(fidelity) * cycle_h + self.formation_cycles * formation_h
        return hours * 3600.0


class FileExchangeOptions(_Strict):
    """Options of :class:`~optloop.evaluators.file_exchange.FileExchangeEvaluator`.

    Attributes:
        root: The exchange folder shared with the lab; ``outbox/``, ``inbox/``,
            ``quarantine/``, ``accepted/`` and ``state/`` are created in it on first use.
            Use one folder per campaign: trial ids (``trial-0001``) repeat across campaigns.
        channels: Cycler channels the lab gives the campaign (jobs at once).
        cell: ``"full"`` or ``"half"`` (the anode against lithium: delivered capacity is the
            delithiation, coulombic efficiency inverted).
        electrode_area_cm2: Negative-electrode area of the lab's cells (1.54 cm² for a 14 mm
            coin-cell disc); a result's metadata may give another per cell.
        protocol: The cycling protocol written on every ticket.
        reference: Reference capacity of retention and cycle life: cycle 1 after formation
            (``"first"``) or the largest of its first five (``"max_early"``).
        threshold: End of life: delivered capacity below ``threshold`` times the reference.
        formation_cycles: Leading cycles left out of cycle life, retention and capacity
            (their first-cycle efficiency is still reported); ``None``: the protocol's.
        stale_after_h: A submitted job with no news from the lab for this long is LOST.
        incomplete_grace_s: A data file without its metadata sentinel (or a sentinel without
            its data file) is quarantined as incomplete this long after optloop first saw it
            (never the file's own timestamp, which copies keep).
        capacity_ratio_min: A result is held for review (quarantined: "check the trial id")
            when its largest delivered capacity after formation is below this fraction of the
            ticket's nominal capacity (the positive loading for a full cell, the anode's
            reversible capacity for a half cell).
        capacity_ratio_max: ...or above this multiple of it: a full cell cannot deliver much
            more than its positive electrode holds (loadings vary by a few per cent).
        ce_tolerance: A full cell's median coulombic efficiency after formation above
            ``1 + ce_tolerance`` holds the result (more charge out than in: a wrong sign
            convention, a half-cell file, or the wrong trial). Low efficiencies are data.
        standard_build: What every cell shares (format, electrolyte, separator, cathode
            supply, formation rest, graphite and lithium-layer processes, calibrations,
            tolerances), printed on every ticket; ``None``: typical coin-cell defaults, and
            every ticket says they are not the lab's own.
    """

    root: str = Field(min_length=1)
    channels: int = Field(default=8, ge=1, le=10_000)
    cell: Literal["full", "half"] = "full"
    electrode_area_cm2: float = Field(default=1.54, gt=0.0, le=10_000.0)
    protocol: CyclingProtocol = CyclingProtocol()
    reference: Literal["first", "max_early"] = "first"
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    formation_cycles: int | None = Field(default=None, ge=0, le=20)
    stale_after_h: float = Field(default=14 * 24.0, gt=0.0, le=24.0 * 365 * 5)
    incomplete_grace_s: float = Field(default=3600.0, ge=0.0, le=30 * 86400.0)
    capacity_ratio_min: float = Field(default=0.1, ge=0.0, le=1.0)
    capacity_ratio_max: float = Field(default=1.2, ge=1.0, le=100.0)
    ce_tolerance: float = Field(default=0.005, ge=0.0, le=1.0)
    standard_build: StandardBuild | None = None

    @model_validator(mode="after")
    def _window(self) -> FileExchangeOptions:
        low, high = self.protocol.window_V(self.cell)
        if high - low < 0.1:
            raise ValueError(
                f"protocol voltage window {low}-{high} V for a {self.cell} cell; limit: "
                "voltage_max_V - voltage_min_V >= 0.1 V"
            )
        disc = (
            self.standard_build.cell_format.electrode_diameter_mm
            if self.standard_build is not None
            else None
        )
        if disc is not None:
            area = math.pi * (disc / 20.0) ** 2
            if abs(area - self.electrode_area_cm2) > 0.02 * self.electrode_area_cm2:
                raise ValueError(
                    f"standard_build.cell_format.electrode_diameter_mm={disc:g} makes "
                    f"{area:.3g} cm², but electrode_area_cm2={self.electrode_area_cm2:g}; "
                    "limit: within 2 % of each other"
                )
        return self

    @property
    def root_path(self) -> Path:
        """Return :attr:`root` as an absolute path (``~`` expanded)."""
        return Path(self.root).expanduser().absolute()

    @property
    def metric_formation_cycles(self) -> int:
        """Return the leading cycles left out of the metrics."""
        if self.formation_cycles is None:
            return self.protocol.formation_cycles
        return self.formation_cycles

    @classmethod
    def from_dict(cls, data: Any) -> FileExchangeOptions:
        """Validate a config's ``evaluator.options``, raising :class:`ConfigError` per problem."""
        if isinstance(data, FileExchangeOptions):
            return data
        if data is not None and not isinstance(data, dict):
            raise ConfigError(
                [f"evaluator.options: must be a mapping; got {type(data).__name__}"]
            )
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "evaluator.options.")) from None
