"""A hidden truth for rehearsals: cells that differ from the cell model systematically.

Off by default. With ``reality`` set in the cycler's options, every cell follows a *true*
curve made from the cell model's profile before the cell's own draws act on it, so the
measured BDF data carry the gap and the metrics are computed from the data as always:

* **per-element bias** of capacity and of life: each alloying element has a capacity factor
  and a life factor (given, or drawn lognormal of mean 1 with a stated spread from the reality
  seed); a design's factor is their geometric mean weighted by the element's share of the
  alloying metals (:attr:`~optloop.space.design.AlloyLayer.alloying`) times the alloy's share
  of the negative electrode's capacity (:func:`~optloop.space.derive`); carbon is unbiased;
* **a different fade law**: the cycle axis of the model's retention curve is warped, with
  ``s`` the fraction of the model's own life: ``s -> s ** fade_exponent`` (the life to the
  end-of-life threshold is kept; above 1 the early fade is slower and the late fade faster),
  then after ``knee_fraction`` of life the fade runs ``knee_acceleration`` times faster;
* **more cell-to-cell spread**: ``capacity_cv`` and ``fade_cv`` multiplied.

The capacity factor scales every cycle's charge and discharge alike and the warp only moves
along the model's own curve, so the truth never raises an efficiency, never makes a capacity
negative and never lifts retention above the model's largest. Every knob is a **rehearsal
setting, not a physical constant**. The true noise-free outcome of each cell is written to
``<state_dir>/truth/<job>.json`` (the campaign never reads it); :func:`true_outcome` gives a
design's for scoring hypervolumes of true outcomes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from optloop.materials.claim_metals import ALLOYING_METALS
from optloop.space import Design, derive

if TYPE_CHECKING:
    from optloop.evaluators.simulated_cycler.options import SimulatedCyclerOptions
    from optloop.evaluators.simulated_cycler.profile import CellProfile

__all__ = [
    "PRESETS",
    "PYBAMM_SINGLE_ELEMENT_LIVES",
    "TRUTH_HORIZON_CYCLES",
    "DesignTruth",
    "RealityOptions",
    "design_truth",
    "element_factors",
    "true_outcome",
]

#: Cycles up to which a true life is searched (beyond: censored at this count).
TRUTH_HORIZON_CYCLES = 50_000

#: PyBaMM's cycle life (to 80 %, cap 600) of 1 um single-element films on NMC811, sputtered,
#: measured with this repository's evaluator (2026-12-06): the order the "misleading" preset
#: reverses (Si < Ge < Sn < Al in both structures; with 40 um graphite all four exceed 600).
PYBAMM_SINGLE_ELEMENT_LIVES: dict[str, dict[str, float]] = {
    "amorphous": {"Si": 51, "Ge": 127, "Sn": 181, "Al": 600},  # Al censored (> 600)
    "crystalline": {"Si": 8, "Ge": 20, "Sn": 28, "Al": 487},
}

#: Named realities; fields given beside a preset override its values.
PRESETS: dict[str, dict[str, Any]] = {
    # A modest gap: random element biases of 5 % (capacity) and 15 % (life), a slightly
    # steeper late fade, 1.5x the cell-to-cell spread.
    "mild": {
        "element_capacity_spread": 0.05,
        "element_life_spread": 0.15,
        "fade_exponent": 1.2,
        "capacity_cv_factor": 1.5,
        "fade_cv_factor": 1.5,
    },
    # Ranks the alloying elements' lives opposite to PyBaMM's (Si > Ge > Sn > Al for the
    # single-element films of PYBAMM_SINGLE_ELEMENT_LIVES), capacities 10-15 % lower than the
    # model's, a knee at 70 % of life after which fade is twice as fast, 2x the spread.
    # Checked on PyBaMM profiles of crystalline 1 um films (cap 300, seed 7): true lives
    # Si 24 > Ge 17 > Sn 13 > Al 8 against the model's 8 < 20 < 28 < 726 (Al extrapolated).
    # A design with graphite dilutes the factors by the alloy's share of the capacity.
    "misleading": {
        "element_life_factor": {"Si": 4.0, "Ge": 1.0, "Sn": 0.5, "Al": 0.01},
        "element_capacity_factor": {"Si": 0.85, "Ge": 0.9, "Sn": 0.9, "Al": 0.9},
        "knee_fraction": 0.7,
        "knee_acceleration": 2.0,
        "capacity_cv_factor": 2.0,
        "fade_cv_factor": 2.0,
    },
}

_CapacityFactor = Annotated[float, Field(ge=0.1, le=2.0)]
_LifeFactor = Annotated[float, Field(ge=0.01, le=20.0)]


class RealityOptions(BaseModel):
    """The hidden truth of a rehearsal (every field a rehearsal setting, not a constant).

    Attributes:
        preset: ``"mild"`` or ``"misleading"`` (see :data:`PRESETS`); fields given beside it
            override the preset's.
        seed: Seed of the random element biases; ``None``: the campaign seed.
        element_capacity_factor: Capacity factor per alloying element (0.1-2).
        element_life_factor: Life factor per alloying element (0.01-20; above 1 lives longer).
        element_capacity_spread: CV of the random capacity factor of unlisted elements.
        element_life_spread: CV of the random life factor of unlisted elements.
        fade_exponent: Exponent on the fraction of life (0.25-4; 1: the model's fade law).
        knee_fraction: Fraction of the model's life after which fade accelerates (0-1].
        knee_acceleration: How much faster fade runs after the knee (1-20; 1: no knee).
        capacity_cv_factor: Multiplies the cycler's ``capacity_cv`` (0-20).
        fade_cv_factor: Multiplies the cycler's ``fade_cv`` (0-20).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: Literal["mild", "misleading"] | None = None
    seed: int | None = Field(default=None, ge=0)
    element_capacity_factor: dict[str, _CapacityFactor] = Field(default_factory=dict)
    element_life_factor: dict[str, _LifeFactor] = Field(default_factory=dict)
    element_capacity_spread: float = Field(default=0.0, ge=0.0, le=1.0)
    element_life_spread: float = Field(default=0.0, ge=0.0, le=1.0)
    fade_exponent: float = Field(default=1.0, ge=0.25, le=4.0)
    knee_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    knee_acceleration: float = Field(default=1.0, ge=1.0, le=20.0)
    capacity_cv_factor: float = Field(default=1.0, ge=0.0, le=20.0)
    fade_cv_factor: float = Field(default=1.0, ge=0.0, le=20.0)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("preset") in PRESETS:
            return {**PRESETS[str(data["preset"])], **dict(data)}
        return data

    @field_validator("element_capacity_factor", "element_life_factor")
    @classmethod
    def _elements(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(ALLOYING_METALS))
        if unknown:
            raise ValueError(
                f"unknown alloying element(s) {unknown}; allowed: {list(ALLOYING_METALS)}"
            )
        return v

    def effective_seed(self, campaign_seed: int) -> int:
        """Return the seed of the random element biases."""
        return campaign_seed if self.seed is None else self.seed


def _lognormal_mean_one(seed: int, kind: str, element: str, cv: float) -> float:
    if cv <= 0:
        return 1.0
    digest = hashlib.sha256(f"reality:{kind}:{element}".encode()).digest()
    rng = np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])
    sigma = math.sqrt(math.log1p(cv * cv))
    return float(rng.lognormal(-0.5 * sigma * sigma, sigma))


