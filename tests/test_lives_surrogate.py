"""Predicted values in the surrogate: per-point noise (two-stage heteroscedastic fit)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from optloop.optimiser.surrogate import MetricData, fit_metric_model

RNG = np.random.default_rng(0)
X = RNG.uniform(size=(12, 2))
Y = np.sin(3 * X[:, 0]) + 0.5 * X[:, 1] + RNG.normal(0, 0.05, 12)
CAT = (RNG.uniform(size=(12, 1)) > 0.5).astype(float)


def mean_at(
    X: np.ndarray,
    y: np.ndarray,
    x0: np.ndarray,
    *,
    noise: np.ndarray | None = None,
    kernel: str = "rbf",
    cat_dims: tuple[int, ...] = (),
    censored: np.ndarray | None = None,
) -> float:
    cens = np.zeros(len(y), bool) if censored is None else censored
    data = MetricData("m", X, y, cens, True, True, noise=noise)
    with one_thread():
        model, _, _ = fit_metric_model(data, kernel=kernel, cat_dims=cat_dims,
                                       max_fit_points=80, seed=0, maxiter=60)
    with torch.no_grad():
        return float(model.posterior(torch.as_tensor(x0)).mean)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Fit on one thread: a dozen points gain nothing from threads on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# "auto" chooses one of these two and then fits the same way (left out: two more fits).
@pytest.mark.parametrize("kernel", ["rbf", "mixed"])
def test_a_very_uncertain_prediction_barely_moves_the_posterior(kernel: str) -> None:
    cat_dims: tuple[int, ...] = (2,) if kernel != "rbf" else ()
    Xb = np.hstack([X, CAT]) if cat_dims else X
    x0 = np.array([[0.5, 0.5, 1.0]]) if cat_dims else np.array([[0.5, 0.5]])
    before = mean_at(Xb, Y, x0, kernel=kernel, cat_dims=cat_dims)
    # The same new point, 2 (log units) above the trend: measured, or predicted with a
    # variance of 100 (std 10) or of 1e-4.
    X2, y2 = np.vstack([Xb, x0]), np.append(Y, before + 2.0)
    measured = mean_at(X2, y2, x0, kernel=kernel, cat_dims=cat_dims)
    vague = mean_at(X2, y2, x0, noise=np.append(np.zeros(12), 100.0), kernel=kernel,
                    cat_dims=cat_dims)
    sharp = mean_at(X2, y2, x0, noise=np.append(np.zeros(12), 1e-4), kernel=kernel,
                    cat_dims=cat_dims)
    # Measured: the posterior follows the point (measured 2026-12: moves 1.9 of 2).
    assert measured - before > 1.5
    # Vague prediction: moves < 5 % of that (measured: 0.01-0.03).
    assert abs(vague - before) < 0.05 * (measured - before)
    # A sharp prediction counts about as a measurement.
    assert sharp == pytest.approx(measured, abs=0.1)


@pytest.mark.parametrize("max_fit_points", [80, 8])  # 8: hyperparameters on a subset
def test_noise_works_with_censored_values(max_fit_points: int) -> None:
    x0 = np.array([[0.5, 0.5]])
    X2, y2 = np.vstack([X, x0]), np.append(Y, 3.0)
    cens = np.zeros(13, bool)
    cens[3] = True  # a lower bound, imputed as before
    noise = np.append(np.zeros(12), 100.0)
    data = MetricData("m", X2, y2, cens, True, True, noise=noise)
    with one_thread():
        model, values, _ = fit_metric_model(data, kernel="rbf", cat_dims=(),
                                            max_fit_points=max_fit_points, seed=0, maxiter=60)
    assert values[3] >= y2[3]  # never imputed below its bound
    noise_used = model.likelihood.noise.detach().numpy().ravel()
    assert noise_used[12] > 100 * noise_used[0]  # the prediction carries its own variance


def test_bad_noise_is_refused() -> None:
    data = MetricData("m", X, Y, np.zeros(12, bool), True, True, noise=-np.ones(12))
    # All-negative noise means "no noise": nothing to refuse, a plain fit.
    with one_thread():
        fit_metric_model(data, kernel="rbf", cat_dims=(), max_fit_points=80, seed=0, maxiter=60)
    bad = np.zeros(12)
    bad[0], bad[1] = np.nan, 1.0
    data = MetricData("m", X, Y, np.zeros(12, bool), True, True, noise=bad)
    with pytest.raises(ValueError, match="noise"):
        fit_metric_model(data, kernel="rbf", cat_dims=(), max_fit_points=80, seed=0)


def test_the_optimiser_fits_predicted_lives_with_their_variance() -> None:
    from loop_settings import FAST
    from test_optimiser import observe

    from optloop.config import load_config
    from optloop.optimiser import Observation, Optimiser
    from optloop.space import DesignSpace

    cfg = load_config("configs/quick.yaml")
    space = DesignSpace.from_campaign(cfg)
    # The rbf kernel: one fit per metric ("auto" would fit both kernels first).
    settings = dataclasses.replace(FAST, kernel="rbf", fit_maxiter=30, fit_maxiter_small=30)
    opt = Optimiser(space, list(cfg.objectives), [], initial_designs=4, seed=0,
                    settings=settings)
    obs = observe(space.sample(10, seed=0))
    # Three lives predicted with std 0.3 in log units; the rest measured.
    obs = [Observation(o.design, o.outcomes, noise={"cycle_life": 0.09} if i < 3 else {})
           for i, o in enumerate(obs)]
    fitted = opt.fit_surrogate(obs)
    assert fitted is not None
    life = fitted.model.models[fitted.index("cycle_life")]
    noise = life.likelihood.noise.detach().numpy().ravel()  # standardized units
    tf = life.outcome_transform
    noise_log = noise * float(tf.stdvs.squeeze()) ** 2
    measured = noise_log[3:]
    assert np.allclose(measured, measured[0])  # the learned homoscedastic noise
    assert noise_log[:3] == pytest.approx(measured[0] + 0.09, rel=1e-6)
    # The capacity (measured everywhere) keeps a learned noise.
    cap = fitted.model.models[fitted.index("areal_capacity_mAh_cm2")]
    assert cap.likelihood.noise.numel() == 1
