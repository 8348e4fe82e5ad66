r"""Gaussian-process surrogates: one per metric, plus one for evaluation success.

Every surrogate is a BoTorch GP on the unit-cube features of :mod:`.features`, with a
``Standardize`` outcome transform, fitted by ``fit_gpytorch_mll`` (exact marginal
likelihood, L-BFGS-B):

* ``kernel="mixed"``: ``MixedSingleTaskGP``, a sum and a product of an RBF kernel over the
  continuous features and BoTorch's categorical (Hamming) kernel over the one-hot /
  slot-present columns;
* ``kernel="rbf"``: ``SingleTaskGP`` with BoTorch's default ARD RBF kernel (dimension-scaled
  lengthscale prior) over all features; on 0/1 columns this is an exponentiated Hamming
  distance, so categories are still compared as categories;
* ``kernel="auto"``: on every fit of every metric, both of the above fitted on (at most 80
  of) its observations and the one with the higher leave-one-out predictive log density
  used (:func:`choose_kernel`, :func:`loo_log_density`). Neither
  kernel wins everywhere (``experiments/results/suite/variants.md``): the additive
  ``mixed`` kernel on the anode-like problems, ``rbf`` on the mixed DTLZ2.

Two more variants exist for measurement (``experiments/bench_models.py``), not in the
optimiser's settings: ``kernel="rbf_warp"``, the ``rbf`` GP with BoTorch's ``Warp`` input
transform (a learned Kumaraswamy CDF per non-categorical feature; Snoek et al. 2014) and
``kernel="matern_gamma"``, ``SingleTaskGP`` with BoTorch's former defaults: a Matern-5/2
kernel with Gamma(3, 6) lengthscale and Gamma(2, 0.15) outputscale priors and a Gamma(1.1,
0.05) noise prior (``get_matern_kernel_with_gamma_prior``).

**Warping.** Positive, skewed metrics (``cycle_life`` by default) are modelled as
``log(y)``; the acquisition maps samples back with ``exp`` so hypervolumes and constraints
stay in the config's units.

**Censoring.** A censored value ``c`` (a cycle life whose test stopped first) is a lower
bound. The GP is first fitted with censored values at their bounds; each censored value is
then replaced by ``E[y | y > c] = mu + s * phi(a) / (1 - Phi(a))``, ``a = (c - mu) / s``,
where ``N(mu, s^2)`` is the GP's predictive at that design *given the uncensored
observations* (so a cluster of censored cells cannot hold itself down at its bounds); the
hyperparameters are refitted on the imputed values (warm-started) and the imputation is
repeated under them. (With fewer than two uncensored values, the leave-one-out predictive
given every other point is used, in three sweeps.) An imputed value is never below its
bound, and it lies well above it where the uncensored data say the metric is higher there.

**Predicted values.** A metric whose data carry per-point noise (``MetricData.noise``: the
variance of a predicted value, e.g. a cycle life predicted from a cell's first cycles, in the
model's warped units) is fitted in two stages (:func:`fit_with_prediction_noise`): first the
usual homoscedastic GP, whose learned noise variance stands for what every value carries
(measurement noise, cell-to-cell spread); then a ``SingleTaskGP`` / ``MixedSingleTaskGP``
with ``train_Yvar`` = that learned noise + each point's prediction variance, its kernel
warm-started from the first fit. Two stages because a fixed-noise GP given only the
prediction variances would treat measured values as exact (zero noise) and interpolate the
spread between cells; learning a full noise model (a second GP on the noise) needs far more
cells than a campaign has. Censored values are imputed as above, under the per-point noise.

**Failures.** When some evaluations failed, a GP classifier is fitted to the success label
(1 success, 0 failure) of every observation: BoTorch's ``SingleTaskVariationalGP`` with a
Bernoulli (probit) likelihood and a scaled ARD RBF kernel. The posterior probability that
its latent is positive weights the acquisition (a BoTorch outcome constraint), so the
optimiser steers away from regions that fail while it still explores unknown ones. Failed
observations are left out of the metric GPs. (A GP regression on the 0/1 labels was tried
first: in 15 dimensions with a few dozen points it stayed near the base rate, 0.36 where
every evaluation failed against 0.09 for the classifier, and the optimiser kept proposing
into the failing region.)

**Large data.** Above ``max_fit_points`` observations a metric GP's hyperparameters are
fitted on a subset (a quarter of it the best observations by the metric, when it is an
objective; the rest a seeded random draw), then the exact GP is conditioned on *all*
observations with those hyperparameters: the cubic-cost optimisation loop runs on
``max_fit_points`` points only, the predictions use every point. The failure classifier
keeps at most ``max_inducing`` inducing points (failures first) and its ELBO sees every
label. Hyperparameter fits stop after a fixed number of L-BFGS-B iterations: on held-out
data the early-stopped fits predict as well as fits run to convergence, at a fraction of
the time (``experiments/results/bench_optimiser.md``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import (
    MixedSingleTaskGP,
    ModelListGP,
    SingleTaskGP,
    SingleTaskVariationalGP,
)
from botorch.models.transforms.input import Warp
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import (
    get_covar_module_with_dim_scaled_prior,
    get_gaussian_likelihood_with_gamma_prior,
    get_matern_kernel_with_gamma_prior,
)
from gpytorch.kernels import ScaleKernel
from gpytorch.likelihoods import BernoulliLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood, VariationalELBO
from gpytorch.models import ExactGP
from torch import Tensor

__all__ = [
    "AUTO_CANDIDATES",
    "AUTO_DECISION_POINTS",
    "KERNELS",
    "SUCCESS",
    "FittedSurrogate",
    "MetricData",
    "fit_metric_model",
    "fit_success_model",
    "choose_kernel",
    "fit_with_prediction_noise",
    "impute_censored",
    "loo_log_density",
    "select_fit_subset",
]

#: Output name of the success model in a :class:`FittedSurrogate`.
SUCCESS = "__success__"
#: Metric GP variants: ``rbf`` and ``mixed`` (the optimiser's settings); ``rbf_warp`` and
#: ``matern_gamma`` for measurements (``experiments/bench_models.py``) only.
KERNELS = ("rbf", "mixed", "rbf_warp", "matern_gamma")
#: Kernels ``kernel="auto"`` chooses between, per metric and per fit, by leave-one-out
#: predictive log density (the first wins ties).
AUTO_CANDIDATES = ("rbf", "mixed")
#: Observations (at most) on which ``kernel="auto"`` fits its candidates to choose one.
AUTO_DECISION_POINTS = 80
DTYPE = torch.float64
_IMPUTE_SWEEPS = 3


@dataclass(frozen=True)
class MetricData:
    """Training data of one metric, in the model's (warped) units."""

    name: str
    X: np.ndarray
    """``n x d`` features of the successful observations that report the metric."""
    y: np.ndarray
    """``n`` values, warped (``log`` for log-warped metrics)."""
    censored: np.ndarray
    """``n`` booleans: ``y`` is a lower bound."""
    log: bool
    """Values are ``log`` of the metric."""
    maximize: bool | None = None
    """Direction when the metric is an objective (selects the fit subset), else None."""
    noise: np.ndarray | None = None
    """``n`` variances of predicted values (warped units; 0 for a measured value), or None
    when every value was measured."""

    @property
    def has_noise(self) -> bool:
        """Return True when some value is a prediction with a variance above 0."""
        return self.noise is not None and bool((np.asarray(self.noise) > 0).any())


