"""Options of the simulated cycler, validated with messages that name the field and the value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from optloop.evaluators.pybamm.options import PybammOptions
from optloop.evaluators.simulated_cycler.reality import RealityOptions
from optloop.exceptions import ConfigError, format_validation_error

__all__ = ["SCHEDULE_FIELDS", "SimulatedCyclerOptions"]

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

#: Options that shape the schedule and the cells; a state folder keeps the values it was
#: started with (and the campaign seed), so every process replays the same lab.
SCHEDULE_FIELDS: tuple[str, ...] = (
    "channels",
    "build_lead_time_h",
    "time_scale",
    "cycle_duration_h",
    "capacity_cv",
    "fade_cv",
    "measurement_noise",
    "lost_cell_probability",
    "channel_fault_rate_per_day",
    "channel_repair_days",
    "cell_model",
)
# PyBaMM options that change neither the physics nor the protocol (left out of cache keys).
_PYBAMM_RUNTIME_FIELDS = ("workers", "output_dir", "timeout_s", "executor")
# Set by the campaign (the top-level ``executor`` section) or by the cycler, never here.
_PYBAMM_NOT_HERE = {
    "executor": "the executor comes from the config's top-level executor section",
    "workers": "workers come from the config's top-level executor.workers",
    "output_dir": "the cycler keeps PyBaMM's files in state_dir/pybamm",
}


class SimulatedCyclerOptions(BaseModel):
    """Options of :class:`~optloop.evaluators.simulated_cycler.SimulatedCycler`.

    The seed of every random draw is the campaign's (``context.seed``), and PyBaMM runs on the
    campaign's executor (``context.executor``): neither is an option here.

    Attributes:
        state_dir: Folder of the jobs, channel state, BDF files and cell-model cache; ``None``:
            ``<run_dir>/cycler`` of the campaign (``context.run_dir``).
        channels: Cycler channels; at most this many cells cycle at once.
        build_lead_time_h: Hours to build a cell after submission, before it can start.
        time_scale: Simulated seconds per wall-clock second (86400: a simulated day per
            second); 1 is real time.
        cycle_duration_h: Hours of the first cycle; ``None`` takes the cell model's own cycle
            times. Step currents are scaled so capacities are unchanged.
        capacity_cv: Cell-to-cell coefficient of variation of capacity (lognormal factor).
        fade_cv: Cell-to-cell coefficient of variation of the fade rate: a lognormal factor
            (mean 1) stretching the cycle axis of the retention curve.
        measurement_noise: Relative standard deviation of each cycle's measured capacities.
        lost_cell_probability: Chance that a cell dies (short or open circuit) at a random
            cycle of its test.
        channel_fault_rate_per_day: Faults per channel per simulated day of up time; a fault
            ends the running test as LOST.
        channel_repair_days: Days a faulted channel is down.
        pybamm: Options of the inner :class:`~optloop.evaluators.pybamm.PybammEvaluator`
            (cycle_cap, screen_cycles, protocol, timeout_s, ...; not executor, workers or
            output_dir); its ``cycles_for(fidelity)`` is the test protocol's cycle count.
        cell_model: ``"pybamm"``, or ``"module:function"``: a callable
            ``(design: dict, fidelity: str) -> dict`` returning a
            :class:`~optloop.evaluators.simulated_cycler.profile.CellProfile` dict.
        reality: A hidden truth that differs from the cell model (per-element bias, another
            fade law, more spread): :class:`~optloop.evaluators.simulated_cycler.reality.
            RealityOptions`; ``None`` (default): cells follow the cell model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: str | None = None
    channels: int = Field(default=8, ge=1, le=1024)
    build_lead_time_h: float = Field(default=48.0, ge=0.0, le=10_000.0)
    time_scale: float = Field(default=1.0, gt=0.0, le=1e9)
    cycle_duration_h: float | None = Field(default=None, gt=0.0, le=1000.0)
    capacity_cv: float = Field(default=0.02, ge=0.0, le=0.5)
    fade_cv: float = Field(default=0.10, ge=0.0, le=2.0)
    measurement_noise: float = Field(default=0.002, ge=0.0, le=0.1)
    lost_cell_probability: float = Field(default=0.05, ge=0.0, le=1.0)
    channel_fault_rate_per_day: float = Field(default=0.005, ge=0.0, le=100.0)
    channel_repair_days: float = Field(default=2.0, ge=0.0, le=10_000.0)
    pybamm: PybammOptions = Field(default_factory=PybammOptions)
    cell_model: str = "pybamm"
    reality: RealityOptions | None = None

    @model_validator(mode="after")
    def _spread(self) -> SimulatedCyclerOptions:
        r = self.reality
        if r is not None:
            for name, limit in (("capacity_cv", 0.5), ("fade_cv", 2.0)):
                factor = getattr(r, f"{name}_factor")
                value = getattr(self, name) * factor
                if value > limit:
                    raise ValueError(
                        f"reality.{name}_factor={factor:g} makes {name} "
                        f"{getattr(self, name):g} x {factor:g} = {value:g}; limit: <= {limit:g}"
                    )
        return self

    @field_validator("cell_model")
    @classmethod
    def _cell_model(cls, v: str) -> str:
        if v != "pybamm" and not _TARGET.match(v):
            raise ValueError("must be 'pybamm' or 'module:function'")
        return v

    @field_validator("pybamm", mode="before")
    @classmethod
    def _pybamm(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            for key, why in _PYBAMM_NOT_HERE.items():
                # None is what a dump of these options holds: a JSON round trip stays valid.
                if v.get(key) is not None:
                    raise ValueError(f"pybamm.{key}={v[key]!r} is not an option here: {why}")
        return v

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SimulatedCyclerOptions:
        """Validate a config's ``evaluator.options``, raising :class:`ConfigError` per problem."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "evaluator.options.")) from None

    def pybamm_options(self, output_dir: str | None) -> PybammOptions:
        """Return the inner PyBaMM evaluator's options.

        Args:
            output_dir: Where PyBaMM writes its BDF files.
        """
        # The options as written (defaults of unset fields are PyBaMM's own, as before).
        data: dict[str, Any] = self.pybamm.model_dump(mode="json", exclude_unset=True)
        data["output_dir"] = output_dir
        return PybammOptions.from_dict(data)

    def fingerprint(self, seed: int) -> dict[str, Any]:
        """Return what must not change within one state folder (with the seed), as JSON."""
        out: dict[str, Any] = {name: getattr(self, name) for name in SCHEDULE_FIELDS}
        out["seed"] = seed
        out["pybamm"] = physics_options(self.pybamm_options(None))
        if self.reality is not None:  # absent when off: older state folders stay valid
            out["reality"] = self.reality.model_dump(mode="json")
        return out


def physics_options(options: PybammOptions) -> dict[str, Any]:
    """Return the PyBaMM options that shape a cell's behaviour (not workers, paths, timeouts)."""
    data = options.model_dump(mode="json")
    for name in _PYBAMM_RUNTIME_FIELDS:
        data.pop(name, None)
    return data
