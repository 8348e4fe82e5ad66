"""Gradient refinement of candidate designs' continuous parameters.

The pool the screen ranks is finite, so on its own a proposal is only as good as the pool. Here
the acquisition's best candidates are started from and their continuous parameters optimised
with gradients (BoTorch's :func:`~botorch.generation.gen.gen_candidates_scipy`: L-BFGS-B, or
SLSQP when the composition simplex is free), each candidate's categorical choices held fixed:

* **categoricals and inactive parameters** are held at the start's values by equal lower and
  upper bounds (one batch holds starts of different categories and active sets);
* **the composition simplex** is a linear equality on the active fraction features (the
  fractions are linear in their features, and inactive slots are held at 0, so every start
  shares one right-hand side), and the slots' canonical order (falling fraction within a
  kind, as :func:`~optloop.space.encoding.to_values` lists them) linear inequalities;
* **every other feasibility rule** (silicide formers, amorphous reachability, cell balance, a
  lab's own rules) is not differentiable and depends on the categoricals, so it takes the
  generic route: the refined point is decoded to a design and checked with
  :meth:`~optloop.space.DesignSpace.violations`; an infeasible one is *repaired* by
  backtracking along the segment to its (feasible) start — halving the step up to
  ``backtracks`` times — and dropped if no step is feasible. The caller re-scores what comes
  back (a design's canonical encoding can differ from the optimiser's point, e.g. slots are
  re-sorted by fraction).

So every refined design passes every rule exactly, and the same inputs give the same designs
(the optimisers are deterministic and the acquisition's samples are fixed by its seed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.generation.gen import gen_candidates_scipy
from torch import Tensor

from optloop.exceptions import DesignError
from optloop.optimiser.candidates import is_active
from optloop.optimiser.features import FeatureMap
from optloop.optimiser.surrogate import DTYPE
from optloop.space.design import Design
from optloop.space.encoding import from_values, to_values
from optloop.space.space import DesignSpace

__all__ = ["RefineResult", "refine"]

log = logging.getLogger(__name__)

_FRACTION = ".fraction"
_ON_BOUND = 1e-9


@dataclass(frozen=True)
class RefineResult:
    """Refined designs and what it took."""

    designs: list[Design]
    """Feasible refined designs, new (not a start, not excluded), in start order."""
    starts: int
    """Starts optimised."""
    repaired: int
    """Refined points that broke a rule and were moved back towards their start."""
    dropped: int
    """Refined points with no feasible step (the start is kept by the caller)."""


def _free_columns(
    features: FeatureMap, space: DesignSpace, values: dict[str, float | str]
) -> list[int]:
    """Return the feature columns of the design's active continuous parameters."""
    index = {n: j for j, n in enumerate(features.names)}
    out = []
    for p in space.parameters:
        if p.kind != "continuous" or p.fixed or p.name not in index:
            continue
        if is_active(p, values):
            out.append(index[p.name])
    return out


def _simplex(features: FeatureMap) -> tuple[list[int], list[float]] | None:
    """Return the fraction columns and their coefficients (value = low + coef * feature)."""
    idx, coef = [], []
    for j, c in enumerate(features.columns):
        if c.kind == "continuous" and c.name.endswith(_FRACTION) and not c.log_scale:
            idx.append(j)
            coef.append(c.high - c.low)
    return (idx, coef) if len(idx) >= 2 else None


def _slot_order(features: FeatureMap) -> list[tuple[Tensor, Tensor, float]]:
    """Return ``fraction_k >= fraction_k+1`` for consecutive slots of a kind, as inequalities.

    A design's encoding lists its elements by falling fraction (one slot assignment per
    composition); a point that broke this order would be re-encoded with its slots swapped,
    somewhere else in feature space, and lose what the acquisition saw in it.
    """
    index = {n: j for j, n in enumerate(features.names)}
    out = []
    for kind in ("alloying", "non_alloying"):
        k = 1
        while f"alloy.{kind}_{k + 1}{_FRACTION}" in index:
            a, b = index[f"alloy.{kind}_{k}{_FRACTION}"], index[f"alloy.{kind}_{k + 1}{_FRACTION}"]
            ca, cb = features.columns[a], features.columns[b]
            # low_a + (high_a - low_a) z_a >= low_b + (high_b - low_b) z_b
            out.append(
                (
                    torch.tensor([a, b], dtype=torch.long),
                    torch.tensor([ca.high - ca.low, -(cb.high - cb.low)], dtype=DTYPE),
                    float(cb.low - ca.low),
                )
            )
            k += 1
    return out