@dataclass
class FittedSurrogate:
    """The fitted models, as one ``ModelListGP`` whose outputs are ``outputs``."""

    model: ModelListGP
    outputs: list[str]
    log: dict[str, bool]
    imputed: dict[str, np.ndarray]
    """Metric -> imputed training values of its censored points (warped units)."""
    n_training: int

    def index(self, name: str) -> int:
        """Return the output index of a metric (or of :data:`SUCCESS`)."""
        return self.outputs.index(name)


def _tensor(a: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=DTYPE)


def _make_gp(
    X: Tensor, Y: Tensor, kernel: str, cat_dims: Sequence[int], Yvar: Tensor | None = None
) -> SingleTaskGP:
    """Build an unfitted GP; with ``Yvar``, a fixed per-point noise (not for matern_gamma)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel = {kernel!r}; limit: one of {(*KERNELS, 'auto')}")
    d = X.shape[-1]
    with warnings.catch_warnings():
        # Features are already on the unit cube; BoTorch's scaling checks would only
        # complain about observed designs slightly outside the config's bounds.
        warnings.simplefilter("ignore", InputDataWarning)
        if kernel == "mixed" and 0 < len(cat_dims) < d:
            return MixedSingleTaskGP(
                X, Y, cat_dims=list(cat_dims), train_Yvar=Yvar,
                outcome_transform=Standardize(m=1),
            )
        if kernel == "rbf_warp":
            cats = set(cat_dims)
            warped = [j for j in range(d) if j not in cats]
            unit = torch.stack([torch.zeros(d, dtype=DTYPE), torch.ones(d, dtype=DTYPE)])
            warp = Warp(d=d, indices=warped, bounds=unit) if warped else None
            return SingleTaskGP(
                X, Y, Yvar, input_transform=warp, outcome_transform=Standardize(m=1)
            )
        if kernel == "matern_gamma":
            return SingleTaskGP(
                X,
                Y,
                covar_module=get_matern_kernel_with_gamma_prior(ard_num_dims=d),
                likelihood=get_gaussian_likelihood_with_gamma_prior(),
                outcome_transform=Standardize(m=1),
            )
        return SingleTaskGP(X, Y, Yvar, outcome_transform=Standardize(m=1))


def _hyper_state(model: SingleTaskGP, *, likelihood: bool = True) -> dict[str, Tensor]:
    """Return the model's hyperparameters, the likelihood's only when ``likelihood`` is True.

    A fixed-noise GP's noise belongs to its own data: it is not carried to another model.
    """
    return {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith("outcome_transform") and (likelihood or not k.startswith("likelihood"))
    }


def _fit_mll(model: SingleTaskGP, maxiter: int) -> None:
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", InputDataWarning)
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    model.eval()


def _fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    kernel: str,
    cat_dims: Sequence[int],
    subset: np.ndarray | None,
    warm: dict[str, Tensor] | None = None,
    maxiter: int = 200,
    yvar: np.ndarray | None = None,
) -> SingleTaskGP:
    """Fit a GP on ``(X, y)``; with ``subset``, fit hyperparameters there, condition on all.

    ``yvar``: per-point noise variances (warped units), a fixed-noise GP; None: learned noise.
    """
    Xt, Yt = _tensor(X), _tensor(y).unsqueeze(-1)
    Vt = None if yvar is None else _tensor(yvar).unsqueeze(-1)
    if subset is None:
        model = _make_gp(Xt, Yt, kernel, cat_dims, Vt)
        if warm is not None:
            model.load_state_dict(warm, strict=False)
        _fit_mll(model, maxiter)
        return model
    sub = _make_gp(Xt[subset], Yt[subset], kernel, cat_dims, None if Vt is None else Vt[subset])
    if warm is not None:
        sub.load_state_dict(warm, strict=False)
    _fit_mll(sub, maxiter)
    full = _make_gp(Xt, Yt, kernel, cat_dims, Vt)
    full.load_state_dict(_hyper_state(sub, likelihood=Vt is None), strict=False)
    full.eval()
    return full


def select_fit_subset(
    n: int,
    cap: int,
    seed: int,
    *,
    scores: np.ndarray | None = None,
    must: np.ndarray | None = None,
) -> np.ndarray | None:
    """Choose at most ``cap`` of ``n`` training points for the hyperparameter fit.

    ``must`` (indices) come first, then the best quarter of ``cap`` by ``scores`` (higher
    is better), then a seeded random draw of the rest. Returns None when ``n <= cap``
    (fit on everything). Indices are sorted, so the result depends only on the inputs.
    """
    if n <= cap:
        return None
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    if must is not None:
        for i in np.asarray(must, dtype=int)[: cap // 2]:
            chosen.append(int(i))
            taken[i] = True
    if scores is not None:
        quota = cap // 4
        for i in np.argsort(-np.asarray(scores), kind="stable"):
            if quota <= 0:
                break
            if not taken[i]:
                chosen.append(int(i))
                taken[i] = True
                quota -= 1
    rest = np.flatnonzero(~taken)
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, size=min(cap - len(chosen), len(rest)), replace=False)
    return np.sort(np.concatenate([np.array(chosen, dtype=int), extra.astype(int)]))


def _covariance(model: SingleTaskGP) -> tuple[Tensor, Tensor, Tensor]:
    """Return the training targets, prior mean and prior-plus-noise covariance ``K``.

    In the model's standardized target units, from the GP's own mean, kernel and likelihood.
    """
    X = cast(tuple[Tensor, ...], model.train_inputs)[0]
    y = cast(Tensor, model.train_targets)
    likelihood = cast(Callable[[Any], Any], model.likelihood)
    with torch.no_grad():
        prior = model.forward(X)
        K = likelihood(prior).covariance_matrix
    return y, prior.mean, K


def _predictive_given_uncensored(model: SingleTaskGP, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Return the predictive mean and std of the censored points given the uncensored ones.

    ``mu_C = m_C + K_CU K_UU^-1 (y_U - m_U)``, ``s_C^2 = diag(K_CC - K_CU K_UU^-1 K_UC)``.
    """
    y, m, K = _covariance(model)
    u = ~mask
    with torch.no_grad():
        L = torch.linalg.cholesky(K[u][:, u])
        A = torch.cholesky_solve(K[mask][:, u].T, L)  # K_UU^-1 K_UC
        mu = m[mask] + A.T @ (y[u] - m[u])
        var = torch.diagonal(K)[mask] - (K[mask][:, u] * A.T).sum(-1)
    return mu, var.clamp_min(1e-12).sqrt()


