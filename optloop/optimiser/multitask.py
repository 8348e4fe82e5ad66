r"""A simulator as a prior for measured cells: a two-task GP per metric (mode (c)).

When a campaign runs simulated twins of its designs (``prior`` in the config,
:mod:`optloop.campaign.prior`), each metric of the measured cells is modelled together with
the same metric of the simulations as a second task: BoTorch's ``MultiTaskGP`` with an ICM
kernel ``k((x, s), (x', t)) = k_x(x, x') B[s, t]`` (Bonilla et al. 2007; Swersky et al. 2013),
a task column appended to the features (``0`` simulation, ``1`` cell) and ``output_tasks =
[1]``, so the model's posterior over designs (features without the task column) is the cell
task's and the acquisition optimises the cells.

* **Task covariance.** ``B`` is learned with the data (BoTorch's ``PositiveIndexKernel``:
  correlations in ``[0, 1]``). A prior that ranks designs as the cells do gets a correlation
  near 1 and carries its information to designs no cell has tried; one that ranks them
  wrongly gets a correlation near 0 and the cell task falls back to its own data
  (:func:`task_correlation`). A negative correlation cannot be learned (BoTorch's default;
  with a few dozen cells one is rarely well determined): an anti-correlated prior is ignored,
  not exploited.
* **Scales.** Simulated values are moved to the cells' mean and spread (per metric, in
  the warped units) before the fit: BoTorch recommends standardising per task, and a
  simulator's systematic offset (e.g. PyBaMM's lives are those of a model cell) then says
  nothing; only the shape of the simulated landscape counts. Each task has its own constant
  mean and noise level.
* **Warping and censoring** as for the single-task GPs (:mod:`.surrogate`): ``log`` for
  ``cycle_life`` (the cells decide, simulated values <= 0 are left out), and censored values
  of both tasks (a simulated life stopped at the simulator's cycle cap is a lower bound)
  imputed jointly by ``E[y | y > c]`` under the predictive given the uncensored points of
  both tasks, the hyperparameters refitted on the imputed values.

**Guard.** The two-task GP shares one kernel over the design features between the tasks, so
a prior with a different landscape can still mislead it through the lengthscales. So each fit
is checked on the cells' own data (:func:`fit_with_prior`): the two-task GP is used only when
its leave-one-out predictive density of the (uncensored) cell values beats the single-task
GP's.

**Measured** (a synthetic 4-D problem, 8 noisy cells, 32 simulations, 200 held-out designs,
4 seeds; held-out rank correlation / RMSE of the cells' posterior mean):

============================  ===========  ===========  ===========  ===========
prior                         cells alone  two-task     guarded      discrepancy
============================  ===========  ===========  ===========  ===========
correlated (2 f + 3 + error)  0.88 / 0.29  0.98 / 0.14  0.98 / 0.14  0.98 / 0.12
anti-correlated (-f)          0.88 / 0.29  0.88 / 0.30  0.86 / 0.31  1.00 / 0.06
pure noise                    0.88 / 0.29  0.15 / 0.62  0.88 / 0.29  0.73 / 0.45
============================  ===========  ===========  ===========  ===========

Learned task correlations: 0.89-0.99 (correlated), 0.08-0.24 (anti-correlated) and, for
noise, 0.74-0.93: the correlation alone does not expose a useless prior, the guard does.
"Discrepancy" is a GP on the simulations, a linear map of it fitted to the cells and a GP
on the cells' residuals: as good with a correlated prior and better with an anti-correlated
one (its linear map turns the sign round, which the ICM's non-negative correlation cannot),
worse than the cells alone with a noise prior; it is not implemented as a model here (it
needs a composite posterior for the acquisition). The optimiser gives a two-task fit the
L-BFGS-B iterations of a fit on its cells alone (``fit_maxiter_small``, 200, up to ``small_fit``
cells), however many simulations join: with 50 the anti-correlated problem of
``tests/test_prior_model.py`` gave RMSE 0.43 against 0.37 with 200 (seed 0).

The kernel over the design features is BoTorch's default (ARD RBF with a dimension-scaled
lengthscale prior) whatever ``settings.kernel`` says; ``max_fit_points`` is not applied.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.utils.sampling import manual_seed
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.models import ExactGP
from torch import Tensor

from optloop.optimiser.surrogate import DTYPE, MetricData, _truncated_mean, loo_log_density

log = logging.getLogger(__name__)

__all__ = [
    "CELL_TASK",
    "SIM_TASK",
    "cell_loo_log_density",
    "fit_multitask_metric_model",
    "fit_with_prior",
    "rescale_to",
    "task_correlation",
]

#: Task values of the task column.
SIM_TASK = 0
CELL_TASK = 1
_IMPUTE_ROUNDS = 2


def rescale_to(y_sim: np.ndarray, y_cell: np.ndarray) -> np.ndarray:
    """Return simulated values moved to the cells' mean and standard deviation.

    With fewer than two cell values or no spread in either set, only the mean is moved.
    """
    y_sim = np.asarray(y_sim, dtype=float)
    y_cell = np.asarray(y_cell, dtype=float)
    s_sim = float(np.std(y_sim)) if y_sim.size > 1 else 0.0
    s_cell = float(np.std(y_cell)) if y_cell.size > 1 else 0.0
    centred = y_sim - float(np.mean(y_sim))
    if s_sim > 0 and s_cell > 0:
        centred = centred / s_sim * s_cell
    return centred + float(np.mean(y_cell))


def _stack(cell: MetricData, sim: MetricData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return features with the task column, warped targets and censoring flags."""
    y_sim = rescale_to(sim.y, cell.y)
    X = np.vstack(
        [
            np.hstack([sim.X, np.full((len(sim.y), 1), float(SIM_TASK))]),
            np.hstack([cell.X, np.full((len(cell.y), 1), float(CELL_TASK))]),
        ]
    )
    y = np.concatenate([y_sim, np.asarray(cell.y, dtype=float)])
    mask = np.concatenate(
        [np.asarray(sim.censored, dtype=bool), np.asarray(cell.censored, dtype=bool)]
    )
    return X, y, mask