def _decode(
    features: FeatureMap,
    space: DesignSpace,
    base: dict[str, float | str],
    free: list[int],
    z: np.ndarray,
) -> Design | None:
    values = dict(base)
    for j in free:
        values[features.names[j]] = float(features.maps[j].from_unit(float(z[j])))
    try:
        design = from_values(values, space.config)
    except (DesignError, ValueError):
        return None
    return None if space.violations(design) else design


def refine(
    acquisition: AcquisitionFunction,
    space: DesignSpace,
    features: FeatureMap,
    starts: Sequence[Design],
    *,
    maxiter: int = 50,
    backtracks: int = 4,
    radius: float = 1.0,
    joint: bool = True,
    exclude: set[str] | None = None,
) -> RefineResult:
    """Optimise the continuous parameters of ``starts`` on ``acquisition`` (q = 1).

    Args:
        acquisition: Scores ``b x 1 x d`` feature tensors (with the pending designs in it).
        space: The design space whose rules every returned design passes.
        features: The acquisition's feature map.
        starts: Feasible designs to start from; their categorical choices are kept.
        maxiter: Optimiser iterations (all starts optimised jointly).
        backtracks: Halvings of an infeasible step towards its start before giving up.
        radius: Largest move of a free feature (unit cube; 1 = anywhere within the bounds).
        joint: Optimise all starts as one problem (one batched acquisition call per step,
            cheaper) rather than one problem per start.
        exclude: Keys of designs not to return (observed, pending, already in the pool).

    Returns:
        The new feasible designs and counts of what happened.
    """
    seen = set(exclude or ())
    seen |= {d.key() for d in starts}
    rows, bases, frees = [], [], []
    for d in starts:
        try:
            base = to_values(d, space.parameters, space.config)
        except ValueError:
            continue
        free = _free_columns(features, space, base)
        if not free:
            continue
        rows.append(features.encode([d])[0])
        bases.append(base)
        frees.append(free)
    if not rows:
        return RefineResult([], 0, 0, 0)
    X0 = np.stack(rows)
    lower, upper = X0.copy(), X0.copy()
    for i, free in enumerate(frees):
        X0[i, free] = np.clip(X0[i, free], 0.0, 1.0)
        lower[i, free] = np.maximum(X0[i, free] - radius, 0.0)
        upper[i, free] = np.minimum(X0[i, free] + radius, 1.0)
    equality = None
    inequality = _slot_order(features) or None
    simplex = _simplex(features)
    if simplex is not None and any(set(simplex[0]) & set(f) for f in frees):
        idx, coef = simplex
        # sum(low + coef * z) is 1 for every design, so sum(coef * z) is one constant.
        rhs = float(np.dot(X0[0, idx], coef))
        equality = [(torch.tensor(idx, dtype=torch.long), torch.tensor(coef, dtype=DTYPE), rhs)]
    Xt = torch.as_tensor(X0, dtype=DTYPE).unsqueeze(-2)
    lo = torch.as_tensor(lower, dtype=DTYPE).unsqueeze(-2)
    hi = torch.as_tensor(upper, dtype=DTYPE).unsqueeze(-2)
    Z = X0.copy()
    groups = [[i] for i in range(len(rows))] if not joint else [list(range(len(rows)))]
    for g in groups:
        try:
            X, _ = gen_candidates_scipy(
                initial_conditions=Xt[g],
                acquisition_function=acquisition,
                lower_bounds=lo[g],
                upper_bounds=hi[g],
                equality_constraints=equality,
                inequality_constraints=inequality,
                options={"maxiter": maxiter},
                use_parallel_mode=False,
            )
        except Exception as exc:  # noqa: BLE001 - the pool's candidates still stand
            log.warning("gradient refinement failed (%s: %s)", type(exc).__name__, exc)
            continue
        Z[g] = X.detach().reshape(len(g), -1).numpy()
    # SLSQP stops within its tolerance of a bound; a point that close is on it.
    Z = np.where(Z < _ON_BOUND, 0.0, np.where(Z > 1.0 - _ON_BOUND, 1.0, Z))
    out: list[Design] = []
    repaired = dropped = 0
    for i in range(len(rows)):
        step = Z[i] - X0[i]
        design = None
        for k in range(backtracks + 1):
            design = _decode(features, space, bases[i], frees[i], X0[i] + step / 2**k)
            if design is not None:
                repaired += k > 0
                break
        if design is None:
            dropped += 1
            continue
        key = design.key()
        if key in seen:
            continue
        seen.add(key)
        out.append(design)
    return RefineResult(out, len(rows), repaired, dropped)
