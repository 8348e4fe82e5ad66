"""The measurement-only GP variants of the surrogate module, and its refusal of unknown ones."""

from __future__ import annotations

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