def _make(X: np.ndarray, y: np.ndarray) -> MultiTaskGP:
    Xt = torch.as_tensor(X, dtype=DTYPE)
    Yt = torch.as_tensor(y, dtype=DTYPE).unsqueeze(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        return MultiTaskGP(
            Xt,
            Yt,
            task_feature=X.shape[1] - 1,
            output_tasks=[CELL_TASK],
            outcome_transform=Standardize(m=1),
        )


def _fit(model: MultiTaskGP, maxiter: int) -> None:
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", InputDataWarning)
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    model.eval()


def _hypers(model: MultiTaskGP) -> dict[str, Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("outcome_transform")}


def _impute(model: MultiTaskGP, bounds: np.ndarray, mask_np: np.ndarray) -> np.ndarray:
    """Replace censored targets by their mean above the bound given the uncensored ones.

    Sets the model's training targets; returns them in warped units. With fewer than two
    uncensored points nothing is imputed (the bounds stay).
    """
    tf = model.outcome_transform
    assert isinstance(tf, Standardize)
    mean, std = tf.means.squeeze(), tf.stdvs.squeeze()
    y = cast(Tensor, model.train_targets).clone()
    mask = torch.as_tensor(mask_np)
    if (~mask_np).sum() >= 2:
        X = cast(tuple[Tensor, ...], model.train_inputs)[0]
        likelihood = cast(Callable[..., Any], model.likelihood)
        with torch.no_grad():
            prior = model.forward(X)
            K = likelihood(prior, X).covariance_matrix
            m = prior.mean
            u = ~mask
            L = torch.linalg.cholesky(K[u][:, u])
            A = torch.cholesky_solve(K[mask][:, u].T, L)
            mu = m[mask] + A.T @ (y[u] - m[u])
            var = torch.diagonal(K)[mask] - (K[mask][:, u] * A.T).sum(-1)
            c = (torch.as_tensor(bounds, dtype=DTYPE) - mean) / std
            y[mask] = _truncated_mean(mu, var.clamp_min(1e-12).sqrt(), c)
        ExactGP.set_train_data(model, targets=y, strict=False)
    return np.asarray((y * std + mean).numpy(), dtype=float)


def fit_multitask_metric_model(
    cell: MetricData,
    sim: MetricData,
    *,
    seed: int,
    maxiter: int = 200,
) -> tuple[MultiTaskGP, np.ndarray, int]:
    """Fit one metric's two-task GP: the cells (output task) and their simulated prior.

    Args:
        cell: The measured cells' data (warped; ``cell.log`` decides the warping).
        sim: The simulations' data of the same metric, in the same warped units.
        seed: Seeds torch for the fit.
        maxiter: L-BFGS-B iterations per fit.

    Returns:
        The model (its posterior over features without the task column is the cell task's),
        the cells' training values (censored ones imputed, warped units) and the number of
        points the hyperparameters were fitted on (cells and simulations).
    """
    X, y, mask = _stack(cell, sim)
    n_sim = len(sim.y)
    bounds = y[mask]
    with manual_seed(seed):  # BoTorch's: seeds inside a forked generator
        model = _make(X, y)
        _fit(model, maxiter)
        if mask.any():
            for _ in range(_IMPUTE_ROUNDS):
                y = _impute(model, bounds, mask)
                warm = _hypers(model)
                model = _make(X, y)
                model.load_state_dict(warm, strict=False)
                _fit(model, maxiter)
            y = _impute(model, bounds, mask)
    return model, y[n_sim:], len(y)


def task_correlation(model: MultiTaskGP) -> float:
    """Return the learned correlation of the simulation and cell tasks (in ``[-1, 1]``)."""
    covar = cast(Any, model.covar_module)
    task_kernel = covar.kernels[1]
    with torch.no_grad():
        B = task_kernel.covar_matrix
        B = B.to_dense() if hasattr(B, "to_dense") else B
        B = torch.as_tensor(B)
        r = B[SIM_TASK, CELL_TASK] / torch.sqrt(B[SIM_TASK, SIM_TASK] * B[CELL_TASK, CELL_TASK])
    return float(r)


def cell_loo_log_density(model: MultiTaskGP, keep: np.ndarray) -> float:
    """Return the leave-one-out predictive log density of the cells' training targets.

    Each cell value given every other training point (cells and simulations), closed form
    (Rasmussen & Williams 2006, eqs. 5.10-5.12), in the warped units (comparable with
    :func:`optloop.optimiser.surrogate.loo_log_density` of a single-task GP on the cells);
    summed over the cells marked in ``keep`` (e.g. the uncensored ones).
    """
    X = cast(tuple[Tensor, ...], model.train_inputs)[0]
    y = cast(Tensor, model.train_targets)
    likelihood = cast(Callable[..., Any], model.likelihood)
    with torch.no_grad():
        prior = model.forward(X)
        K = likelihood(prior, X).covariance_matrix
        K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K))
        diag = torch.diagonal(K_inv)
        resid = (K_inv @ (y - prior.mean)) / diag
        lpd = -0.5 * torch.log(2 * math.pi / diag) - 0.5 * resid**2 * diag
    tf = model.outcome_transform
    if isinstance(tf, Standardize):
        lpd = lpd - torch.log(tf.stdvs.squeeze())
    n_cell = len(keep)
    cells = lpd[-n_cell:]
    return float(cells[torch.as_tensor(np.asarray(keep, dtype=bool))].sum())


