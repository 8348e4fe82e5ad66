"""The simulated cycler's hidden truth (reality gap): bias, fade law, presets, secrecy, seeds.

Fast: the synthetic cell models only (no PyBaMM), a fake clock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optloop.data import integrate_capacity
from optloop.evaluators.base import JobState
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.simulated_cycler import SimulatedCycler, synthetic_profile, true_outcome
from optloop.evaluators.simulated_cycler.cell import (
    RECORDS_PER_CYCLE,
    build_cell_test,
    draw_cell,
)
from optloop.evaluators.simulated_cycler.profile import CellProfile
from optloop.evaluators.simulated_cycler.reality import (
    PYBAMM_SINGLE_ELEMENT_LIVES,
    RealityOptions,
    design_truth,
)
from optloop.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from pybamm_designs import alloy, design  # noqa: E402

SYNTHETIC = "optloop.evaluators.simulated_cycler.profile:synthetic_profile"
ELEMENTS = "test_simulated_cycler_reality:element_profile"
DAY = 86400.0
SI = design(alloy({"Si": 1.0}, 1.0))
AL = design(alloy({"Al": 1.0}, 1.0))

#: Made-up relative fade rates in PyBaMM's order (Si fades fastest, Al slowest; see
#: PYBAMM_SINGLE_ELEMENT_LIVES): the test's stand-in for PyBaMM's element ranking.
_FADE = {"Si": 1.0, "Ge": 0.45, "Sn": 0.3, "Al": 0.12}


def element_profile(d: dict[str, Any], fidelity: str) -> dict[str, Any]:
    """Return the synthetic profile with a fade rate that depends on the alloying element."""
    profile = synthetic_profile(d, fidelity)
    comp = (d.get("alloy_layer") or {}).get("composition", {})
    rate = sum(_FADE.get(e, 1.0) * x for e, x in comp.items())
    c = profile["cycles"]
    q1 = c["discharge_Ah"][0]
    n = np.arange(len(c["discharge_Ah"]), dtype=float)
    q = q1 * np.clip(1.0 - 0.004 * rate * n, 0.05, None)
    scale = q / np.asarray(c["discharge_Ah"])
    for key in ("charge_cc_Ah", "charge_cv_Ah", "discharge_Ah", "cc_s", "discharge_s"):
        c[key] = [float(v) for v in np.asarray(c[key]) * scale]
    return profile


def opts(tmp_path: Path, name: str = "lab", **extra: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "state_dir": str(tmp_path / name),
        "time_scale": DAY,
        "cell_model": SYNTHETIC,
        "pybamm": {"cycle_cap": 400, "screen_cycles": 10},
        "lost_cell_probability": 0.0,
        "channel_fault_rate_per_day": 0.0,
        "build_lead_time_h": 0.0,
    }
    o.update(extra)
    return o


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run_cell(tmp_path: Path, d: dict[str, Any], name: str, seed: int = 5, **extra: Any
             ) -> tuple[SimulatedCycler, str]:
    clock = Clock()
    ev = SimulatedCycler(opts(tmp_path, name, **extra), context=EvaluatorContext(seed=seed),
                         clock=clock)
    job = ev.submit(d, trial_id="t1")
    for _ in range(400):
        if ev.status(job).state.is_terminal:
            break
        clock.t += 5.0  # five simulated days
    assert ev.status(job).state is JobState.SUCCEEDED
    return ev, job


def test_bias_moves_life_and_capacity_by_the_stated_factor() -> None:
    base = true_outcome({"cell_model": SYNTHETIC}, SI, seed=1)
    biased = true_outcome(
        {"cell_model": SYNTHETIC, "reality": {"element_life_factor": {"Si": 1.5},
                                              "element_capacity_factor": {"Si": 0.8}}},
        SI, seed=1,
    )
    # Lives are whole cycles: the ratio is 1.5 within one cycle of ~60 (tolerance 3 %).
    assert biased["cycle_life"] / base["cycle_life"] == pytest.approx(1.5, rel=0.03)
    assert biased["model_cycle_life"] == base["cycle_life"]
    assert biased["areal_capacity_mAh_cm2"] / base["areal_capacity_mAh_cm2"] == pytest.approx(
        0.8, rel=1e-12)
    # A carbon layer dilutes the bias by the alloy's share of the electrode's capacity.
    mixed = design(alloy({"Si": 1.0}, 1.0), carbon_um=40.0)
    truth = true_outcome({"cell_model": SYNTHETIC,
                          "reality": {"element_capacity_factor": {"Si": 0.8}}}, mixed, seed=1)
    share = truth["truth"]["element_weights"]["Si"]
    assert 0.0 < share < 1.0
    assert truth["truth"]["capacity_factor"] == pytest.approx(0.8**share, rel=1e-12)


def test_fade_law_keeps_life_with_an_exponent_and_shortens_it_after_a_knee() -> None:
    base = true_outcome({"cell_model": SYNTHETIC}, SI, seed=1)["cycle_life"]
    bent = true_outcome({"cell_model": SYNTHETIC, "reality": {"fade_exponent": 2.0}}, SI,
                        seed=1)["cycle_life"]
    assert abs(bent - base) <= 1  # the exponent keeps the life to 80 % (within a cycle)
    knee = true_outcome({"cell_model": SYNTHETIC,
                         "reality": {"knee_fraction": 0.5, "knee_acceleration": 3.0}}, SI,
                        seed=1)["cycle_life"]
    # Expected 1 + (base - 1) * (0.5 + 0.5 / 3) = 2/3 of the life; tolerance two cycles.
    assert knee == pytest.approx(1 + (base - 1) * (0.5 + 0.5 / 3.0), abs=2)


def test_misleading_preset_reverses_the_element_ranking() -> None:
    # The preset's factors reverse PyBaMM's measured order at both structures.
    factors = RealityOptions(preset="misleading").element_life_factor
    for lives in PYBAMM_SINGLE_ELEMENT_LIVES.values():
        order = sorted(lives, key=lives.get)  # type: ignore[arg-type]
        true = {e: lives[e] * factors[e] for e in lives}
        assert sorted(true, key=true.get, reverse=True) == order  # type: ignore[arg-type]
    model = {"cell_model": ELEMENTS}
    wrong = {"cell_model": ELEMENTS, "reality": {"preset": "misleading"}}
    si, al = (true_outcome(model, d, seed=3)["cycle_life"] for d in (SI, AL))
    si_t, al_t = (true_outcome(wrong, d, seed=3)["cycle_life"] for d in (SI, AL))
    assert si < al and si_t > al_t, (si, al, si_t, al_t)
    # All four single-element films: the cell model's order reversed.
    films = {e: design(alloy({e: 1.0}, 1.0)) for e in ("Si", "Ge", "Sn", "Al")}
    mod = {e: true_outcome(model, d, seed=3)["cycle_life"] for e, d in films.items()}
    tru = {e: true_outcome(wrong, d, seed=3)["cycle_life"] for e, d in films.items()}
    assert sorted(mod, key=mod.get) == sorted(tru, key=tru.get, reverse=True), (mod, tru)


def test_measured_data_carry_the_truth_and_the_result_never_shows_it(tmp_path: Path) -> None:
    quiet = {"capacity_cv": 0.0, "fade_cv": 0.0, "measurement_noise": 0.0}
    reality = {"element_life_factor": {"Si": 1.5}, "element_capacity_factor": {"Si": 0.8}}
    plain, job0 = run_cell(tmp_path, SI, "plain", **quiet)
    ev, job = run_cell(tmp_path, SI, "real", reality=reality, **quiet)
    r0, r1 = plain.fetch(job0), ev.fetch(job)
    truth = json.loads((tmp_path / "real" / "truth" / f"{job}.json").read_text())
    # Noise-free cells: the measured life is the true one (within a cycle), from the data.
    assert abs(r1.metrics["cycle_life"] - truth["cell"]["cycle_life"]) <= 1
    assert r1.metrics["cycle_life"] / r0.metrics["cycle_life"] == pytest.approx(1.5, rel=0.03)
    assert r1.metrics["areal_capacity_mAh_cm2"] / r0.metrics["areal_capacity_mAh_cm2"] == (
        pytest.approx(0.8, rel=1e-6))
    # The campaign-facing result has the same keys as without a reality, and no truth.
    assert set(r1.metadata) == set(r0.metadata) and set(r1.metrics) == set(r0.metrics)
    text = json.dumps({"m": r1.metrics, "meta": r1.metadata, "r": r1.reason})
    for word in ("truth", "reality", "true", "model_cycle_life", "life_factor"):
        assert word not in text
    assert not (tmp_path / "plain" / "truth").exists()
    assert ev.ground_truth(job)["truth"] == truth and plain.ground_truth(job0)["truth"] is None


def test_same_seed_same_truth_and_another_seed_another(tmp_path: Path) -> None:
    mild = {"preset": "mild"}
    a = true_outcome({"cell_model": SYNTHETIC, "reality": mild}, SI, seed=4)
    b = true_outcome({"cell_model": SYNTHETIC, "reality": mild}, SI, seed=4)
    c = true_outcome({"cell_model": SYNTHETIC, "reality": mild}, SI, seed=5)
    assert a == b
    assert a["truth"]["life_factor"] != c["truth"]["life_factor"]
    fixed = {"preset": "mild", "seed": 9}  # a reality seed overrides the campaign's
    assert (true_outcome({"cell_model": SYNTHETIC, "reality": fixed}, SI, seed=4)["truth"] ==
            true_outcome({"cell_model": SYNTHETIC, "reality": fixed}, SI, seed=5)["truth"])
    _, j1 = run_cell(tmp_path, SI, "one", reality=mild)
    _, j2 = run_cell(tmp_path, SI, "two", reality=mild)
    t1 = (tmp_path / "one" / "truth" / f"{j1}.json").read_text()
    assert t1 == (tmp_path / "two" / "truth" / f"{j2}.json").read_text()


def test_the_truth_keeps_physics_sane_at_extreme_knobs() -> None:
    profile = CellProfile.model_validate(synthetic_profile(SI, "full"))
    r = RealityOptions(element_life_factor={"Si": 0.01}, element_capacity_factor={"Si": 2.0},
                       fade_exponent=0.25, knee_fraction=0.1, knee_acceleration=20.0)
    for reality in (r, RealityOptions(element_life_factor={"Si": 20.0}, fade_exponent=4.0)):
        truth = design_truth(reality, SI, profile, seed=0, threshold=0.8)
        draws = draw_cell(seed=0, trial_id="x", n_cycles=300, capacity_cv=0.0, fade_cv=0.0,
                          measurement_noise=0.0, lost_cell_probability=0.0)
        test = build_cell_test(profile, draws, planned_cycles=300, threshold=0.0, truth=truth)
        # Charge and discharge per cycle integrated from the records (as the BDF file holds
        # them): efficiency <= 1, capacity > 0, retention never above the model's largest
        # (cycle 1's for this fading model).
        charged, discharged = integrate_capacity(test.time_s, test.current_A, test.cycle)
        starts = np.arange(0, len(test.time_s), RECORDS_PER_CYCLE)
        q_in = np.maximum.reduceat(charged, starts)
        q_out = np.maximum.reduceat(discharged, starts)
        assert np.all(q_out > 0)
        assert np.all(q_out / q_in <= 1.0 + 1e-9)
        assert np.all(q_out[1:] <= q_out[0] * (1 + 1e-9))
        assert q_out[0] == pytest.approx(truth.capacity_factor * profile.cycles.discharge_Ah[0],
                                         rel=1e-9)


@pytest.mark.parametrize(
    ("reality", "pattern"),
    [
        ({"element_life_factor": {"Xx": 2.0}}, r"reality\.element_life_factor: .*unknown "
         r"alloying element\(s\) \['Xx'\]"),
        ({"element_life_factor": {"Si": 50.0}}, r"reality\.element_life_factor\.Si: .*less "
         r"than or equal to 20 \(got 50\.0\)"),
        ({"fade_exponent": 5}, r"reality\.fade_exponent: .*less than or equal to 4 \(got 5\)"),
        ({"preset": "gentle"}, r"reality\.preset: .*'mild' or 'misleading' \(got 'gentle'\)"),
        ({"fade_cv_factor": 30}, r"reality\.fade_cv_factor: .*less than or equal to 20"),
        ({"capacity_cv_factor": 10}, r"reality\.capacity_cv_factor=10 makes capacity_cv 0\.1 "
         r"x 10 = 1; limit: <= 0\.5"),
        ({"colour": 1}, r"reality\.colour: unknown key"),
    ],
)
def test_bad_reality_options_are_refused_naming_field_value_limit(
    tmp_path: Path, reality: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern):
        SimulatedCycler({"state_dir": str(tmp_path), "capacity_cv": 0.1, "reality": reality})


def test_a_state_folder_refuses_another_reality(tmp_path: Path) -> None:
    clock = Clock()
    SimulatedCycler(opts(tmp_path), context=EvaluatorContext(seed=1), clock=clock)
    with pytest.raises(ConfigError, match=r"evaluator\.options\.reality: .* differs from None"):
        SimulatedCycler(opts(tmp_path, reality={"preset": "mild"}),
                        context=EvaluatorContext(seed=1), clock=clock)