def element_factors(
    reality: RealityOptions, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Return the capacity and life factor of every alloying element (given or drawn).

    Each element's draw has its own stream (seed, kind, element), so listing one element
    leaves the others' draws unchanged.
    """
    s = reality.effective_seed(seed)
    cap = {e: reality.element_capacity_factor.get(
        e, _lognormal_mean_one(s, "capacity", e, reality.element_capacity_spread))
        for e in ALLOYING_METALS}
    life = {e: reality.element_life_factor.get(
        e, _lognormal_mean_one(s, "life", e, reality.element_life_spread))
        for e in ALLOYING_METALS}
    return cap, life


def retention_curve(profile: CellProfile) -> np.ndarray:
    """Return the profile's retention per model cycle (delivered / cycle 1's)."""
    assert profile.cycles is not None
    q = np.asarray(profile.cycles.discharge_Ah, dtype=float)
    return q / q[0]


def first_below(retention: np.ndarray, threshold: float) -> int | None:
    """Return the first (1-based) cycle whose retention is below ``threshold``, or None."""
    below = np.flatnonzero(retention < threshold)
    return None if below.size == 0 else int(below[0]) + 1


@dataclass(frozen=True)
class DesignTruth:
    """The true curve of one design: a capacity factor and a map of the cycle axis."""

    capacity_factor: float
    life_factor: float
    fade_exponent: float
    knee_fraction: float
    knee_acceleration: float
    model_life: int | None
    """The cell model's own life in its cycles (None: beyond the horizon; no warp)."""
    element_weights: dict[str, float] = field(default_factory=dict)

    def model_cycle(self, u: np.ndarray) -> np.ndarray:
        """Return the model cycle a true (fractional) cycle ``u >= 1`` reads.

        The life factor stretches the axis; then the fraction of the model's life ``s`` is
        mapped to ``s ** fade_exponent`` and, past ``knee_fraction``, runs
        ``knee_acceleration`` times faster.
        """
        v = 1.0 + (np.asarray(u, dtype=float) - 1.0) / self.life_factor
        if self.model_life is None or self.model_life <= 1:
            return v
        span = float(self.model_life - 1)
        s = np.maximum(v - 1.0, 0.0) / span
        h = s**self.fade_exponent
        k = self.knee_fraction
        h = np.where(h > k, k + self.knee_acceleration * (h - k), h)
        return 1.0 + span * h

    def summary(self) -> dict[str, Any]:
        """Return the truth as JSON-ready data."""
        return asdict(self)


