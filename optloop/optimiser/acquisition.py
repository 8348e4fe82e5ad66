r"""Acquisition functions over the fitted surrogates.

* Two or more objectives: ``qLogNoisyExpectedHypervolumeImprovement`` with the config's
  reference point. Samples are mapped back to the metrics' units (``exp`` for log-warped
  metrics) and minimised objectives negated, so the hypervolume is the one a user computes
  from the config.
* One objective: ``qLogNoisyExpectedImprovement``.

Both take the outcome constraints (``metric >= value`` or ``<= value``, scaled by the
metric's spread) and, when a failure model exists, the constraint "the failure classifier's latent
is positive" as BoTorch constraint callables, so the acquisition is the expected improvement of
designs that satisfy the constraints and succeed. Pending designs are ``X_pending``;
observed ones ``X_baseline`` (pruned to the likely best).
"""

from __future__ import annotations

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
from torch import Tensor

from optloop.config.models import Objective, OutcomeConstraint
from optloop.optimiser.surrogate import DTYPE, SUCCESS, FittedSurrogate

__all__ = ["ConstraintSpec", "build_acquisition", "predict", "success_probability"]

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
        ref = torch.tensor(
            [o.reference if o.direction == "maximize" else -o.reference for o in objectives],
            dtype=DTYPE,
        )
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
