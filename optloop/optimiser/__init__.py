"""The proposal engine: feasible Sobol designs, then BoTorch Bayesian optimisation.

Data flows config -> space -> optimiser: an :class:`Optimiser` is built from a
:class:`~optloop.space.DesignSpace`, the objectives and the outcome constraints, and turns
finished :class:`Observation` s and pending designs into :class:`Proposal` s. It knows
nothing of stores, evaluators or tracking.

Example::

    space = DesignSpace.from_campaign(config)
    optimiser = Optimiser(
        space, config.objectives, config.outcome_constraints,
        initial_designs=config.optimiser.initial_designs, seed=config.seed,
    )
    proposals, timing = optimiser.propose(observations, pending, n=4, iteration=3)
"""

from optloop.optimiser.optimiser import Optimiser, OptimiserSettings
from optloop.optimiser.types import Observation, Proposal, ProposalTiming

__all__ = ["Observation", "Optimiser", "OptimiserSettings", "Proposal", "ProposalTiming"]