def design_truth(
    reality: RealityOptions,
    design: Mapping[str, Any] | Design,
    profile: CellProfile,
    *,
    seed: int,
    threshold: float,
) -> DesignTruth:
    """Return a design's true curve from the reality, its composition and its model profile.

    Args:
        reality: The reality options.
        design: The design (dict as the evaluator receives it, or a :class:`Design`).
        profile: The cell model's successful profile of the design.
        seed: The campaign seed (used when ``reality.seed`` is None).
        threshold: End of life: retention below this.
    """
    from optloop.evaluators.simulated_cycler.cell import model_retention

    d = design if isinstance(design, Design) else Design.from_dict(dict(design))
    cap, life = element_factors(reality, seed)
    weights: dict[str, float] = {}
    if d.alloy_layer is not None:
        derived = derive(d)
        total = derived.alloy_areal_capacity_mAh_cm2 + derived.carbon_areal_capacity_mAh_cm2
        alloy_share = derived.alloy_areal_capacity_mAh_cm2 / total if total > 0 else 1.0
        alloying = d.alloy_layer.alloying
        x_sum = sum(alloying.values())
        weights = {e: alloy_share * x / x_sum for e, x in alloying.items()}
    cap_f = math.exp(sum(w * math.log(cap[e]) for e, w in weights.items()))
    life_f = math.exp(sum(w * math.log(life[e]) for e, w in weights.items()))
    r = retention_curve(profile)
    x = np.arange(1, TRUTH_HORIZON_CYCLES + 1, dtype=float)
    model_life = first_below(model_retention(x, r), threshold)
    return DesignTruth(
        capacity_factor=cap_f,
        life_factor=life_f,
        fade_exponent=reality.fade_exponent,
        knee_fraction=reality.knee_fraction,
        knee_acceleration=reality.knee_acceleration,
        model_life=model_life,
        element_weights=weights,
    )


def true_life(
    truth: DesignTruth, profile: CellProfile, *, threshold: float, fade_factor: float = 1.0
) -> tuple[int, bool]:
    """Return the noise-free true cycle life (and if censored at the horizon) of a cell."""
    from optloop.evaluators.simulated_cycler.cell import model_retention

    n = np.arange(1, TRUTH_HORIZON_CYCLES + 1, dtype=float)
    x = truth.model_cycle(1.0 + (n - 1.0) / fade_factor)
    life = first_below(model_retention(x, retention_curve(profile)), threshold)
    return (TRUTH_HORIZON_CYCLES, True) if life is None else (life, False)


