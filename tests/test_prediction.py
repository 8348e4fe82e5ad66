"""Early cycle-life prediction and early stopping, on seeded synthetic fade curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optloop.data.bdf import build_bdf_frame
from optloop.data.metrics import compute_metrics
from optloop.exceptions import OptloopError
from optloop.prediction import (
    FADE_FEATURES,
    CycleLifeExample,
    CycleLifePredictor,
    EarlyStoppingPolicy,
    InsufficientDataError,
    NotReadyError,
    Prediction,
    PredictionError,
    delta_q_log_variance,
    fade_features,
    features_from_metrics,
)

N_CYCLES = 25
THRESHOLD = 0.8
Cell = tuple[np.ndarray, np.ndarray, int]


def synthetic_cell(rng: np.random.Generator, *, noise: float = 0.003) -> Cell:
    """One cell: lithium-inventory loss (seen in CE) plus a late knee (hidden early).

    Per-cycle inefficiency ``i0 (1 + g n / 100)`` (``i0`` log-uniform in [3e-4, 1.5e-3]),
    capacity ``Q0 exp(-sum inefficiency) (1 - b (n/100)^2)`` times an early activation gain,
    0.3 % capacity noise and 1e-4 CE noise. The true life is the first cycle of the noisy
    curve below 80 % of cycle 1; the curve is returned up to 5 cycles past it.
    """
    q0 = rng.uniform(0.95, 1.05)
    fce = rng.uniform(0.80, 0.92)
    i0 = math.exp(rng.uniform(math.log(3e-4), math.log(1.5e-3)))
    g, b, a = rng.uniform(0.0, 1.5), rng.uniform(0.0, 0.02), rng.uniform(0.0, 0.02)
    n = np.arange(1, 1501, dtype=float)
    ineff = i0 * (1 + g * n / 100.0)
    ineff[0] = 0.0
    activation = 1 + a * (1 - np.exp(-(n - 1) / 5))
    q = q0 * np.exp(-np.cumsum(ineff)) * (1 - b * (n / 100.0) ** 2) * activation
    q *= 1 + noise * rng.standard_normal(q.shape)
    q[0] = q0
    ce = 1 - ineff + 1e-4 * rng.standard_normal(q.shape)
    ce[0] = fce
    life = int(np.flatnonzero(q < THRESHOLD * q[0])[0]) + 1
    return q[: life + 5], ce[: life + 5], life


def make_cells(seed: int, count: int) -> list[Cell]:
    rng = np.random.default_rng(seed)
    return [synthetic_cell(rng) for _ in range(count)]


def examples(cells: list[Cell]) -> list[tuple[np.ndarray, np.ndarray, int, bool]]:
    return [(q, ce, life, False) for q, ce, life in cells]


@pytest.fixture(scope="module")
def cells() -> tuple[list[Cell], list[Cell]]:
    all_cells = make_cells(seed=11, count=60)
    return all_cells[:30], all_cells[30:]


@pytest.fixture(scope="module")
def predictor(cells: tuple[list[Cell], list[Cell]]) -> CycleLifePredictor:
    return CycleLifePredictor(N_CYCLES, seed=0).fit(examples(cells[0]))


# --- features ---------------------------------------------------------------------------


def test_fade_features_recover_a_known_linear_fade() -> None:
    # Retention 1 - 0.002 n exactly, CE 0.998 (inefficiency 2e-3, no scatter).
    n = np.arange(1, 41)
    q = 2.0 * (1 - 0.002 * (n - 1))
    ce = [0.85] + [0.998] * 39
    f = fade_features(q, ce, 40)
    assert set(f) == set(FADE_FEATURES)
    assert f["retention_slope_per_cycle"] == pytest.approx(-0.002, abs=1e-12)
    assert f["retention_intercept"] == pytest.approx(1.002, abs=1e-12)
    assert f["retention_curvature_per_cycle2"] == pytest.approx(0.0, abs=1e-12)
    assert f["retention_first"] == pytest.approx(0.998, abs=1e-12)
    assert f["retention_min"] == pytest.approx(1 - 0.002 * 39, abs=1e-12)
    assert f["retention_gain"] == pytest.approx(0.0, abs=1e-12)
    assert f["log10_inefficiency_mean"] == pytest.approx(math.log10(2e-3), abs=1e-9)
    assert f["log10_inefficiency_var"] == pytest.approx(-12.0, abs=1e-9)  # the floor
    assert f["first_cycle_efficiency"] == 0.85
    # Only the first n_cycles count: a collapse after cycle 40 changes nothing.
    assert fade_features([*q, 0.1, 0.1], [*ce, 0.5, 0.5], 40) == f
    # Q_ref rescales the retention features.
    g = fade_features(q, ce, 40, reference_capacity_Ah=4.0)
    assert g["retention_first"] == pytest.approx(0.5 * f["retention_first"], rel=1e-12)


def test_too_few_cycles_names_count_and_minimum() -> None:
    q, ce, _ = make_cells(seed=1, count=1)[0]
    with pytest.raises(InsufficientDataError, match=r"has 12 cycle\(s\).*n_cycles=30"):
        fade_features(q[:12], ce[:12], 30)
    with pytest.raises(PredictionError, match=r"n_cycles=3 .*limit: n_cycles >= 4"):
        fade_features(q, ce, 3)
    with pytest.raises(InsufficientDataError, match=r"1 valid value\(s\) in cycles 2\.\.10"):
        fade_features(q, [0.9, 0.99] + [None] * 20, 10)
    assert issubclass(InsufficientDataError, OptloopError)


def cycling_frame(discharge_Ah: list[float], *, samples: int = 41) -> object:
    """A 1 A full-cell test; discharge voltage ``4.1 - Q / q_cycle`` (shape stretches with
    the cycle's capacity), charge 100.5 % of the discharge."""
    t: list[float] = []
    v: list[float] = []
    i: list[float] = []
    c: list[int] = []
    now = 0.0
    for k, q_out in enumerate(discharge_Ah):
        q_in = q_out / 0.995
        for amps, q, volts in ((1.0, q_in, (3.1, 4.1)), (-1.0, q_out, (4.1, 3.1))):
            frac = np.linspace(0.0, 1.0, samples)
            t.extend(now + frac * q * 3600.0)
            v.extend(volts[0] + (volts[1] - volts[0]) * frac)
            i.extend([amps] * samples)
            c.extend([k + 1] * samples)
            now += q * 3600.0
    return build_bdf_frame(np.array(t), np.array(v), np.array(i), np.array(c))


def test_features_from_metrics_match_the_sequences() -> None:
    discharge = [1.0 - 0.003 * k for k in range(20)]
    m = compute_metrics(cycling_frame(discharge), in_progress=False)  # type: ignore[arg-type]
    f = features_from_metrics(m, 20)
    assert f == fade_features(m.capacity_Ah, m.coulombic_efficiency, 20)
    assert f["retention_slope_per_cycle"] == pytest.approx(-0.003, rel=1e-3)
    assert f["log10_inefficiency_mean"] == pytest.approx(math.log10(0.005), abs=1e-3)


def test_delta_q_variance_scales_with_the_square_of_the_fade() -> None:
    # Q_k(V) = q_k (4.1 - V): Q_N - Q_10 = (q_N - q_10)(4.1 - V), so doubling the fade
    # multiplies the variance by 4 (log10 by +0.602). Tolerance 0.01 (grid interpolation).
    values = []
    for fade in (0.05, 0.10):
        discharge = [1.0] * 10 + [1.0 - fade] * 10
        frame = cycling_frame(discharge)
        m = compute_metrics(frame)  # type: ignore[arg-type]
        values.append(delta_q_log_variance(frame, m, 20))  # type: ignore[arg-type]
    assert values[1] - values[0] == pytest.approx(2 * math.log10(2), abs=0.01)
    # Analytic value: var of 0.05 (4.1 - V) over V uniform on [3.1, 4.1] is 0.05^2 / 12.
    assert values[0] == pytest.approx(math.log10(0.05**2 / 12), abs=0.01)
    flat = cycling_frame([1.0] * 20)
    m_flat = compute_metrics(flat)  # type: ignore[arg-type]
    assert delta_q_log_variance(flat, m_flat, 20) == pytest.approx(-12.0, abs=0.5)  # type: ignore[arg-type]
    with pytest.raises(InsufficientDataError, match="needs n_cycles=30"):
        delta_q_log_variance(flat, m_flat, 30)  # type: ignore[arg-type]
    with pytest.raises(PredictionError, match="early_cycle=20 with n_cycles=20"):
        delta_q_log_variance(flat, m_flat, 20, early_cycle=20)  # type: ignore[arg-type]


# --- predictor --------------------------------------------------------------------------


def test_predicts_held_out_cycle_life_from_the_first_cycles(
    cells: tuple[list[Cell], list[Cell]], predictor: CycleLifePredictor
) -> None:
    train, test = cells
    lives = np.array([life for _, _, life in test], dtype=float)
    # The features see at most 30 % of the shortest life and 20 % of the median one.
    assert N_CYCLES <= 0.3 * lives.min() and N_CYCLES <= 0.2 * np.median(lives)
    predictions = [predictor.predict(q[:N_CYCLES], ce[:N_CYCLES]) for q, ce, _ in test]
    means = np.array([p.mean_cycles for p in predictions])
    errors = np.abs(np.log(means / lives))
    covered = [
        p.lower_cycles <= life <= p.upper_cycles
        for p, life in zip(predictions, lives, strict=True)
    ]
    baseline = np.median(np.log([life for _, _, life in train]))
    baseline_errors = np.abs(np.log(lives) - baseline)
    assert predictor.ready and predictor.n_train == 30
    assert np.median(errors) < 0.25  # stated tolerance: median |log error| < 0.25
    assert np.median(errors) < np.median(baseline_errors)  # beats "predict the median"
    assert np.mean(covered) >= 0.7  # 90 % intervals cover at least 70 % of held-out cells
    assert all(p.n_train == 30 and not p.known and p.interval == 0.9 for p in predictions)
    assert all(p.lower_cycles < p.mean_cycles < p.upper_cycles for p in predictions)


def test_same_seed_gives_the_same_predictions(cells: tuple[list[Cell], list[Cell]]) -> None:
    train, test = cells
    first = CycleLifePredictor(N_CYCLES, seed=3).fit(examples(train))
    second = CycleLifePredictor(N_CYCLES, seed=3).fit(examples(train))
    for q, ce, _ in test[:5]:
        assert first.predict(q, ce) == second.predict(q, ce)
    assert first.std_inflation == second.std_inflation >= 1.0


def test_censored_training_cells(cells: tuple[list[Cell], list[Cell]]) -> None:
    # Training tests stopped at 180 cycles: longer-lived cells are lower bounds at 180.
    cap = 180
    train, test = cells
    censored = [
        (q[:cap], ce[:cap], min(life, cap), life > cap) if life > cap else (q, ce, life, False)
        for q, ce, life in train
    ]
    n_censored = sum(1 for ex in censored if ex[3])
    assert 5 <= n_censored <= 25  # the test means something
    model = CycleLifePredictor(N_CYCLES, seed=0).fit(censored)
    assert model.n_train == 30
    long_lived = [(q, ce, life) for q, ce, life in test if life > cap]
    assert len(long_lived) >= 5
    reach = [
        p.at_least or p.upper_cycles >= cap
        for p in (model.predict(q[:N_CYCLES], ce[:N_CYCLES]) for q, ce, _ in long_lived)
    ]
    # Open-ended, or the interval still reaches the cap, for >= 70 % of them (90 % intervals).
    assert np.mean(reach) >= 0.7
    flagged = [model.predict(q[:N_CYCLES], ce[:N_CYCLES]) for q, ce, _ in test]
    flagged = [p for p in flagged if p.at_least]
    assert flagged and all(p.upper_cycles >= cap for p in flagged)
    assert str(flagged[0]).startswith("at least ")


def test_already_crossed_curve_returns_the_exact_life() -> None:
    q = [1.0, 0.99, 0.95, 0.9, 0.85, 0.81, 0.79, 0.78]
    unfitted = CycleLifePredictor(N_CYCLES)
    p = unfitted.predict(q, [0.9] + [0.99] * 7)  # no model needed, fewer than n_cycles
    assert p.known and p.mean_cycles == p.lower_cycles == p.upper_cycles == 7.0
    assert p.std_log == 0.0 and p.cycles_observed == 8
    # The same through metrics computed from a BDF frame.
    m = compute_metrics(cycling_frame(q))  # type: ignore[arg-type]
    assert not m.cycle_life_censored
    pm = unfitted.predict_metrics(m)
    assert pm.known and pm.mean_cycles == float(m.cycle_life) == 7.0


def test_running_cell_needs_n_cycles_and_a_fitted_model() -> None:
    q, ce, _ = make_cells(seed=2, count=1)[0]
    unfitted = CycleLifePredictor(N_CYCLES)
    with pytest.raises(InsufficientDataError, match=r"has 20 cycle\(s\).*n_cycles=25"):
        unfitted.predict(q[:20], ce[:20])
    with pytest.raises(NotReadyError, match="not fitted"):
        unfitted.predict(q[:N_CYCLES], ce[:N_CYCLES])


def test_not_ready_with_too_few_usable_cells() -> None:
    cells = make_cells(seed=4, count=5)
    model = CycleLifePredictor(N_CYCLES)
    with pytest.raises(NotReadyError, match=r"5 usable training cell\(s\).*min_train=6"):
        model.fit(examples(cells))
    assert not model.ready
    # Cells known before n_cycles (crossed early) or stopped before it are left out.
    early = (np.linspace(1.0, 0.7, 25), np.full(25, 0.99), 18, False)
    short = (np.ones(10), np.full(10, 0.999), 10, True)
    with pytest.raises(NotReadyError, match=r"5 usable.*2 left out"):
        model.fit([*examples(cells), early, short])
    assert not model.ready and model.n_excluded == 2
    model.fit(examples(make_cells(seed=5, count=6)))
    assert model.ready and model.n_train == 6
    # Enough cells, but only 2 exact lives: censored bounds alone cannot train it.
    mostly_censored = [(q, ce, life, i >= 2) for i, (q, ce, life) in enumerate(cells + cells)]
    with pytest.raises(NotReadyError, match=r"2 of 10 .*min_uncensored=3"):
        model.fit(mostly_censored)
    assert not model.ready


def test_bad_arguments_and_examples() -> None:
    with pytest.raises(PredictionError, match="unknown"):
        CycleLifePredictor(N_CYCLES, features=["capacity_at_cycle_100"])
    with pytest.raises(PredictionError, match=r"interval=1\.5"):
        CycleLifePredictor(N_CYCLES, interval=1.5)
    cells = make_cells(seed=6, count=6)
    bad = [*examples(cells), (cells[0][0], cells[0][1], float("nan"), False)]
    with pytest.raises(PredictionError, match=r"examples\[6\]\.cycle_life = nan"):
        CycleLifePredictor(N_CYCLES).fit(bad)


def test_extra_features_are_required_and_used() -> None:
    cells = make_cells(seed=7, count=8)
    with_extra = [
        CycleLifeExample(q, ce, life, False, extra={"dq_log10_var": -3.0 + i * 0.1})
        for i, (q, ce, life) in enumerate(cells)
    ]
    model = CycleLifePredictor(N_CYCLES, extra_features=["dq_log10_var"], calibrate=False)
    model.fit(with_extra)
    assert model.feature_names[-1] == "dq_log10_var"
    q, ce = cells[0][0][:N_CYCLES], cells[0][1][:N_CYCLES]
    with pytest.raises(PredictionError, match=r"extra features \['dq_log10_var'\] are missing"):
        model.predict(q, ce)
    assert model.predict(q, ce, extra={"dq_log10_var": -2.5}).n_train == 8
    with pytest.raises(PredictionError, match=r"examples\[0\]: extra features"):
        model.fit(examples(cells))


# --- stopping policy --------------------------------------------------------------------


def prediction(mean: float, std_log: float, **kw: object) -> Prediction:
    z = 1.6448536269514722  # 95 % one-sided = upper end of a 90 % central interval
    defaults: dict[str, object] = {
        "mean_cycles": mean,
        "std_log": std_log,
        "lower_cycles": mean * math.exp(-z * std_log),
        "upper_cycles": mean * math.exp(z * std_log),
        "n_train": 30,
        "interval": 0.9,
        "cycles_observed": N_CYCLES,
    }
    defaults.update(kw)
    return Prediction(**defaults)  # type: ignore[arg-type]


def test_policy_stops_a_clearly_poor_cell_and_names_the_numbers() -> None:
    policy = EarlyStoppingPolicy(N_CYCLES, min_cycle_life=150)
    p = prediction(45, 0.2)
    d = policy.decide(p)
    assert d.stop and d.reference_cycles == 150 and d.upper_cycles == p.upper_cycles
    interval = f"{p.lower_cycles:.0f}, {p.upper_cycles:.0f}"
    assert (
        d.reason.startswith(f"predicted 45 [{interval}] cycles") and "< reference 150" in d.reason
    )
    # Not yet n_cycles, open-ended, or no reference: never stopped.
    assert not policy.decide(prediction(45, 0.2, cycles_observed=20)).stop
    assert not policy.decide(prediction(45, 0.2, at_least=True)).stop
    no_ref = EarlyStoppingPolicy(N_CYCLES, min_cycle_life=None)
    assert not no_ref.decide(prediction(45, 0.2), completed_cycle_lives=[300] * 4).stop
    # A known life below the reference stops the cell; one above does not.
    known = prediction(40, 0.0, lower_cycles=40, upper_cycles=40, known=True)
    assert policy.decide(known).stop
    assert not policy.decide(known, reference_cycles=30).stop


def test_policy_reference_is_the_lower_of_config_and_quantile() -> None:
    policy = EarlyStoppingPolicy(N_CYCLES, min_cycle_life=150, reference_quantile=0.25)
    lives = [100, 200, 300, 400, 500]
    assert policy.reference(lives) == pytest.approx(min(150, float(np.quantile(lives, 0.25))))
    assert policy.reference(lives[:4]) == 150  # too few completed cells for the quantile
    assert EarlyStoppingPolicy(N_CYCLES, min_cycle_life=None).reference(lives) == 200.0


def test_policy_never_stops_a_cell_whose_interval_reaches_the_reference() -> None:
    rng = np.random.default_rng(0)
    for confidence in (0.6, 0.95, 0.99):
        policy = EarlyStoppingPolicy(N_CYCLES, min_cycle_life=100, confidence=confidence)
        for _ in range(300):
            p = prediction(float(rng.uniform(35, 300)), float(rng.uniform(0.0, 0.8)))
            d = policy.decide(p)
            if p.upper_cycles >= 100:
                assert not d.stop, d.reason
            assert d.stop == (d.upper_cycles is not None and d.upper_cycles < 100)


def test_policy_on_the_fitted_predictor_stops_only_poor_cells(
    cells: tuple[list[Cell], list[Cell]], predictor: CycleLifePredictor
) -> None:
    train, test = cells
    policy = EarlyStoppingPolicy(N_CYCLES, reference_quantile=0.5)
    completed = [life for _, _, life in train]
    reference = policy.reference(completed)
    assert reference is not None
    decisions = [
        (
            policy.decide(
                predictor.predict(q[:N_CYCLES], ce[:N_CYCLES]), completed_cycle_lives=completed
            ),
            life,
        )
        for q, ce, life in test
    ]
    stopped = [life for d, life in decisions if d.stop]
    # Some clearly poor cells (true life < 0.7 x reference) are stopped, and no cell that
    # would have reached the reference is.
    assert any(life < 0.7 * reference for life in stopped)
    assert all(life < reference for life in stopped)
