"""Cycles addressed by number, not position: a gapped frame gives the dense frame's answers.

An extrapolating simulation keeps only the cycles it simulated (``cycle_numbering: count``:
cycles 1..10, then 15, 20, ..., then 150, 200, ...). The early-life features, the delta-Q
feature, the predictor, the early-stopping review and the simulated cycler's cell profile
must read cycle ``k`` as the cycle numbered ``k``, not the ``k``-th row.

The synthetic cell is noise-free and smooth: retention ``1 - A (n - 1) - B (n - 1)^2`` and
coulombic efficiency ``1 - I0 (1 + G n / 100)`` (cycle 1: 0.85). A skipped cycle's capacity
is interpolated linearly between its neighbours, so its retention is off by at most
``|r''| h^2 / 8 = B h^2 / 4`` for a gap of ``h`` cycles (the linear-interpolation error bound);
the CE is linear in ``n``, so its interpolation is exact. The tolerances below are those
bounds carried through each feature, not fitted to the outcome.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from optloop.campaign.early_stop import EarlyStopper
from optloop.config import EarlyStoppingConfig
from optloop.data.bdf import build_bdf_frame, write_bdf
from optloop.data.metrics import CycleMetrics, MetricsProtocol, compute_metrics
from optloop.evaluators.simulated_cycler.profile import profile_from_bdf
from optloop.prediction import (
    CycleLifePredictor,
    EarlyStoppingPolicy,
    InsufficientDataError,
    PredictionError,
    cycles_on_grid,
    delta_q_log_variance,
    fade_features,
    features_from_metrics,
)
from optloop.prediction.model import CycleLifeExample
from optloop.space.design import Design
from optloop.store import Trial, TrialStatus

A, B = 2e-4, 1e-7  # retention fade per cycle and per cycle^2: 80 % near cycle 732
I0, G = 2e-4, 0.5
SAMPLES = 5  # records per branch; Q(V) is linear, so few suffice


def gapped_counts(last: int) -> list[int]:
    """Cycles an extrapolating run would keep: 1..10, every 5th to 100, every 50th after."""
    counts = [*range(1, 11), *range(15, 101, 5), *range(150, last + 1, 50)]
    return [c for c in counts if c <= last]


def cell_frame(counts: list[int], a: float = A, b: float = B, i0: float = I0) -> object:
    """A 1 A full-cell test of the given cycles: discharge ``q_n``, charge ``q_n / CE_n``.

    Voltage falls linearly from 4.1 to 3.1 V over each discharge, so ``Q_n(V) = q_n (4.1 -
    V)`` (the delta-Q feature's shape).
    """
    t: list[float] = []
    v: list[float] = []
    i: list[float] = []
    c: list[int] = []
    now = 0.0
    frac = np.linspace(0.0, 1.0, SAMPLES)
    for n in counts:
        q_out = 1.0 - a * (n - 1) - b * (n - 1) ** 2
        if q_out < 0.6:  # well past end of life: the test ends
            break
        ce = 0.85 if n == 1 else 1.0 - i0 * (1.0 + G * n / 100.0)
        for amps, q, volts in ((1.0, q_out / ce, (3.1, 4.1)), (-1.0, q_out, (4.1, 3.1))):
            t.extend(now + frac * q * 3600.0)
            v.extend(volts[0] + (volts[1] - volts[0]) * frac)
            i.extend([amps] * SAMPLES)
            c.extend([n] * SAMPLES)
            now += q * 3600.0
    return build_bdf_frame(np.array(t), np.array(v), np.array(i), np.array(c))


def metrics(frame: object, *, in_progress: bool = False) -> CycleMetrics:
    return compute_metrics(frame, cycle_numbering="count", in_progress=in_progress)  # type: ignore[arg-type]


def retention_bound(h: int, b: float = B) -> float:
    """Largest retention error of linear interpolation over a gap of ``h`` cycles."""
    return 2.0 * b * h**2 / 8.0


def fit_bound(first: int, last: int, degree: int, eps: float) -> np.ndarray:
    """Bound on each least-squares coefficient (highest power first) from errors <= ``eps``."""
    n = np.arange(first, last + 1, dtype=float)
    pinv = np.linalg.pinv(np.vander(n, degree + 1))
    return np.abs(pinv).sum(axis=1) * eps


# --- the resampling ---------------------------------------------------------------------


def test_cycles_on_grid_interpolates_skipped_cycles_only() -> None:
    q, ce = cycles_on_grid([1, 2, 4, 8], [1.0, 0.9, 0.7, 0.3], [0.8, 0.99, None, 0.95], 6)
    assert q == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], abs=1e-12)
    # Cycle 3 between 0.99 (cycle 2) and 0.95 (cycle 8, the next with a CE); cycle 4 keeps None.
    assert ce[:2] == [0.8, 0.99] and ce[3] is None
    assert ce[2] == pytest.approx(0.99 - 0.04 / 6, abs=1e-12)
    assert ce[4] == pytest.approx(0.99 - 0.04 * 3 / 6, abs=1e-12)
    # Without gaps: the first n values, unchanged.
    assert cycles_on_grid([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0], [None, 1, 1, 1], 3) == (
        [4.0, 3.0, 2.0], [None, 1, 1]
    )
    with pytest.raises(InsufficientDataError, match="end at cycle 8; .*n_cycles=9"):
        cycles_on_grid([1, 2, 4, 8], [1.0] * 4, [1.0] * 4, 9)
    with pytest.raises(InsufficientDataError, match="start at cycle 2; the features need cycle 1"):
        cycles_on_grid([2, 3, 4], [1.0] * 3, [1.0] * 3, 3)
    with pytest.raises(PredictionError, match=r"cycle_numbers\[2\] = 2 after 4; limit: strictly"):
        cycles_on_grid([1, 4, 2], [1.0] * 3, [1.0] * 3, 3)
    with pytest.raises(PredictionError, match="cycle_numbers has 3 value.* capacity_Ah has 2"):
        cycles_on_grid([1, 2, 3], [1.0] * 2, [1.0] * 2, 2)


# --- features on a gapped frame ---------------------------------------------------------


@pytest.mark.parametrize(
    ("n_cycles", "h"),
    [(40, 5), (120, 50)],  # gaps of 5 inside the window; 100 -> 150 around cycle 120
)
def test_gapped_frame_gives_the_dense_features(n_cycles: int, h: int) -> None:
    dense = metrics(cell_frame(list(range(1, 901))))
    gapped = metrics(cell_frame(gapped_counts(900)))
    assert gapped.cycle_numbers[:12] == (*range(1, 11), 15, 20)
    # The cycle life: 80 % is crossed near cycle 732, between simulated cycles 700 and 750;
    # an interpolation error <= B 50^2 / 4 = 6.3e-5 moves it by < 0.2 cycle (slope 3.5e-4).
    assert not dense.cycle_life_censored and not gapped.cycle_life_censored
    assert abs(gapped.cycle_life - dense.cycle_life) <= 1
    assert gapped.cycles_completed == dense.cycles_completed == 900

    f_dense = features_from_metrics(dense, n_cycles)
    f_gap = features_from_metrics(gapped, n_cycles)
    eps = retention_bound(h)
    lin = fit_bound(2, n_cycles, 1, eps)
    quad = fit_bound(2, n_cycles, 2, eps)
    assert f_gap["retention_slope_per_cycle"] == pytest.approx(
        f_dense["retention_slope_per_cycle"], abs=lin[0]
    )
    assert f_gap["retention_intercept"] == pytest.approx(
        f_dense["retention_intercept"], abs=lin[1]
    )
    assert f_gap["retention_curvature_per_cycle2"] == pytest.approx(
        f_dense["retention_curvature_per_cycle2"], abs=quad[0]
    )
    for name in ("retention_first", "retention_gain", "retention_min"):
        assert f_gap[name] == pytest.approx(f_dense[name], abs=eps)
    # CE is linear in n: interpolation is exact up to rounding (1e-9 in log10).
    for name in ("log10_inefficiency_mean", "log10_inefficiency_var", "first_cycle_efficiency"):
        assert f_gap[name] == pytest.approx(f_dense[name], abs=1e-6)

    # Read by position, the gapped data give a different cell (the slope off by > 10 %), or
    # too few "cycles" (44 rows hold cycles up to 900).
    if len(gapped.capacity_Ah) >= n_cycles:
        positional = fade_features(gapped.capacity_Ah, gapped.coulombic_efficiency, n_cycles)
        ratio = positional["retention_slope_per_cycle"] / f_dense["retention_slope_per_cycle"]
        assert abs(ratio - 1) > 0.10
    else:
        with pytest.raises(InsufficientDataError, match="has 44 cycle"):
            fade_features(gapped.capacity_Ah, gapped.coulombic_efficiency, n_cycles)


def test_delta_q_on_skipped_cycles_matches_the_dense_frame() -> None:
    # Cycles 12 and 42 are both skipped (gaps 10 -> 15 and 40 -> 45): each curve is
    # interpolated between its neighbours. Q_42 - Q_12 = d (4.1 - V) with d ~ 6.1e-3; the
    # interpolation moves d by <= 2 eps (eps = B 5^2 / 4), so log10 var = 2 log10 |d| + const
    # moves by <= 2 log10(1 + 2 eps / |d|).
    dense_frame, gap_frame = cell_frame(list(range(1, 61))), cell_frame(gapped_counts(60))
    dense, gapped = metrics(dense_frame), metrics(gap_frame)
    assert 12 not in gapped.cycle_numbers and 42 not in gapped.cycle_numbers
    x_dense = delta_q_log_variance(dense_frame, dense, 42, early_cycle=12)  # type: ignore[arg-type]
    x_gap = delta_q_log_variance(gap_frame, gapped, 42, early_cycle=12)  # type: ignore[arg-type]
    d = (1 - A * 41 - B * 41**2) - (1 - A * 11 - B * 11**2)
    assert x_dense == pytest.approx(math.log10(d**2 / 12), abs=0.01)  # the analytic value
    eps = retention_bound(5)
    assert x_gap == pytest.approx(x_dense, abs=2 * math.log10(1 + 2 * eps / abs(d)))
    # Cycles the gapped data hold are read as they are.
    assert delta_q_log_variance(gap_frame, gapped, 40, early_cycle=10) == pytest.approx(  # type: ignore[arg-type]
        delta_q_log_variance(dense_frame, dense, 40, early_cycle=10), abs=1e-9  # type: ignore[arg-type]
    )


# --- the predictor and the early-stopping decision --------------------------------------

N_CYCLES = 40
#: Training family: fades from 0.5x to 3x the test cell's (lives ~290 to ~1240 cycles).
FAMILY = [(A * s, B * s, I0 * s) for s in (0.5, 0.7, 0.9, 1.2, 1.6, 2.0, 2.5, 3.0)]


def life_of(frame: object) -> int:
    return metrics(frame).cycle_life


def training_examples(gapped: bool) -> list[CycleLifeExample]:
    out = []
    for a, b, i0 in FAMILY:
        counts = gapped_counts(1500) if gapped else list(range(1, 1501))
        m = metrics(cell_frame(counts, a, b, i0))
        assert not m.cycle_life_censored
        out.append(CycleLifeExample.from_metrics(m))
    return out


def test_predictor_reads_a_gapped_running_cell_like_the_dense_one() -> None:
    # The GP is fitted once on dense and once on gapped training cells (seeded); each predicts
    # its kind of running cell, observed to cycle 300. Features differ by <= the interpolation
    # bounds above (retention <= 6.3e-5 at the 100 -> 150 gap, relative ~1e-4 of the feature
    # spans), so the predictions agree to 1 %: a loose bound on a smooth GP of inputs that
    # move by 1e-4 of their range (hyperparameters refitted on equally perturbed data).
    dense_p = CycleLifePredictor(N_CYCLES, seed=0, calibrate=False).fit(training_examples(False))
    gap_p = CycleLifePredictor(N_CYCLES, seed=0, calibrate=False).fit(training_examples(True))
    running_dense = metrics(cell_frame(list(range(1, 302))), in_progress=True)
    running_gap = metrics(cell_frame(gapped_counts(350)), in_progress=True)
    assert running_dense.cycles_completed == running_gap.cycles_completed == 300
    p_dense = dense_p.predict_metrics(running_dense)
    p_gap = gap_p.predict_metrics(running_gap)
    assert p_gap.cycles_observed == p_dense.cycles_observed == 300  # not 31 rows
    assert not p_gap.known and not p_dense.known
    for attr in ("mean_cycles", "lower_cycles", "upper_cycles"):
        assert getattr(p_gap, attr) == pytest.approx(getattr(p_dense, attr), rel=0.01)
    # The same decision at references on either side of the upper bound (2 % margin > 1 %).
    policy = EarlyStoppingPolicy(N_CYCLES)
    upper = policy.upper_bound(p_dense)
    for ref, stop in ((upper * 1.02, True), (upper / 1.02, False)):
        assert policy.decide(p_dense, ref).stop is stop
        assert policy.decide(p_gap, ref).stop is stop
    # A gapped cell that crossed between simulated cycles gets its interpolated life, known.
    done = metrics(cell_frame(gapped_counts(900)))
    known = gap_p.predict(done.capacity_Ah, done.coulombic_efficiency,
                          cycle_numbers=done.cycle_numbers)
    assert known.known and known.mean_cycles == done.cycle_life
    assert abs(done.cycle_life - life_of(cell_frame(list(range(1, 901))))) <= 1


def _design() -> Design:
    return Design.from_dict({
        "alloy_layer": {"composition": {"Si": 1.0}, "thickness_um": 0.5,
                        "structure": "amorphous", "method": "sputtering",
                        "conditions": {"substrate_temperature_C": 100,
                                       "power_density_W_cm2": 3, "pressure_Pa": 0.5}},
        "carbon_layer": {"thickness_um": 40, "porosity": 0.35},
        "cell": {"positive_electrode": "NMC811", "np_ratio": 1.1},
    })


def test_early_stopper_reads_the_files_recorded_cycle_numbering(tmp_path: Path) -> None:
    # Files of an extrapolating run record cycle_numbering "count" in their metadata; the
    # stopper must read them so (file order would number cycle 150 as cycle 29).
    protocol = {"metrics_protocol": MetricsProtocol(cycle_numbering="count").to_metadata()}
    config = EarlyStoppingConfig(enabled=True, after_cycles=N_CYCLES, min_training_cells=6)
    reviews = {}
    for kind in ("dense", "gapped"):
        folder = tmp_path / kind
        folder.mkdir()
        trials = []
        for k, (a, b, i0) in enumerate(FAMILY):
            counts = gapped_counts(1500) if kind == "gapped" else list(range(1, 1501))
            frame = cell_frame(counts, a, b, i0)
            path = write_bdf(frame, folder / f"cell{k}.bdf.csv", protocol)  # type: ignore[arg-type]
            trials.append(Trial(
                id=k + 1, design=_design(), status=TrialStatus.COMPLETED, origin="sobol",
                iteration=0, batch_index=k, outcomes={"cycle_life": float(life_of(frame))},
                censored={"cycle_life": False}, bdf_path=str(path),
            ))
        running = cell_frame(gapped_counts(350) if kind == "gapped" else list(range(1, 302)))
        partial = write_bdf(running, folder / "running.bdf.csv", protocol)  # type: ignore[arg-type]
        review = EarlyStopper(config, seed=0).review(str(partial), trials)
        assert review is not None
        assert review.metrics.cycle_numbering == "count"
        reviews[kind] = review
    dense, gapped = reviews["dense"], reviews["gapped"]
    assert gapped.prediction.cycles_observed == dense.prediction.cycles_observed == 300
    assert gapped.decision.stop is dense.decision.stop
    assert gapped.decision.reference_cycles == pytest.approx(
        dense.decision.reference_cycles, abs=1.0  # quantile of lives that agree to +-1 cycle
    )
    # Tolerance as in the predictor test (features within 1e-4 of their spans).
    assert gapped.prediction.mean_cycles == pytest.approx(dense.prediction.mean_cycles, rel=0.01)


# --- the simulated cycler's cell profile ------------------------------------------------


def cccv_frame(counts: list[int]) -> object:
    """A CC-CV test in the PyBaMM layout: step 1 CC charge (1 A, 90 % of the charge), step 2
    CV hold at 4.2 V (current falling linearly 1 -> 0.05 A, the other 10 %), step 3 discharge
    (1 A, 4.1 -> 3.0 V); discharge ``q_n`` of the smooth cell, charge ``q_n / CE_n``."""
    t: list[float] = []
    v: list[float] = []
    i: list[float] = []
    c: list[int] = []
    st: list[int] = []
    now = 0.0
    frac = np.linspace(0.0, 1.0, SAMPLES)
    for n in counts:
        q_out = 1.0 - A * (n - 1) - B * (n - 1) ** 2
        q_in = q_out / (0.85 if n == 1 else 1.0 - I0 * (1.0 + G * n / 100.0))
        cv_s = 2.0 * 0.1 * q_in * 3600.0 / 1.05  # linear 1 -> 0.05 A stores 0.1 q_in
        for step, dur, amps, volts in (
            (1, 0.9 * q_in * 3600.0, np.ones(SAMPLES), 3.5 + 0.7 * frac),
            (2, cv_s, 1.0 - 0.95 * frac, np.full(SAMPLES, 4.2)),
            (3, q_out * 3600.0, -np.ones(SAMPLES), 4.1 - 1.1 * frac),
        ):
            t.extend(now + frac * dur)
            i.extend(amps)
            v.extend(volts)
            c.extend([n] * SAMPLES)
            st.extend([step] * SAMPLES)
            now += dur
    return build_bdf_frame(np.array(t), np.array(v), np.array(i), np.array(c), np.array(st))


def test_cell_profile_of_a_gapped_frame_has_one_entry_per_cycle() -> None:
    # The simulated cycler reads profile entry k as cycle k + 1: a gapped PyBaMM run must not
    # become a cell that lives 40 "cycles". Skipped cycles are interpolated in cycle number;
    # the largest gap here is 50 cycles (100 -> 150, ...), so the discharge of a skipped cycle
    # is within B 50^2 / 4 = 6.3e-5 Ah of the dense value, the charges within that / CE.
    dense = profile_from_bdf(cccv_frame(list(range(1, 901))))  # type: ignore[arg-type]
    gapped = profile_from_bdf(cccv_frame(gapped_counts(900)))  # type: ignore[arg-type]
    assert dense.cycles is not None and gapped.cycles is not None
    assert len(gapped.cycles) == len(dense.cycles) == 900
    d, g = dense.cycles.arrays(), gapped.cycles.arrays()
    simulated = np.asarray(gapped_counts(900)) - 1
    eps = retention_bound(50)
    for name in ("discharge_Ah", "charge_cc_Ah", "charge_cv_Ah"):
        np.testing.assert_allclose(g[name][simulated], d[name][simulated], rtol=0, atol=1e-12)
        np.testing.assert_allclose(g[name], d[name], rtol=0, atol=eps / 0.99)
    # Step times scale with the charges (1 A): within eps hours. The bound is reached exactly
    # midway between simulated cycles (the fade is quadratic), so 1e-6 s is allowed for the
    # rounding of a test clock at ~1e6 s.
    np.testing.assert_allclose(g["discharge_s"], d["discharge_s"], rtol=0,
                               atol=eps * 3600.0 + 1e-6)
    np.testing.assert_allclose(g["charge_V"], d["charge_V"], rtol=0, atol=1e-12)
    # End of life read from the profile as the cycler does (entry k = cycle k + 1).
    q = g["discharge_Ah"]
    life = int(np.flatnonzero(q < 0.8 * q[0])[0]) + 1
    assert abs(life - metrics(cccv_frame(list(range(1, 901)))).cycle_life) <= 1
