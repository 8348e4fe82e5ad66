r"""Acquisition functions over the fitted surrogates.

* Two or more objectives: ``qLogNoisyExpectedHypervolumeImprovement`` with the config's
  reference point. Samples are mapped back to the metrics' units (``exp`` for log-warped
  metrics) and minimised objectives negated, so the hypervolume is the one a user computes
  from the config.
* One objective: ``qLogNoisyExpectedImprovement``.

Both take the outcome constraints (``metric >= value`` or ``<= value``, scaled by the
metric's spread) and, when a failure model exists, the constraint "the failure classifier's
latent is positive" as BoTorch constraint callables, so the acquisition is the expected
improvement of designs that satisfy the constraints and succeed. Pending designs are ``X_pending``;
observed ones ``X_baseline`` (at most ``max_baseline`` of the predicted best, then pruned
by BoTorch to the likely best).

Scoring every candidate of a pool of ~1500 with these would cost a joint posterior with the
baseline per candidate; :class:`Screen` ranks the pool first from each candidate's marginal
posterior (an order of magnitude cheaper per candidate), and only its shortlist meets the
real acquisition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.gpytorch import GPyTorchModel
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    NondominatedPartitioning,
)
from torch import Tensor

from optloop.config.models import Objective, OutcomeConstraint
from optloop.optimiser.kernel import ensure_fused_kernel
from optloop.optimiser.surrogate import DTYPE, SUCCESS, FittedSurrogate

__all__ = [
    "ConstraintSpec",
    "build_acquisition",
    "Screen",
    "baseline",
    "pareto_order",
    "predict",
    "success_probability",
]

_MAX_LOG = 700.0  # exp() of larger log-values overflows a double


@dataclass(frozen=True)
class ConstraintSpec:
    """An outcome constraint on a modelled metric, with the scale of its slack."""

    constraint: OutcomeConstraint
    scale: float


def _unwarp(Y: Tensor, index: int, log: bool) -> Tensor:
    y = Y[..., index]
    return y.clamp(max=_MAX_LOG).exp() if log else y


def _objective_values(
    surrogate: FittedSurrogate, objectives: Sequence[Objective]
) -> Callable[[Tensor], Tensor]:
    parts = [
        (
            surrogate.index(o.name),
            surrogate.log[o.name],
            1.0 if o.direction == "maximize" else -1.0,
        )
        for o in objectives
    ]

    def values(Y: Tensor) -> Tensor:
        return torch.stack([sign * _unwarp(Y, i, log) for i, log, sign in parts], dim=-1)

    return values


def _constraint_callables(
    surrogate: FittedSurrogate, constraints: Sequence[ConstraintSpec]
) -> list[Callable[[Tensor], Tensor]]:
    out: list[Callable[[Tensor], Tensor]] = []
    for spec in constraints:
        c = spec.constraint
        i, log = surrogate.index(c.metric), surrogate.log[c.metric]
        sign = 1.0 if c.op == ">=" else -1.0

        def slack(
            Y: Tensor,
            i: int = i,
            log: bool = log,
            sign: float = sign,
            value: float = c.value,
            scale: float = spec.scale,
        ) -> Tensor:
            # Negative when satisfied: value - y for ">=", y - value for "<=".
            return sign * (value - _unwarp(Y, i, log)) / scale

        out.append(slack)
    if SUCCESS in surrogate.outputs:
        s = surrogate.index(SUCCESS)

        def fails(Y: Tensor, s: int = s) -> Tensor:
            # The classifier's latent: positive where the evaluation should succeed.
            return -Y[..., s]

        out.append(fails)
    return out


def build_acquisition(
    surrogate: FittedSurrogate,
    objectives: Sequence[Objective],
    constraints: Sequence[ConstraintSpec],
    X_baseline: Tensor,
    X_pending: Tensor | None,
    *,
    mc_samples: int,
    seed: int,
    eta: float = 1e-2,
) -> AcquisitionFunction:
    """Build qLogNEHVI (several objectives) or qLogNEI (one) over ``surrogate``."""
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed)
    cons = _constraint_callables(surrogate, constraints) or None
    values = _objective_values(surrogate, objectives)

    def multi(Y: Tensor, X: Tensor | None = None) -> Tensor:
        return values(Y)

    def single(Y: Tensor, X: Tensor | None = None) -> Tensor:
        return values(Y)[..., 0]

    if X_pending is not None and X_pending.shape[0] == 0:
        X_pending = None
    if len(objectives) > 1:
        ref = _ref_point(objectives)
        ensure_fused_kernel()  # never let BoTorch wait forever on a stale compile lock
        return qLogNoisyExpectedHypervolumeImprovement(
            model=surrogate.model,
            ref_point=ref,
            X_baseline=X_baseline,
            sampler=sampler,
            objective=GenericMCMultiOutputObjective(multi),
            constraints=cons,
            X_pending=X_pending,
            eta=eta,
            prune_baseline=True,
        )
    return qLogNoisyExpectedImprovement(
        model=surrogate.model,
        X_baseline=X_baseline,
        sampler=sampler,
        objective=GenericMCObjective(single),
        constraints=cons,
        X_pending=X_pending,
        eta=eta,
        prune_baseline=True,
    )


def _marginals(surrogate: FittedSurrogate, name: str, Z: Tensor) -> tuple[Tensor, Tensor]:
    """Return the posterior mean and std of one output at each row of ``Z`` (no noise)."""
    model = _submodel(surrogate, surrogate.index(name))
    means, stds = [], []
    with torch.no_grad():
        for z in Z.split(1024):
            post = model.posterior(z)
            means.append(post.mean.reshape(-1))
            stds.append(post.variance.clamp_min(1e-18).sqrt().reshape(-1))
    return torch.cat(means), torch.cat(stds)


class Screen:
    """Score candidates cheaply, to search and screen large pools before the real acquisition.

    The noisy acquisitions sample every candidate jointly with the observed baseline (and the
    pending designs); the screen uses each candidate's marginal posterior only: the expected
    (hypervolume) improvement over the posterior-mean front (or best value) of the observed
    designs predicted to meet every constraint, by quasi-MC over ``n_samples`` draws, times
    the probability of meeting the constraints and of succeeding (the outputs of a
    ``ModelListGP`` are independent). Candidates that no draw improves rank by their
    optimistic value (mean + 2 std), below all others. Scores do not depend on which other
    candidates are scored with them.
    """

    def __init__(
        self,
        surrogate: FittedSurrogate,
        objectives: Sequence[Objective],
        constraints: Sequence[ConstraintSpec],
        X_observed: Tensor,
        *,
        n_samples: int,
        seed: int,
    ) -> None:
        self.surrogate = surrogate
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        engine = torch.quasirandom.SobolEngine(len(objectives), scramble=True, seed=seed)
        u = engine.draw(n_samples, dtype=DTYPE).clamp(1e-6, 1 - 1e-6)
        self._w = torch.distributions.Normal(0.0, 1.0).icdf(u)  # n_samples x m
        with torch.no_grad():
            mean = surrogate.model.posterior(X_observed).mean
            values = _objective_values(surrogate, objectives)(mean)
            ok = torch.ones(values.shape[0], dtype=torch.bool)
            for slack in _constraint_callables(surrogate, constraints):
                ok &= slack(mean) <= 0
        front = values[ok]
        self._scale = values.std(0).clamp_min(1e-12) if values.shape[0] > 1 else None
        if len(objectives) > 1:
            cells = NondominatedPartitioning(
                ref_point=_ref_point(objectives), Y=front
            ).get_hypercell_bounds()
            self._lo, self._hi = cells[0], cells[1]  # C x m
        else:
            self._best = front[:, 0].max() if front.shape[0] else values[:, 0].min()

    def __call__(self, Z: Tensor) -> Tensor:
        """Return the ``n`` log-scores of the ``n x d`` candidates ``Z`` (higher is better)."""
        sur, n = self.surrogate, Z.shape[0]
        samples, optimistic = [], torch.zeros(n, dtype=DTYPE)
        for k, o in enumerate(self.objectives):
            mu, sd = _marginals(sur, o.name, Z)
            f = mu.unsqueeze(0) + sd.unsqueeze(0) * self._w[:, k : k + 1]  # n_samples x n
            sign = 1.0 if o.direction == "maximize" else -1.0
            samples.append(sign * (f.clamp(max=_MAX_LOG).exp() if sur.log[o.name] else f))
            top = mu + 2 * sd
            top = sign * (top.clamp(max=_MAX_LOG).exp() if sur.log[o.name] else top)
            optimistic += top / (self._scale[k] if self._scale is not None else 1.0)
        Y = torch.stack(samples, dim=-1)  # n_samples x n x m
        if len(self.objectives) > 1:
            ext = (torch.minimum(Y.unsqueeze(-2), self._hi) - self._lo).clamp_min(0)
            improvement = ext.prod(-1).sum(-1).mean(0)  # over cells, then samples
        else:
            improvement = (Y[..., 0] - self._best).clamp_min(0).mean(0)
        feasible = torch.ones(n, dtype=DTYPE)
        for spec in self.constraints:
            c = spec.constraint
            mu, sd = _marginals(sur, c.metric, Z)
            value = math.log(c.value) if sur.log[c.metric] else c.value
            z = (mu - value) / sd
            feasible *= torch.special.ndtr(z if c.op == ">=" else -z)
        if SUCCESS in sur.outputs:
            mu, sd = _marginals(sur, SUCCESS, Z)
            feasible *= torch.special.ndtr(mu / sd)
        score = improvement * feasible
        tie = torch.log(torch.sigmoid(optimistic) * feasible + 1e-300) - 1e4
        return torch.where(score > 0, torch.log(score), tie)


def baseline(
    surrogate: FittedSurrogate,
    objectives: Sequence[Objective],
    constraints: Sequence[ConstraintSpec],
    X_observed: Tensor,
    k: int,
) -> Tensor:
    """Return at most ``k`` observed designs to serve as the noisy acquisitions' baseline.

    The designs predicted to meet the constraints come first, each group by non-dominated
    front of the posterior-mean objectives (by value, for one objective). BoTorch's
    ``prune_baseline`` then keeps those likely to be best; this cap only bounds its cost.
    """
    if X_observed.shape[0] <= k:
        return X_observed
    with torch.no_grad():
        mean = surrogate.model.posterior(X_observed).mean
        values = _objective_values(surrogate, objectives)(mean).numpy()
        ok = torch.ones(values.shape[0], dtype=torch.bool)
        for slack in _constraint_callables(surrogate, constraints):
            ok &= slack(mean) <= 0
    met = ok.numpy()
    order = list(np.flatnonzero(met)[pareto_order(values[met], k)])
    order += list(np.flatnonzero(~met)[pareto_order(values[~met], k)])
    return X_observed[sorted(int(i) for i in order[:k])]


def pareto_order(values: np.ndarray, limit: int) -> np.ndarray:
    """Return row indices by non-dominated front (maximisation), then by first column.

    Peeling stops once ``limit`` rows are ordered.
    """
    remaining = np.arange(values.shape[0])
    order: list[int] = []
    while remaining.size and len(order) < limit:
        v = values[remaining]
        ge = (v[:, None, :] >= v[None, :, :]).all(-1)
        gt = (v[:, None, :] > v[None, :, :]).any(-1)
        dominated = (ge & gt).any(0)
        front = remaining[~dominated]
        front = front[np.argsort(-values[front, 0], kind="stable")]
        order.extend(int(i) for i in front)
        remaining = remaining[dominated]
    return np.array(order, dtype=int)


def _ref_point(objectives: Sequence[Objective]) -> Tensor:
    return torch.tensor(
        [o.reference if o.direction == "maximize" else -o.reference for o in objectives],
        dtype=DTYPE,
    )


def _submodel(surrogate: FittedSurrogate, i: int) -> GPyTorchModel:
    return cast(GPyTorchModel, surrogate.model.models[i])


def predict(
    surrogate: FittedSurrogate, metrics: Sequence[str], Z: Tensor
) -> list[dict[str, tuple[float, float]]]:
    """Return each row's predictive (mean, std) per metric, in the metric's unit.

    The predictive includes observation noise. Log-warped metrics report the mean and std of
    the log-normal predictive.
    """
    out: list[dict[str, tuple[float, float]]] = [{} for _ in range(Z.shape[0])]
    if Z.shape[0] == 0:
        return out
    for name in metrics:
        i = surrogate.index(name)
        with torch.no_grad():
            post = _submodel(surrogate, i).posterior(Z, observation_noise=True)
            m = post.mean.reshape(-1).numpy()
            v = post.variance.clamp_min(0).reshape(-1).numpy()
        if surrogate.log[name]:
            v_c = np.minimum(v, 50.0)
            mm = np.exp(np.minimum(m + v_c / 2, _MAX_LOG))
            sd = mm * np.sqrt(np.expm1(v_c))
        else:
            mm, sd = m, np.sqrt(v)
        for row in range(Z.shape[0]):
            out[row][name] = (float(mm[row]), float(sd[row]))
    return out


def success_probability(surrogate: FittedSurrogate, Z: Tensor) -> list[float | None]:
    """Return each row's predicted probability that its evaluation succeeds.

    The probit classifier's predictive ``Phi(mu / sqrt(1 + s^2))`` of its latent ``N(mu, s^2)``.
    """
    if SUCCESS not in surrogate.outputs:
        return [None] * Z.shape[0]
    i = surrogate.index(SUCCESS)
    with torch.no_grad():
        post = _submodel(surrogate, i).posterior(Z)
        m, v = post.mean.reshape(-1), post.variance.clamp_min(0).reshape(-1)
        p = torch.special.ndtr(m / torch.sqrt(1 + v))
    return [float(x) for x in p]
