"""Pareto sets, best designs and hypervolume of a campaign's completed trials.

Censored outcomes (a cycle life whose test stopped before 80 %) count at their lower bound:
the front can only be under-, never over-stated. Trials that break an outcome constraint do
not count, nor do trials missing a constrained metric
(:func:`~optloop.analysis.constraints.meets_constraints`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.utils.multi_objective.box_decompositions.dominated import (
    DominatedPartitioning,
)
from botorch.utils.multi_objective.pareto import is_non_dominated

from optloop.analysis.constraints import meets_constraints
from optloop.config.models import Objective, OutcomeConstraint
from optloop.store.trial import Trial, TrialStatus

__all__ = ["feasible_completed", "hypervolume", "hypervolume_history", "pareto_trials"]


def feasible_completed(
    trials: Sequence[Trial],
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint],
) -> list[Trial]:
    """Return completed trials with every objective measured and every constraint met."""
    return [
        t
        for t in trials
        if t.status is TrialStatus.COMPLETED
        and all(o.name in t.outcomes for o in objectives)
        and meets_constraints(t.outcomes, constraints)
    ]


def _signed(trials: Sequence[Trial], objectives: Sequence[Objective]) -> torch.Tensor:
    """Return outcomes as a maximisation problem, ``n x m``."""
    sign = torch.tensor(
        [1.0 if o.direction == "maximize" else -1.0 for o in objectives], dtype=torch.double
    )
    y = torch.tensor(
        [[t.outcomes[o.name] for o in objectives] for t in trials], dtype=torch.double
    ).reshape(len(trials), len(objectives))
    return y * sign


def _ref(objectives: Sequence[Objective]) -> torch.Tensor:
    return torch.tensor(
        [o.reference if o.direction == "maximize" else -o.reference for o in objectives],
        dtype=torch.double,
    )


def pareto_trials(
    trials: Sequence[Trial],
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint] = (),
) -> list[Trial]:
    """Return the non-dominated feasible trials (the best one for a single objective)."""
    ok = feasible_completed(trials, objectives, constraints)
    if not ok:
        return []
    y = _signed(ok, objectives)
    mask = is_non_dominated(y, deduplicate=True)
    front = [t for t, keep in zip(ok, mask.tolist(), strict=True) if keep]
    return sorted(
        front,
        key=lambda t: (
            -t.outcomes[objectives[0].name] * (1 if objectives[0].direction == "maximize" else -1)
        ),
    )


def hypervolume(
    trials: Sequence[Trial],
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint] = (),
) -> float:
    """Return the hypervolume dominated by the feasible trials above the reference point.

    For one objective it is the improvement of the best value over the reference.
    """
    ok = feasible_completed(trials, objectives, constraints)
    if not ok:
        return 0.0
    y, ref = _signed(ok, objectives), _ref(objectives)
    if y.shape[1] == 1:
        return float(max(0.0, float(y.max() - ref[0])))
    better = (y > ref).all(dim=-1)
    if not bool(better.any()):
        return 0.0
    return float(DominatedPartitioning(ref_point=ref, Y=y[better]).compute_hypervolume())


def hypervolume_history(
    trials: Sequence[Trial],
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint] = (),
) -> list[tuple[int, float]]:
    """Return ``(evaluations, hypervolume)`` after each finished trial, in finishing order."""
    done = sorted(
        (t for t in trials if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)),
        key=lambda t: (t.finished_at or 0.0, t.id),
    )
    out = []
    for k in range(1, len(done) + 1):
        out.append((k, hypervolume(done[:k], objectives, constraints)))
    return out