def _predictive_leave_one_out(model: SingleTaskGP, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Return the leave-one-out predictive mean and std of the censored points.

    ``mu_i = y_i - [K^-1 (y - m)]_i / [K^-1]_ii``, ``s_i^2 = 1 / [K^-1]_ii`` (Rasmussen &
    Williams 2006, eq. 5.12).
    """
    y, m, K = _covariance(model)
    with torch.no_grad():
        K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K))
        alpha = K_inv @ (y - m)
        diag = torch.diagonal(K_inv)
    return (y - alpha / diag)[mask], diag.rsqrt()[mask]


def _truncated_mean(mu: Tensor, s: Tensor, c: Tensor) -> Tensor:
    """Return ``E[y | y > c]`` for ``y ~ N(mu, s^2)`` (stable in the tails)."""
    a = (c - mu) / s
    log_phi = -0.5 * a**2 - 0.5 * math.log(2 * math.pi)
    ratio = torch.exp(log_phi - torch.special.log_ndtr(-a))
    return torch.maximum(mu + s * ratio, c)


def _impute(model: SingleTaskGP, bounds: np.ndarray, mask_np: np.ndarray) -> np.ndarray:
    """Replace the censored training targets of ``model`` by their conditional means.

    Sets the model's training targets and returns them in warped units.
    """
    tf = model.outcome_transform
    assert isinstance(tf, Standardize)
    mean, std = tf.means.squeeze(), tf.stdvs.squeeze()
    mask = torch.as_tensor(mask_np)
    c = (_tensor(bounds) - mean) / std
    y = cast(Tensor, model.train_targets).clone()
    if (~mask_np).sum() >= 2:
        mu, s = _predictive_given_uncensored(model, mask)
        y[mask] = _truncated_mean(mu, s, c)
    else:  # (almost) everything censored: leave-one-out sweeps
        for _ in range(_IMPUTE_SWEEPS):
            mu, s = _predictive_leave_one_out(model, mask)
            y[mask] = _truncated_mean(mu, s, c)
            ExactGP.set_train_data(model, targets=y, strict=False)
    ExactGP.set_train_data(model, targets=y, strict=False)
    return np.asarray((y * std + mean).numpy(), dtype=float)


def impute_censored(
    data: MetricData,
    *,
    kernel: str,
    cat_dims: Sequence[int],
    subset: np.ndarray | None,
    maxiter: int = 200,
    yvar: np.ndarray | None = None,
    warm: dict[str, Tensor] | None = None,
) -> tuple[SingleTaskGP, np.ndarray]:
    """Fit the metric's GP treating censored values as lower bounds.

    Returns the fitted model and the training values it uses (warped units), where each
    censored value is replaced by its conditional mean above the bound. ``yvar``: fixed
    per-point noise variances (warped units) instead of a learned noise; ``warm``:
    hyperparameters to start the first fit from.
    """
    mask = np.asarray(data.censored, dtype=bool)
    y = np.asarray(data.y, dtype=float)
    model = _fit(
        data.X, y, kernel=kernel, cat_dims=cat_dims, subset=subset, maxiter=maxiter,
        yvar=yvar, warm=warm,
    )
    if not mask.any():
        return model, y
    bounds = y[mask]
    y = _impute(model, bounds, mask)
    model = _fit(
        data.X,
        y,
        kernel=kernel,
        cat_dims=cat_dims,
        subset=subset,
        warm=_hyper_state(model),
        maxiter=maxiter,
        yvar=yvar,
    )
    return model, _impute(model, bounds, mask)


def loo_log_density(model: SingleTaskGP, keep: np.ndarray | None = None) -> float:
    """Return a fitted GP's leave-one-out predictive log density of its training targets.

    Closed form (Rasmussen & Williams 2006, eqs. 5.10-5.12) from the GP's own kernel and
    noise, converted from standardized to the model's (warped) target units so that GPs
    with different ``Standardize`` statistics compare; summed over ``keep`` (a boolean mask,
    e.g. the uncensored points, whose targets are data rather than imputations), all points
    when None. It is the usual criterion for choosing between GP models on few points
    (R&W section 5.4.2): less prone to over-fit the kernel's structure than the evidence.
    """
    y, m, K = _covariance(model)
    with torch.no_grad():
        K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K))
        diag = torch.diagonal(K_inv)
        resid = (K_inv @ (y - m)) / diag  # y_i - mu_i
        lpd = -0.5 * torch.log(2 * math.pi / diag) - 0.5 * resid**2 * diag
    tf = model.outcome_transform
    if isinstance(tf, Standardize):
        lpd = lpd - torch.log(tf.stdvs.squeeze())
    if keep is not None:
        lpd = lpd[torch.as_tensor(np.asarray(keep, dtype=bool))]
    return float(lpd.sum())


def fit_metric_model(
    data: MetricData,
    *,
    kernel: str,
    cat_dims: Sequence[int],
    max_fit_points: int,
    seed: int,
    maxiter: int = 200,
) -> tuple[SingleTaskGP, np.ndarray, int]:
    """Fit one metric's GP (censored values as lower bounds).

    With ``kernel="auto"``, the kernel is chosen first (:func:`choose_kernel`) and the
    choice is on the returned model's ``optloop_kernel`` attribute.

    Returns the model, its training values (censored ones imputed) and the number of
    points its hyperparameters were fitted on.
    """
    n = len(data.y)
    scores = None
    if data.maximize is not None:
        scores = data.y if data.maximize else -data.y
    subset = select_fit_subset(n, max_fit_points, seed, scores=scores)
    auto = kernel == "auto"
    if auto:
        kernel = choose_kernel(data, cat_dims=cat_dims, seed=seed, maxiter=maxiter)
    model, y = impute_censored(
        data, kernel=kernel, cat_dims=cat_dims, subset=subset, maxiter=maxiter
    )
    if data.has_noise:
        model, y = fit_with_prediction_noise(
            data, model, kernel=kernel, cat_dims=cat_dims, subset=subset, maxiter=maxiter
        )
    if auto:
        model.optloop_kernel = kernel  # type: ignore[assignment]
    return model, y, n if subset is None else len(subset)


def fit_with_prediction_noise(
    data: MetricData,
    first: SingleTaskGP,
    *,
    kernel: str,
    cat_dims: Sequence[int],
    subset: np.ndarray | None,
    maxiter: int = 200,
) -> tuple[SingleTaskGP, np.ndarray]:
    """Refit a metric's GP with per-point noise: learned noise + each prediction's variance.

    The second stage of the two-stage fit (module docstring, "Predicted values"): ``first``
    is the homoscedastic GP fitted on the same data; its learned noise variance (converted
    from standardized to warped units) is added to ``data.noise`` and the result is the
    ``train_Yvar`` of a fixed-noise GP of the same kernel, warm-started from ``first``'s
    kernel hyperparameters. Censored values are imputed again under that noise.

    Returns the model and its training values (censored ones imputed), as
    :func:`impute_censored`.
    """
    if data.noise is None:
        raise ValueError(f"metric {data.name!r}: no per-point noise to fit with")
    noise = np.asarray(data.noise, dtype=float)
    if noise.shape != np.asarray(data.y).shape or not np.isfinite(noise).all() or (
        noise < 0
    ).any():
        raise ValueError(
            f"metric {data.name!r}: noise has shape {noise.shape} for {len(data.y)} values; "
            "limit: one finite variance >= 0 per value"
        )
    tf = first.outcome_transform
    scale = float(tf.stdvs.squeeze()) ** 2 if isinstance(tf, Standardize) else 1.0
    learned = float(cast(Tensor, first.likelihood.noise).detach().mean()) * scale
    yvar = np.maximum(learned + noise, 1e-9)
    return impute_censored(
        data,
        kernel=kernel,
        cat_dims=cat_dims,
        subset=subset,
        maxiter=maxiter,
        yvar=yvar,
        warm=_hyper_state(first, likelihood=False),
    )


def choose_kernel(
    data: MetricData,
    *,
    cat_dims: Sequence[int],
    seed: int,
    maxiter: int = 200,
    max_points: int = AUTO_DECISION_POINTS,
) -> str:
    """Return the kernel of :data:`AUTO_CANDIDATES` that predicts ``data`` best.

    Each candidate is fitted (censored values imputed) on at most ``max_points`` of the
    observations (:func:`select_fit_subset`: the best quarter by the metric when it is an
    objective, then a seeded draw) and scored by the leave-one-out predictive log density of
    the uncensored ones (:func:`loo_log_density`); the first candidate wins ties. Without
    categorical features there is nothing to choose: ``rbf``. The subset bounds the cost of
    choosing to two small fits, whatever the campaign's size.
    """
    if not len(cat_dims):
        return AUTO_CANDIDATES[0]
    scores = None
    if data.maximize is not None:
        scores = data.y if data.maximize else -data.y
    pick = select_fit_subset(len(data.y), max_points, seed, scores=scores)
    if pick is not None:
        data = MetricData(
            data.name, data.X[pick], data.y[pick], data.censored[pick], data.log, data.maximize
        )
    uncensored = ~np.asarray(data.censored, dtype=bool)
    best: tuple[float, str] | None = None
    for k in AUTO_CANDIDATES:
        model, _ = impute_censored(
            data, kernel=k, cat_dims=cat_dims, subset=None, maxiter=maxiter
        )
        score = loo_log_density(model, uncensored)
        if best is None or score > best[0]:
            best = (score, k)
    assert best is not None
    return best[1]


def fit_success_model(
    X: np.ndarray,
    success: np.ndarray,
    *,
    max_inducing: int,
    seed: int,
    maxiter: int = 200,
) -> tuple[SingleTaskVariationalGP, int]:
    """Fit a GP classifier to the 0/1 success labels of all observations.

    A variational GP (``SingleTaskVariationalGP``) with a Bernoulli (probit) likelihood and
    a scaled ARD RBF kernel, its inducing points fixed at the observations (at most
    ``max_inducing`` of them: failures first, then a seeded draw of successes), fitted on
    all labels by maximising the ELBO. Its latent ``f`` is positive where evaluations are
    expected to succeed. Returns the model and the number of inducing points.
    """
    labels = np.asarray(success, dtype=float)
    n = len(labels)
    failures = np.flatnonzero(labels < 0.5)
    subset = select_fit_subset(n, max_inducing, seed, must=failures)
    Xt, Yt = _tensor(X), _tensor(labels).unsqueeze(-1)
    inducing = Xt if subset is None else Xt[subset]
    covar = ScaleKernel(get_covar_module_with_dim_scaled_prior(ard_num_dims=Xt.shape[-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        model = SingleTaskVariationalGP(
            Xt,
            Yt,
            likelihood=BernoulliLikelihood(),
            covar_module=covar,
            inducing_points=inducing.clone(),
            learn_inducing_points=False,
        )
    mll = VariationalELBO(model.likelihood, model.model, num_data=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    model.eval()
    return model, inducing.shape[0]