def outcome_of(
    truth: DesignTruth,
    profile: CellProfile,
    design: Mapping[str, Any] | Design,
    *,
    threshold: float,
    electrode_area_cm2: float,
    capacity_factor: float = 1.0,
    fade_factor: float = 1.0,
) -> dict[str, Any]:
    """Return a cell's true noise-free metrics (the campaign's names) and its model's life."""
    assert profile.cycles is not None
    d = design if isinstance(design, Design) else Design.from_dict(dict(design))
    c = profile.cycles
    life, censored = true_life(truth, profile, threshold=threshold, fade_factor=fade_factor)
    q1 = c.discharge_Ah[0] * truth.capacity_factor * capacity_factor
    areal = q1 * 1000.0 / electrode_area_cm2
    out: dict[str, Any] = {
        "cycle_life": life,
        "cycle_life_censored": censored,
        "model_cycle_life": truth.model_life,
        "discharge_capacity_Ah": q1,
        "areal_capacity_mAh_cm2": areal,
    }
    mass = derive(d).anode_mass_mg_cm2
    if mass > 0:
        out["anode_specific_capacity_mAh_g"] = areal / (mass * 1e-3)
    eff = profile.first_cycle_efficiency
    if eff is None:
        eff = c.discharge_Ah[0] / (c.charge_cc_Ah[0] + c.charge_cv_Ah[0])
    out["first_cycle_efficiency"] = eff
    if profile.stack_thickness_m is not None:
        energy = q1 * 0.5 * (c.discharge_start_V[0] + c.discharge_end_V[0])
        volume_L = electrode_area_cm2 * profile.stack_thickness_m * 1e2 * 1e-3
        out["energy_density_Wh_L"] = energy / volume_L
    return out


def true_outcome(
    options: SimulatedCyclerOptions | Mapping[str, Any],
    design: Mapping[str, Any],
    *,
    seed: int,
    fidelity: str = "full",
    profile: CellProfile | None = None,
) -> dict[str, Any]:
    """Return a design's true noise-free outcome (a typical cell: no draws, no early stop).

    **Rehearsal only**: for scoring the hypervolume of true outcomes. Metric names are the
    campaign's (``cycle_life``, ``areal_capacity_mAh_cm2``, ...); ``model_cycle_life`` is
    the cell model's own life for comparison.

    Args:
        options: The cycler's options (with ``reality``; without, the truth is the model).
        design: The design dict.
        seed: The campaign seed.
        fidelity: The fidelity of the cell model's profile.
        profile: The cell model's profile; ``None``: a ``module:function`` cell model is
            called, else the profile cached in ``state_dir`` is read.

    Raises:
        EvaluationError: If no profile is given, cached or computable, or it failed.
    """
    from optloop.evaluators.base import design_json
    from optloop.evaluators.simulated_cycler.evaluator import (
        ELECTRODE_AREA_CM2,
        _load_cell_model,
    )
    from optloop.evaluators.simulated_cycler.options import (
        SimulatedCyclerOptions,
        physics_options,
    )
    from optloop.evaluators.simulated_cycler.profile import CellProfile, profile_key
    from optloop.exceptions import EvaluationError

    opts = (options if isinstance(options, SimulatedCyclerOptions)
            else SimulatedCyclerOptions.from_dict(dict(options)))
    design_dict = json.loads(design_json(design))
    if profile is None and opts.cell_model != "pybamm":
        profile = CellProfile.model_validate(
            _load_cell_model(opts.cell_model)(dict(design_dict), fidelity)
        )
    if profile is None and opts.state_dir:
        model = {"cell_model": opts.cell_model,
                 "pybamm": physics_options(opts.pybamm_options(
                     str(Path(opts.state_dir) / "pybamm")))}
        path = Path(opts.state_dir) / "profiles" / (
            profile_key(design_dict, fidelity, model) + ".json")
        if path.exists():
            profile = CellProfile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    if profile is None or not profile.ok:
        why = "no profile (pass profile= or cycle the design first)" if profile is None \
            else f"its profile failed ({profile.reason})"
        raise EvaluationError(f"true_outcome: {why}")
    reality = opts.reality or RealityOptions()
    threshold = opts.pybamm_options(None).end_of_life_fraction
    truth = design_truth(reality, design_dict, profile, seed=seed, threshold=threshold)
    out = outcome_of(truth, profile, design_dict, threshold=threshold,
                     electrode_area_cm2=ELECTRODE_AREA_CM2)
    out["rehearsal_only"] = True
    out["truth"] = truth.summary()
    out["reality"] = reality.model_dump(mode="json")
    return out
