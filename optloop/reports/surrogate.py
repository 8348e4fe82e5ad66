"""What the surrogate learned and how well it predicted.

* **Importance.** One BoTorch ``SingleTaskGP`` per objective is fitted on the completed
  trials (the space's encoded features scaled to the unit cube, ``cycle_life`` as ``log``,
  censored values at their lower bound). A parameter's importance is the mean absolute
  change of the GP's posterior mean when that parameter's columns are permuted jointly across
  the observed designs plus a seeded sample of feasible ones; shares sum to one. This is a
  report-side refit with the campaign's data, not the optimiser's own model.
* **Calibration.** Each trial stores the mean and standard deviation the optimiser
  predicted before it was evaluated; they are held against the observed outcomes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from optloop.config.models import CampaignConfig
from optloop.reports.figures import Calibration
from optloop.space import Design, DesignSpace
from optloop.store import Trial, TrialStatus

__all__ = ["LOG_METRICS", "calibration", "importance", "unit_features"]

#: Positive, skewed metrics modelled as ``log(y)`` (as the optimiser does).
LOG_METRICS = ("cycle_life",)
_MIN_POINTS = 4


def unit_features(
    space: DesignSpace, designs: Sequence[Design]
) -> tuple[np.ndarray, list[int], dict[str, list[int]]]:
    """Encode designs onto the unit cube.

    Returns:
        ``(X, kept, groups)``: the ``n x d`` features of the designs that could be encoded,
        their indices in ``designs``, and parameter name -> feature columns.
    """
    # The optimiser's own feature map; imported here because its package loads BoTorch.
    from optloop.optimiser.features import FeatureMap

    fmap = FeatureMap(space)
    rows, kept = [], []
    for k, d in enumerate(designs):
        try:
            rows.append(space.encode(d))
        except Exception:  # noqa: BLE001 - a design outside the space's encoding is left out
            continue
        kept.append(k)
    groups: dict[str, list[int]] = {}
    for j, c in enumerate(fmap.columns):
        groups.setdefault(c.parameter, []).append(j)
    X = fmap.from_encoded(np.stack(rows)) if rows else np.zeros((0, fmap.dim))
    return X, kept, groups


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: tiny GPs are several times faster without intra-op threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_gp(X: np.ndarray, y: np.ndarray, seed: int) -> object:
    import torch
    from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.utils.sampling import manual_seed
    from gpytorch.mlls import ExactMarginalLogLikelihood

    Xt = torch.as_tensor(X, dtype=torch.float64)
    Yt = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
    # Seeded for a reproducible fit; the caller's global torch RNG state is restored after.
    with manual_seed(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        warnings.simplefilter("ignore", OptimizationWarning)
        model = SingleTaskGP(Xt, Yt, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                         optimizer_kwargs={"options": {"maxiter": 100}})
    return model


def _posterior_mean(model: object, X: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        post = model.posterior(torch.as_tensor(X, dtype=torch.float64))  # type: ignore[attr-defined]
        return np.asarray(post.mean.squeeze(-1).numpy())


def importance(
    trials: Sequence[Trial],
    config: CampaignConfig,
    *,
    seed: int | None = None,
    n_sample: int = 64,
    repeats: int = 3,
) -> dict[str, list[tuple[str, float]]]:
    """Return objective -> [(parameter, share of sensitivity)] from a GP per objective.

    Objectives with fewer than four completed values are left out.
    """
    seed = config.seed if seed is None else seed
    space = DesignSpace.from_campaign(config, probe=False)
    done = [t for t in trials if t.status is TrialStatus.COMPLETED]
    try:
        extra = space.sample(n_sample, seed)
    except Exception:  # noqa: BLE001 - observed designs alone still give an answer
        extra = []
    out: dict[str, list[tuple[str, float]]] = {}
    rng = np.random.default_rng(seed)
    with _one_thread():
        for o in config.objectives:
            _importance_of(o.name, done, space, extra, seed, repeats, rng, out)
    return out


def _importance_of(
    metric: str,
    done: Sequence[Trial],
    space: DesignSpace,
    extra: Sequence[Design],
    seed: int,
    repeats: int,
    rng: np.random.Generator,
    out: dict[str, list[tuple[str, float]]],
) -> None:
    ts = [t for t in done if metric in t.outcomes and math.isfinite(t.outcomes[metric])]
    X, kept, groups = unit_features(space, [t.design for t in ts])
    if len(kept) < _MIN_POINTS or X.shape[1] == 0:
        return
    y = np.array([ts[k].outcomes[metric] for k in kept], dtype=float)
    if metric in LOG_METRICS and (y > 0).all():
        y = np.log(y)
    model = _fit_gp(X, y, seed)
    Xs, _, _ = unit_features(space, extra)
    base = np.vstack([X, Xs]) if len(Xs) else X
    mu = _posterior_mean(model, base)
    scores = {}
    for name, cols in groups.items():
        delta = 0.0
        for _ in range(repeats):
            Xp = base.copy()
            Xp[:, cols] = base[rng.permutation(len(base))][:, cols]
            delta += float(np.mean(np.abs(_posterior_mean(model, Xp) - mu)))
        scores[name] = delta / repeats
    total = sum(scores.values())
    if total > 0:
        out[metric] = [(k, v / total) for k, v in scores.items()]


def calibration(trials: Sequence[Trial], config: CampaignConfig) -> list[Calibration]:
    """Return predicted (before evaluation) against observed values, one per predicted metric.

    Objectives come first, then other metrics the optimiser predicted (constrained ones).
    """
    names = [o.name for o in config.objectives]
    for t in trials:
        for m in t.predictions:
            if m not in names:
                names.append(m)
    out = []
    for m in names:
        rows = [
            t for t in trials
            if t.status is TrialStatus.COMPLETED and m in t.outcomes
            and len(t.predictions.get(m, ())) >= 2
            and all(math.isfinite(float(v)) for v in t.predictions[m][:2])
        ]
        out.append(
            Calibration(
                metric=m,
                trial_ids=[t.id for t in rows],
                predicted_mean=np.array([float(t.predictions[m][0]) for t in rows]),
                predicted_std=np.array([float(t.predictions[m][1]) for t in rows]),
                observed=np.array([float(t.outcomes[m]) for t in rows]),
                censored=np.array([bool(t.censored.get(m, False)) for t in rows], dtype=bool),
            )
        )
    return out