def fit_with_prior(
    cell: MetricData,
    sim: MetricData,
    alone: tuple[Any, np.ndarray, int],
    *,
    seed: int,
    maxiter: int = 200,
) -> tuple[Any, np.ndarray, int, dict[str, float | bool | int]]:
    """Return the two-task GP of a metric when it predicts the cells better, else ``alone``.

    Args:
        cell: The cells' data of the metric.
        sim: The simulations' data of the metric (same warping).
        alone: The single-task fit on the cells: ``(model, training values, n_fit)``.
        seed: Seeds the two-task fit.
        maxiter: L-BFGS-B iterations per fit.

    Returns:
        The chosen model, its cells' training values, the points its hyperparameters were
        fitted on, and what happened: ``used``, ``task_correlation``, ``loo_cells_prior``,
        ``loo_cells_alone`` (leave-one-out log densities of the uncensored cells, warped
        units; the higher wins) and ``n_sim``.
    """
    keep = ~np.asarray(cell.censored, dtype=bool)
    info: dict[str, float | bool | int] = {"used": False, "n_sim": len(sim.y)}
    try:
        model, y, n_fit = fit_multitask_metric_model(cell, sim, seed=seed, maxiter=maxiter)
        info["task_correlation"] = task_correlation(model)
        info["loo_cells_prior"] = cell_loo_log_density(model, keep)
        info["loo_cells_alone"] = loo_log_density(alone[0], keep)
    except Exception as exc:  # noqa: BLE001 - the cells' own GP is always there
        log.warning("%s: the two-task GP failed (%s); the cells' GP alone is used", cell.name, exc)
        return (*alone, info)
    if info["loo_cells_prior"] > info["loo_cells_alone"]:
        info["used"] = True
        model.optloop_kernel = "multitask"  # type: ignore[assignment]
        return model, y, n_fit, info
    return (*alone, info)
