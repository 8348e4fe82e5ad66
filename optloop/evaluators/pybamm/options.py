"""Options of the PyBaMM evaluator, validated with messages that name the field and the value."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optloop.exceptions import ConfigError, format_validation_error

__all__ = ["FIDELITIES", "CCCVProtocol", "Fidelity", "PybammOptions"]

Fidelity = Literal["screen", "full"]
#: ``"screen"``: a short, censored run; ``"full"``: run to 80 % or the cycle cap.
FIDELITIES: tuple[str, ...] = ("screen", "full")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CCCVProtocol(_Strict):
    """A CC-CV cycle: charge at a C-rate to the upper voltage, hold to a cut-off, discharge.

    The voltage window must lie inside the positive electrode's parameterised OCV range
    (2.5-4.2 V for NMC811 of Chen2020): outside it PyBaMM silently extrapolates the OCP
    (pybamm-findings.md section 5).
    """

    charge_c_rate: float = Field(default=0.5, gt=0.0, le=10.0)
    discharge_c_rate: float = Field(default=1.0, gt=0.0, le=20.0)
    voltage_min_V: float = Field(default=2.5, ge=2.5, le=4.2)
    voltage_max_V: float = Field(default=4.2, ge=2.5, le=4.2)
    cv_cutoff_c_rate: float = Field(default=0.02, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _window(self) -> CCCVProtocol:
        if self.voltage_max_V - self.voltage_min_V < 0.3:
            raise ValueError(
                f"voltage window {self.voltage_min_V}-{self.voltage_max_V} V is narrower than "
                "0.3 V; a cycle would deliver almost nothing"
            )
        if self.cv_cutoff_c_rate >= self.charge_c_rate:
            raise ValueError(
                f"cv_cutoff_c_rate={self.cv_cutoff_c_rate} must be below charge_c_rate="
                f"{self.charge_c_rate}, else the CV hold ends at once"
            )
        return self

    def cycle_steps(self) -> tuple[str, str, str]:
        """Return the three steps of one cycle in PyBaMM's experiment language."""
        return (
            f"Charge at {self.charge_c_rate:g}C until {self.voltage_max_V:g} V",
            f"Hold at {self.voltage_max_V:g} V until C/{1.0 / self.cv_cutoff_c_rate:g}",
            f"Discharge at {self.discharge_c_rate:g}C until {self.voltage_min_V:g} V",
        )


class PybammOptions(_Strict):
    """Options of :class:`~optloop.evaluators.pybamm.evaluator.PybammEvaluator`.

    Attributes:
        parameter_set: PyBaMM parameter set for the electrolyte and the positive electrode;
            it must hold a two-phase negative electrode (``Primary:``/``Secondary:``).
        positive_electrodes: Which design ``cell.positive_electrode`` values this evaluator
            simulates, each with the parameter set that supplies it.
        model: ``"SPM"`` (about 0.07 s per cycle) or ``"SPMe"`` (about 2x slower).
        protocol: The CC-CV cycle.
        cycle_cap: Cycles of a ``"full"`` run, which stops earlier below 80 % (3000 by
            default: with extrapolation a 2000-cycle life costs about as much as 150
            simulated cycles; without it, set a smaller cap).
        screen_cycles: Cycles of a ``"screen"`` run (censored unless it reaches 80 %).
        chunk_cycles: Cycles solved per call; the run stops after the chunk that fell below
            80 %. About 25 balances overhead against wasted cycles.
        end_of_life_fraction: End of life: delivered capacity below this times cycle 1's.
        timeout_s: Wall-time limit of one evaluation; beyond it the evaluation fails.
        coarse_mesh: Use the coarse mesh (2.4x faster, capacities within ~1e-3 Ah).
        extrapolation: Skip cycles by adaptive inter-cycle extrapolation of the cycle-end
            state (Sulzer et al., JES 2021; :mod:`~optloop.evaluators.pybamm.extrapolate`) in
            runs of at least ``extrapolation_min_cycles`` planned cycles; False simulates every
            cycle (brute force). The cycles around the end-of-life crossing are always
            simulated; the BDF frame holds the simulated cycles with their true numbers.
        extrapolation_tolerance: Largest accepted local error of a jump, relative (each
            state to its size, the capacity to cycle 1's); smaller is slower and closer to
            brute force.
        extrapolation_max_jump: Most cycles skipped by one jump.
        extrapolation_drift_window: Cycle-to-cycle differences averaged into the drift a
            jump follows (``window + 1`` cycles are simulated after each jump). Stress-driven
            loss of active material comes in bursts (a quiet cycle loses ~0.85x the mean, a
            burst up to 2.5x), so a one-cycle drift is a noisy sample and the jumps carry its
            error: on a 1 um a-Ge film, windows 1 / 2 / 3 / 4 / 8 gave lives of 863 / 852 /
            714 / 754 / 768 against 769 brute force; over 23 designs window 4 gives a
            median error of 2.1 % and a max of 5.0 % (window 1: 3.2 % / 12.2 %) for 1.8x the
            CPU (``experiments/results/extrapolation.md``).
        extrapolation_min_cycles: Runs planned shorter than this are simulated cycle by
            cycle (the default keeps 50-cycle screens brute force).
        output_dir: Where BDF files are written (by the campaign's process, never by a
            worker); None writes them to ``<run folder>/bdf`` of the evaluator's context.

    Where the simulations run (local pool and its workers, or a Dask cluster) is the
    campaign's top-level ``executor`` section, handed over in the
    :class:`~optloop.evaluators.context.EvaluatorContext`, never an option of its own.
    """

    parameter_set: str = "Chen2020_composite"
    positive_electrodes: dict[str, str] = Field(
        default_factory=lambda: {"NMC811": "Chen2020_composite"}
    )
    model: Literal["SPM", "SPMe"] = "SPM"
    protocol: CCCVProtocol = CCCVProtocol()
    cycle_cap: int = Field(default=3000, ge=1, le=10000)
    screen_cycles: int = Field(default=50, ge=1, le=5000)
    chunk_cycles: int = Field(default=25, ge=1, le=500)
    end_of_life_fraction: float = Field(default=0.8, gt=0.0, lt=1.0)
    timeout_s: float = Field(default=600.0, gt=0.0)
    coarse_mesh: bool = True
    extrapolation: bool = True
    extrapolation_tolerance: float = Field(default=2e-3, gt=0.0, le=0.1)
    extrapolation_max_jump: int = Field(default=200, ge=2, le=5000)
    extrapolation_drift_window: int = Field(default=4, ge=1, le=20)
    extrapolation_min_cycles: int = Field(default=100, ge=1)
    output_dir: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PybammOptions:
        unsupported = {
            k: v for k, v in self.positive_electrodes.items() if v != self.parameter_set
        }
        if unsupported:
            raise ValueError(
                f"positive_electrodes {unsupported}: only positives from parameter_set "
                f"{self.parameter_set!r} are implemented (its NMC811 electrode)"
            )
        if self.screen_cycles > self.cycle_cap:
            raise ValueError(
                f"screen_cycles={self.screen_cycles} exceeds cycle_cap={self.cycle_cap}"
            )
        return self

    def cycles_for(self, fidelity: str) -> int:
        """Return the cycle budget of a fidelity (``"screen"`` or ``"full"``)."""
        if fidelity == "screen":
            return self.screen_cycles
        if fidelity == "full":
            return self.cycle_cap
        raise ValueError(f"fidelity {fidelity!r} unknown; allowed: {list(FIDELITIES)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PybammOptions:
        """Validate a config's ``evaluator.options``, raising :class:`ConfigError` per problem."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "evaluator.options.")) from None
