"""The measurement-only GP variants of the surrogate module, and its refusal of unknown ones."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from botorch.models import MixedSingleTaskGP
from botorch.models.transforms.input import Warp
from gpytorch.kernels import MaternKernel

from optloop.optimiser.surrogate import KERNELS, MetricData, fit_metric_model


def data(seed: int = 0, n: int = 20) -> MetricData:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    X[:, 2] = X[:, 2] > 0.5  # one binary (categorical) column
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 3 + 0.5 * X[:, 2]
    return MetricData("f", X, y, np.zeros(n, dtype=bool), False, True)


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_variant_fits_and_predicts_held_out_ranks(kernel: str) -> None:
    train, test = data(0), data(1, 50)
    torch.manual_seed(0)
    model, _, _ = fit_metric_model(train, kernel=kernel, cat_dims=[2], max_fit_points=300,
                                   seed=0, maxiter=100)
    with torch.no_grad():
        mean = model.posterior(torch.as_tensor(test.X)).mean.squeeze(-1).numpy()
    # A smooth 3-d function from 20 points: every variant ranks held-out points well.
    assert np.corrcoef(np.argsort(np.argsort(mean)), np.argsort(np.argsort(test.y)))[0, 1] > 0.8
    if kernel == "rbf_warp":
        assert isinstance(model.input_transform, Warp)
        assert model.input_transform.indices.tolist() == [0, 1]  # not the categorical column
    if kernel == "matern_gamma":
        assert isinstance(model.covar_module.base_kernel, MaternKernel)
    if kernel == "mixed":
        assert isinstance(model, MixedSingleTaskGP)


def test_an_unknown_kernel_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"kernel = 'matern'; limit: one of"):
        fit_metric_model(data(), kernel="matern", cat_dims=[], max_fit_points=300, seed=0)


def test_loo_log_density_equals_conditioning_on_the_other_points() -> None:
    """The closed form against n explicit leave-one-out posteriors (same hyperparameters)."""
    from optloop.optimiser.surrogate import loo_log_density

    train = data(3, 12)
    torch.manual_seed(0)
    model, _, _ = fit_metric_model(train, kernel="rbf", cat_dims=[], max_fit_points=300,
                                   seed=0, maxiter=50)
    total = 0.0
    for i in range(len(train.y)):
        keep = torch.arange(len(train.y)) != i
        # Condition the fitted GP (its Standardize statistics and hyperparameters fixed)
        # on every point but i, then score point i under its predictive incl. noise.
        sub = copy.deepcopy(model)
        sub.set_train_data(model.train_inputs[0][keep], model.train_targets[keep], strict=False)
        with torch.no_grad():
            post = sub.likelihood(sub(model.train_inputs[0][i : i + 1]))
            mu, var = post.mean.item(), post.variance.item()
        std = model.outcome_transform.stdvs.item()
        y_i = model.train_targets[i].item()
        total += -0.5 * math.log(2 * math.pi * var) - 0.5 * (y_i - mu) ** 2 / var - math.log(std)
    assert loo_log_density(model) == pytest.approx(total, rel=1e-6, abs=1e-6)


def test_auto_keeps_the_kernel_with_the_better_leave_one_out_density() -> None:
    from optloop.optimiser.surrogate import loo_log_density

    train = data(0, 24)
    scores = {}
    for k in ("rbf", "mixed"):
        torch.manual_seed(0)
        m, _, _ = fit_metric_model(train, kernel=k, cat_dims=[2], max_fit_points=300,
                                   seed=0, maxiter=100)
        scores[k] = loo_log_density(m)
    torch.manual_seed(0)
    auto, _, _ = fit_metric_model(train, kernel="auto", cat_dims=[2], max_fit_points=300,
                                  seed=0, maxiter=100)
    assert auto.optloop_kernel == max(scores, key=scores.__getitem__)
    assert loo_log_density(auto) == pytest.approx(max(scores.values()), rel=1e-6)
    # Choosing on a subset of the observations (here 16 of 24) still picks a candidate and
    # fits it on all of them.
    from optloop.optimiser.surrogate import choose_kernel

    on_16 = choose_kernel(train, cat_dims=[2], seed=0, maxiter=100, max_points=16)
    assert on_16 in ("rbf", "mixed")
    # Without categorical features there is nothing to choose: the RBF GP.
    plain, _, _ = fit_metric_model(train, kernel="auto", cat_dims=[], max_fit_points=300,
                                   seed=0, maxiter=100)
    assert plain.optloop_kernel == "rbf"
    assert not isinstance(plain, MixedSingleTaskGP)
