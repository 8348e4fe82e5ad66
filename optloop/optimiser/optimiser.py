"""The proposal engine: Sobol designs first, then Bayesian optimisation.

:class:`Optimiser` knows the design space, the objectives and the outcome constraints;
it is given the finished observations and the pending (running) designs and returns the
next batch. It keeps no campaign state of its own: the same seed and the same data give
the same proposals, whichever process asks. (It caches the Sobol sequence and a fixed part
of the candidate pool, both functions of the seed only, so keeping one instance alive
between proposals saves time.)

One BoTorch proposal:

1. **Fit** a GP per metric (objectives and outcome-constrained metrics; censored values as
   lower bounds) and, if anything failed, a GP classifier of success
   (:mod:`optloop.optimiser.surrogate`).
2. **Pool** feasible candidates: mutations of the incumbents (small and large steps, one
   categorical change at times), every one checked against all rules
   (:mod:`optloop.optimiser.candidates`). Random designs join only if ``static_pool`` /
   ``fresh_pool`` ask for them, or when no mutation is feasible: measured on the benchmark
   suite, a random pool draws the acquisition to the box's bounds (where a GP fitted on a
   few dozen points is most uncertain) and loses to a pool local to the incumbents, a trust
   region of sorts (``experiments/results/suite/variants.md``).
3. **Screen** the pool with a cheap marginal expected-(hypervolume-)improvement score and
   search locally around its best (:class:`~optloop.optimiser.acquisition.Screen`); the real
   acquisition, qLogNEHVI (several objectives) or qLogNEI (one), with the pending designs as
   ``X_pending`` and the constraints and success probability as constraints
   (:func:`~optloop.optimiser.acquisition.build_acquisition`), scores the screen's shortlist.
4. **Refine** the acquisition's best with gradients (:mod:`optloop.optimiser.refine`): their
   continuous parameters are optimised with the categoricals held, the composition simplex
   as a linear equality and every other rule kept exactly by a backtracking repair; then
   (``alternating_rounds``) every single categorical move from the best is scored and the
   best moves refined in turn, as in BoTorch's mixed alternating optimiser.
5. **Choose** the batch among the best of all of these by sequential greedy
   ``optimize_acqf_discrete``.

Every proposal is a feasible design (a pool member or a refined design that passed every
rule), on the composition simplex exactly; none equals an observed or pending design.

Which route each feasibility rule takes in the refinement (:mod:`optloop.space.rules`):
the composition simplex and the slots' canonical order are linear constraints of the
gradient step; ``plating_elements`` and ``cvd_precursors`` depend on categoricals only and
hold because refinement never changes one (categorical moves are checked before scoring);
``amorphous_reachable`` (substrate temperature, glass-former fraction), ``alloy_stores_lithium``
(fractions), ``cell_balance`` (thicknesses, N/P), ``alloy_in_space`` (fraction floors,
counts), ``layers_in_space`` and ``cell_in_space``, and any rule a lab adds, take the generic
route: the refined design is checked and, if it breaks a rule, moved back towards its
feasible start (:func:`~optloop.optimiser.refine.refine`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from botorch.models import ModelListGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.optim import optimize_acqf_discrete
from botorch.utils.sampling import manual_seed
from torch import Tensor

from optloop.analysis.constraints import meets_constraints
from optloop.config.models import Objective, OutcomeConstraint
from optloop.exceptions import InfeasibleDesignError
from optloop.objectives import check_metric
from optloop.optimiser.acquisition import (
    ConstraintSpec,
    Screen,
    baseline,
    build_acquisition,
    pareto_order,
    predict,
    success_probability,
)
from optloop.optimiser.candidates import mutate, neighbours, unique_feasible
from optloop.optimiser.features import FeatureMap
from optloop.optimiser.initial import SobolDesigns
from optloop.optimiser.multitask import fit_with_prior
from optloop.optimiser.refine import RefineResult, refine
from optloop.optimiser.surrogate import (
    DTYPE,
    SUCCESS,
    FittedSurrogate,
    MetricData,
    fit_metric_model,
    fit_success_model,
)
from optloop.optimiser.types import Observation, Proposal, ProposalTiming
from optloop.space.design import Design
from optloop.space.space import DesignSpace

__all__ = ["Optimiser", "OptimiserSettings"]

log = logging.getLogger(__name__)

# Purposes of derived seeds.
_FIT, _ACQ, _FRESH, _MUTATE, _POOL = range(5)


@dataclass(frozen=True)
class OptimiserSettings:
    """Tuning knobs of the BO phase.

    The defaults are measured in ``experiments/results/bench_optimiser.md`` (about 3-4 s of
    CPU per batch of 4 at 200 observations, 11 s at 1000, on 2 cores).
    """

    kernel: str = "auto"
    """``"auto"`` (per metric and fit, the better of ``rbf`` and ``mixed`` by leave-one-out
    predictive density; ``rbf`` when there are no categorical features), ``"rbf"``
    (SingleTaskGP, ARD RBF on all features), ``"mixed"`` (MixedSingleTaskGP) or
    ``"rbf_warp"``."""
    mc_samples: int = 128
    """Quasi-MC samples of the acquisition."""
    static_pool: int = 0
    """Feasible random designs drawn once per optimiser (from the seed) for every pool
    (0 by default: a random pool pulls proposals to the bounds, see the module docstring)."""
    fresh_pool: int = 0
    """Feasible random designs drawn anew for each proposal (0 by default, as above)."""
    fallback_pool: int = 256
    """Feasible random designs drawn when the incumbents' mutations leave the pool empty."""
    incumbents: int = 8
    """Best (or Pareto-optimal) observed designs whose mutations join the pool."""
    incumbents_from: str = "observed"
    """Which values rank the incumbents: ``"observed"`` outcomes, or ``"posterior"``, the
    surrogate's posterior means at the observed designs (a noisy lucky draw then leads the
    pool no more than its neighbours say it should)."""
    mutations_per_incumbent: int = 48
    """Mutation attempts per incumbent (infeasible ones are dropped)."""
    local_search_rounds: int = 2
    """Rounds of mutating the top-scoring candidates before the batch is chosen."""
    local_search_top: int = 8
    """Candidates mutated per local-search round."""
    local_search_mutations: int = 24
    """Mutation attempts per candidate and round."""
    max_fit_points: int = 300
    """Above this many observations, hyperparameters are fitted on a subset of this size
    and the GP conditioned on all (see :mod:`optloop.optimiser.surrogate`)."""
    fit_maxiter: int = 50
    """L-BFGS-B iterations per hyperparameter fit on more than ``small_fit`` points."""
    fit_maxiter_small: int = 200
    """L-BFGS-B iterations per hyperparameter fit on at most ``small_fit`` points."""
    small_fit: int = 64
    """Fits on this many points or fewer are cheap: they get ``fit_maxiter_small``."""
    max_inducing: int = 128
    """Most inducing points of the failure classifier (failures first)."""
    min_points: int = 3
    """Observations of every objective needed before the BO phase can start."""
    log_metrics: tuple[str, ...] = ("cycle_life",)
    """Positive, skewed metrics modelled as log(y)."""
    shortlist: int = 128
    """Candidates, the screen's best, among which the acquisition picks the batch."""
    greedy_choices: int = 32
    """Candidates, the acquisition's best of the shortlist, left for the greedy batch steps."""
    max_baseline: int = 64
    """Observed designs (the predicted best) given to the noisy acquisition as baseline."""
    torch_threads: int | None = 1
    """Torch threads while proposing (restored after); None leaves torch's setting."""
    eta: float = 1e-2
    """Sigmoid temperature of the constraints (slack in units of the metric's spread)."""
    refine_starts: int = 4
    """The acquisition's best candidates whose continuous parameters are refined by gradient
    (:mod:`optloop.optimiser.refine`); 0 turns refinement off."""
    refine_maxiter: int = 40
    """Optimiser iterations of one refinement (all starts jointly)."""
    refine_radius: float = 1.0
    """Largest move of a refined feature from its start (unit cube); 1 leaves the box only."""
    refine_joint: bool = True
    """Optimise all starts in one L-BFGS-B problem (summed acquisition) rather than one by one."""
    alternating_rounds: int = 1
    """Rounds of categorical moves (one choice changed) from the best, each refined."""


class _Clock:
    """Wall-clock and process CPU seconds per phase ("fit", "acquisition")."""

    def __init__(self) -> None:
        self.wall = {"fit": 0.0, "acquisition": 0.0}
        self.cpu = {"fit": 0.0, "acquisition": 0.0}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[phase] += time.perf_counter() - w
            self.cpu[phase] += time.process_time() - c

    def timing(self, n_obs: int, n_cand: int, n_training: int, phase: str) -> ProposalTiming:
        return ProposalTiming(
            self.wall["fit"],
            self.wall["acquisition"],
            n_obs,
            n_cand,
            n_training,
            phase,
            self.cpu["fit"],
            self.cpu["acquisition"],
        )


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _plausible(o: Observation) -> Observation:
    """Return ``o`` without outcomes outside their metric's physical range (logged).

    The store's front door (``tell``) refuses such values; this guards the models against any
    that reach them another way (an old store, a plugin's bug): one ``1e308`` turns every GP
    input into NaN and the campaign could never propose again.
    """
    bad = {k: why for k, v in o.outcomes.items() if (why := check_metric(k, v)) is not None}
    if not bad:
        return o
    for why in bad.values():
        log.warning("observation value left out of the models: %s", why)
    kept = {k: v for k, v in o.outcomes.items() if k not in bad}
    return replace(o, outcomes=kept, censored={k: c for k, c in o.censored.items() if k in kept})


def _derive(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) % 2**32 for p in parts]).generate_state(1)[0])


@dataclass
class _Data:
    designs: list[Design]
    X: np.ndarray  # features of encodable observations
    obs: list[Observation]


class Optimiser:
    """Propose batches of feasible anode designs for a campaign's objectives.

    Args:
        space: The design space; every proposal passes all of its rules.
        objectives: One objective (qLogNEI) or several (qLogNEHVI with their references).
        outcome_constraints: Bounds on metrics a design must meet to count.
        initial_designs: Feasible observations (plus pending designs) before BO starts.
        seed: The one seed of everything random here.
        settings: BO tuning knobs (small ones make tests fast).
    """

    def __init__(
        self,
        space: DesignSpace,
        objectives: list[Objective],
        outcome_constraints: list[OutcomeConstraint],
        *,
        initial_designs: int,
        seed: int,
        settings: OptimiserSettings | None = None,
    ) -> None:
        if not objectives:
            raise ValueError("objectives is empty; the optimiser needs at least one objective")
        if initial_designs < 0:
            raise ValueError(f"initial_designs = {initial_designs}; need >= 0")
        self.space = space
        self.objectives = list(objectives)
        self.outcome_constraints = list(outcome_constraints)
        self.initial_designs = initial_designs
        self.seed = seed
        self.settings = settings or OptimiserSettings()
        if self.settings.incumbents_from not in ("observed", "posterior"):
            raise ValueError(
                f"settings.incumbents_from = {self.settings.incumbents_from!r}; limit: "
                "'observed' or 'posterior'"
            )
        if self.settings.kernel not in ("rbf", "mixed", "rbf_warp", "auto"):
            raise ValueError(
                f"settings.kernel = {self.settings.kernel!r}; limit: 'rbf', 'mixed', 'rbf_warp' "
                "or 'auto'"
            )
        self.features = FeatureMap(space)
        self._sobol = SobolDesigns(space, seed)
        self._static: list[Design] | None = None
        #: What the last proposal's gradient refinement did (None before the first).
        self.last_refinement: RefineResult | None = None
        #: The kernel each metric's GP used in the last fit (``"auto"`` chooses per fit).
        self.last_kernels: dict[str, str] = {}
        #: Per metric, what the simulated prior did in the last fit with prior observations:
        #: ``{"used": bool, "task_correlation": float, "loo_cells_prior": float,
        #: "loo_cells_alone": float, "n_sim": int}`` (:func:`fit_with_prior`).
        self.last_prior: dict[str, dict[str, float | bool | int]] = {}
        self._prior: _Data | None = None
        names = [o.name for o in self.objectives]
        self._metrics = names + [
            c.metric
            for i, c in enumerate(self.outcome_constraints)
            if c.metric not in names
            and c.metric not in [x.metric for x in self.outcome_constraints[:i]]
        ]

    # ----------------------------------------------------------------------------- public

    def propose(
        self,
        observations: Sequence[Observation],
        pending: Sequence[Design],
        n: int,
        *,
        iteration: int = 0,
        prior_observations: Sequence[Observation] = (),
    ) -> tuple[list[Proposal], ProposalTiming]:
        """Propose ``n`` new feasible designs, none equal to an observed or pending one.

        Sobol designs while fewer than ``initial_designs`` feasible observations and pending
        designs exist (or while no surrogate can be fitted), BoTorch proposals after; a
        batch may hold both, Sobol first. Fewer than ``n`` come back only when the space
        holds no more new feasible designs.

        Args:
            observations: Finished trials (failed ones included, with ``failed=True``).
            pending: Designs proposed or running but not finished.
            n: How many designs to propose.
            iteration: The campaign's iteration number; it enters the derived seeds.
            prior_observations: Simulated twins of designs (a simulator as a prior, mode
                (c)): each metric with enough of them is modelled with them as a second
                task (:mod:`optloop.optimiser.multitask`). Empty: nothing changes.

        Returns:
            The proposals, in batch order, and where the time went.
        """
        if n < 0:
            raise ValueError(f"n = {n}; need n >= 0")
        self._prior = self._encode_observations(prior_observations)
        self.last_prior = {}
        try:
            with _torch_threads(self.settings.torch_threads), warnings.catch_warnings():
                # GPyTorch's variational interpolation builds a sparse tensor; torch warns once.
                warnings.filterwarnings("ignore", "Sparse invariant checks", UserWarning)
                return self._propose(observations, pending, n, iteration)
        finally:
            self._prior = None

    def fit_surrogate(
        self,
        observations: Sequence[Observation],
        *,
        iteration: int = 0,
        prior_observations: Sequence[Observation] = (),
    ) -> FittedSurrogate | None:
        """Fit the surrogates ``propose`` would fit on these observations (None: too few).

        For reports and benchmarks: the models, their outputs and the imputed censored values.
        """
        self._prior = self._encode_observations(prior_observations)
        try:
            with _torch_threads(self.settings.torch_threads), warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Sparse invariant checks", UserWarning)
                data = self._encode_observations(observations)
                with manual_seed(_derive(self.seed, iteration, len(observations), _FIT)):
                    return self._fit(data, iteration)
        finally:
            self._prior = None

    def _propose(
        self,
        observations: Sequence[Observation],
        pending: Sequence[Design],
        n: int,
        iteration: int,
    ) -> tuple[list[Proposal], ProposalTiming]:
        clock = _Clock()
        with clock("acquisition"):
            exclude = {o.design.key() for o in observations} | {d.key() for d in pending}
            n_done = sum(not self.space.violations(o.design) for o in observations)
            n_sobol = min(n, max(0, self.initial_designs - n_done - len(pending)))
            sobol = self._sobol.take(n_sobol, exclude) if n_sobol else []
        proposals = [Proposal(d, "sobol", {}, None, i) for i, d in enumerate(sobol)]
        remaining = n - len(proposals)
        if remaining == 0:
            return proposals, clock.timing(
                len(observations), self._sobol.points_examined, 0, "sobol"
            )
        surrogate = None
        with clock("fit"):
            data = self._encode_observations(observations)
            try:
                with manual_seed(_derive(self.seed, iteration, len(observations), _FIT)):
                    surrogate = self._fit(data, iteration)
            except Exception as exc:  # noqa: BLE001 - any fitting failure falls back to Sobol
                log.warning(
                    "surrogate fit failed (%s: %s); proposing Sobol designs",
                    type(exc).__name__,
                    exc,
                )
        if surrogate is None:
            with clock("acquisition"):
                exclude |= {d.key() for d in sobol}
                more = self._sobol.take(remaining, exclude)
            proposals += [
                Proposal(d, "sobol", {}, None, len(proposals) + i) for i, d in enumerate(more)
            ]
            return proposals, clock.timing(
                len(observations), self._sobol.points_examined, 0, "sobol"
            )
        with clock("acquisition"):
            bo, n_cand = self._bo(
                surrogate,
                data,
                list(pending) + sobol,
                exclude | {d.key() for d in sobol},
                remaining,
                iteration,
                len(observations),
            )
        proposals += [
            Proposal(
                p.design,
                p.origin,
                p.predictions,
                p.acquisition_value,
                len(sobol) + i,
                p.success_probability,
            )
            for i, p in enumerate(bo)
        ]
        return proposals, clock.timing(
            len(observations), n_cand, surrogate.n_training, "mixed" if sobol else "botorch"
        )

    # ----------------------------------------------------------------------------- fitting

    def _encode_observations(self, observations: Sequence[Observation]) -> _Data:
        rows, kept, designs = [], [], []
        for o in observations:
            try:
                rows.append(self.features.encode([o.design])[0])
            except ValueError as exc:
                log.warning("observation left out: its design cannot be encoded (%s)", exc)
                continue
            kept.append(_plausible(o))
            designs.append(o.design)
        X = np.stack(rows) if rows else np.zeros((0, self.features.dim))
        return _Data(designs, X, kept)

    def _metric_data(self, data: _Data, name: str) -> MetricData | None:
        idx, vals, cens, noise = [], [], [], []
        for i, o in enumerate(data.obs):
            v = o.outcomes.get(name)
            if o.failed or v is None or not math.isfinite(v):
                continue
            idx.append(i)
            vals.append(float(v))
            cens.append(bool(o.censored.get(name, False)))
            v_noise = o.noise.get(name, 0.0)
            noise.append(float(v_noise) if math.isfinite(v_noise) and v_noise > 0 else 0.0)
        if len(idx) < self.settings.min_points:
            return None
        y = np.array(vals)
        use_log = name in self.settings.log_metrics and bool((y > 0).all())
        objective = next((o for o in self.objectives if o.name == name), None)
        if use_log and objective is not None and objective.reference <= 0:
            use_log = False
        for c in self.outcome_constraints:
            if use_log and c.metric == name and c.value <= 0:
                use_log = False
        variance = np.array(noise)
        if not use_log:  # the noise is in log units: delta method to the metric's own units
            variance = variance * y**2
        return MetricData(
            name,
            data.X[idx],
            np.log(y) if use_log else y,
            np.array(cens, dtype=bool),
            use_log,
            None if objective is None else objective.direction == "maximize",
            noise=variance if (variance > 0).any() else None,
        )

    def _prior_metric_data(self, name: str, cell: MetricData) -> MetricData | None:
        """Return the simulations' data of a metric in the cells' warping (None: too few)."""
        if self._prior is None or not self._prior.obs:
            return None
        idx, vals, cens = [], [], []
        for i, o in enumerate(self._prior.obs):
            v = o.outcomes.get(name)
            if o.failed or v is None or not math.isfinite(v) or (cell.log and v <= 0):
                continue
            idx.append(i)
            vals.append(float(v))
            cens.append(bool(o.censored.get(name, False)))
        if len(idx) < self.settings.min_points:
            return None
        y = np.array(vals)
        return MetricData(
            name,
            self._prior.X[idx],
            np.log(y) if cell.log else y,
            np.array(cens, dtype=bool),
            cell.log,
            cell.maximize,
        )

    def _maxiter(self, n: int) -> int:
        s = self.settings
        return s.fit_maxiter_small if min(n, s.max_fit_points) <= s.small_fit else s.fit_maxiter

    def _fit(self, data: _Data, iteration: int) -> FittedSurrogate | None:
        s = self.settings
        cat = self.features.categorical if s.kernel in ("mixed", "rbf_warp", "auto") else []
        models: list[GPyTorchModel] = []
        outputs: list[str] = []
        logs: dict[str, bool] = {}
        imputed: dict[str, np.ndarray] = {}
        n_training = 0
        objectives = [o.name for o in self.objectives]
        for k, name in enumerate(self._metrics):
            md = self._metric_data(data, name)
            if md is None:
                if name in objectives:
                    return None
                log.info(
                    "outcome constraint on %s left out: fewer than %d values", name, s.min_points
                )
                continue
            try:
                model, y, n_fit = fit_metric_model(
                    md,
                    kernel=s.kernel,
                    cat_dims=cat,
                    max_fit_points=s.max_fit_points,
                    seed=_derive(self.seed, iteration, len(data.obs), _FIT, k),
                    maxiter=self._maxiter(len(md.y)),
                )
                sim = self._prior_metric_data(name, md)
                if sim is not None:
                    model, y, n_fit, self.last_prior[name] = fit_with_prior(
                        md,
                        sim,
                        (model, y, n_fit),
                        seed=_derive(self.seed, iteration, len(data.obs), _FIT, k, 7),
                        # Iterations as for the cells alone: the two-task fit needs them
                        # (tests/test_prior_model.py: RMSE 0.43 with 50, 0.37 with 200).
                        maxiter=self._maxiter(len(md.y)),
                    )
            except Exception as exc:
                if name in objectives:
                    raise
                log.warning("outcome constraint on %s left out: its GP failed (%s)", name, exc)
                continue
            models.append(model)
            self.last_kernels[name] = str(getattr(model, "optloop_kernel", s.kernel))
            outputs.append(name)
            logs[name] = md.log
            imputed[name] = y[md.censored]
            n_training = max(n_training, n_fit)
        success = np.array([not o.failed for o in data.obs], dtype=float)
        if 0 < success.sum() < len(success):
            try:
                classifier, n_fit = fit_success_model(
                    data.X,
                    success,
                    max_inducing=s.max_inducing,
                    seed=_derive(self.seed, iteration, len(data.obs), _FIT, 99),
                    maxiter=self._maxiter(len(success)),
                )
            except Exception as exc:  # noqa: BLE001 - propose without the failure model
                log.warning("failure classifier left out: its fit failed (%s)", exc)
            else:
                models.append(classifier)
                outputs.append(SUCCESS)
                n_training = max(n_training, n_fit)
        return FittedSurrogate(ModelListGP(*models), outputs, logs, imputed, n_training)

    # ----------------------------------------------------------------------------- BO

    def _constraint_specs(self, data: _Data, surrogate: FittedSurrogate) -> list[ConstraintSpec]:
        out = []
        for c in self.outcome_constraints:
            if c.metric not in surrogate.outputs:
                continue
            vals = np.array(
                [
                    o.outcomes[c.metric]
                    for o in data.obs
                    if not o.failed and math.isfinite(o.outcomes.get(c.metric, math.nan))
                ]
            )
            scale = float(np.std(vals)) if vals.size > 1 else 0.0
            out.append(ConstraintSpec(c, scale if scale > 0 else max(abs(c.value), 1.0)))
        return out

    def _incumbents(self, data: _Data, surrogate: FittedSurrogate | None = None) -> list[Design]:
        k = self.settings.incumbents
        ok = [
            i
            for i, o in enumerate(data.obs)
            if not o.failed
            and all(math.isfinite(o.outcomes.get(m.name, math.nan)) for m in self.objectives)
        ]
        if not ok or k <= 0:
            return []
        vals = np.array(
            [
                [
                    (1.0 if m.direction == "maximize" else -1.0) * data.obs[i].outcomes[m.name]
                    for m in self.objectives
                ]
                for i in ok
            ]
        )
        if surrogate is not None and self.settings.incumbents_from == "posterior":
            X = torch.as_tensor(data.X[ok], dtype=DTYPE)
            with torch.no_grad():
                mean = surrogate.model.posterior(X).mean
            # Posterior means in the model's (possibly log-warped) units: the order, which
            # is all the Pareto ranking uses, is the same in the config's units.
            vals = np.stack(
                [
                    (1.0 if m.direction == "maximize" else -1.0)
                    * mean[:, surrogate.index(m.name)].numpy()
                    for m in self.objectives
                ],
                axis=1,
            )
        met = np.array([self._meets_constraints(data.obs[i]) for i in ok])
        # Designs meeting the outcome constraints first, each group by Pareto front.
        order = [ok[j] for j in np.flatnonzero(met)[pareto_order(vals[met], k)]]
        order += [ok[j] for j in np.flatnonzero(~met)[pareto_order(vals[~met], k)]]
        return [data.designs[i] for i in order[:k]]

    @staticmethod
    def _top(values: Tensor, k: int) -> list[int]:
        return torch.argsort(values, descending=True, stable=True)[:k].tolist()

    def _meets_constraints(self, o: Observation) -> bool:
        # The analysis' check: a missing constrained metric is not known to meet its bound.
        return meets_constraints(o.outcomes, self.outcome_constraints)

    def _static_pool(self) -> list[Design]:
        if self._static is None:
            try:
                self._static = self.space.sample(
                    self.settings.static_pool, _derive(self.seed, _POOL)
                )
            except InfeasibleDesignError:
                self._static = []
        return self._static

    def _pool(
        self,
        data: _Data,
        exclude: set[str],
        iteration: int,
        n_obs: int,
        rng: np.random.Generator,
        surrogate: FittedSurrogate | None = None,
    ) -> list[Design]:
        s = self.settings
        designs: list[Design] = list(self._static_pool())
        if s.fresh_pool:
            try:
                designs += self.space.sample(
                    s.fresh_pool, _derive(self.seed, iteration, n_obs, _FRESH)
                )
            except InfeasibleDesignError:
                pass
        for inc in self._incumbents(data, surrogate):
            designs += mutate(self.space, inc, s.mutations_per_incumbent // 2, rng, scale=0.05)
            designs += mutate(
                self.space,
                inc,
                s.mutations_per_incumbent - s.mutations_per_incumbent // 2,
                rng,
                scale=0.2,
            )
        pool, _ = unique_feasible(designs, exclude)
        if not pool and s.fallback_pool:
            try:
                extra = self.space.sample(
                    s.fallback_pool, _derive(self.seed, iteration, n_obs, _FRESH, 1)
                )
            except InfeasibleDesignError:
                extra = []
            pool, _ = unique_feasible(extra, exclude)
        return pool

    def _bo(
        self,
        surrogate: FittedSurrogate,
        data: _Data,
        pending: list[Design],
        exclude: set[str],
        q: int,
        iteration: int,
        n_obs: int,
    ) -> tuple[list[Proposal], int]:
        s = self.settings
        rng = np.random.default_rng(_derive(self.seed, iteration, n_obs, _MUTATE))
        pool = self._pool(data, exclude, iteration, n_obs, rng, surrogate)
        if not pool:
            return [], 0
        seen = exclude | {d.key() for d in pool}
        Z = torch.as_tensor(self.features.encode(pool), dtype=DTYPE)
        ok = [i for i, o in enumerate(data.obs) if not o.failed]
        X_ok = torch.as_tensor(data.X[ok] if ok else data.X, dtype=DTYPE)
        pend_rows = []
        for d in pending:
            try:
                pend_rows.append(self.features.encode([d])[0])
            except ValueError:
                continue
        X_pend = torch.as_tensor(np.array(pend_rows), dtype=DTYPE) if pend_rows else None
        specs = self._constraint_specs(data, surrogate)
        with manual_seed(_derive(self.seed, iteration, n_obs, _ACQ)):
            # 1. Score the pool with the cheap screen and search locally around its best.
            screen = Screen(
                surrogate,
                self.objectives,
                specs,
                X_ok,
                n_samples=s.mc_samples,
                seed=_derive(self.seed, iteration, n_obs, _ACQ, 2),
            )
            vals = screen(Z)
            for _ in range(s.local_search_rounds):
                top = torch.argsort(vals, descending=True, stable=True)[: s.local_search_top]
                new: list[Design] = []
                for i in top.tolist():
                    new += mutate(self.space, pool[i], s.local_search_mutations, rng, scale=0.05)
                new, keys = unique_feasible(new, seen)
                if not new:
                    break
                seen |= set(keys)
                pool += new
                Z_new = torch.as_tensor(self.features.encode(new), dtype=DTYPE)
                Z = torch.cat([Z, Z_new])
                vals = torch.cat([vals, screen(Z_new)])
            # 2. The batch: sequential greedy qLogNEHVI / qLogNEI, with the pending designs,
            # over the screen's shortlist.
            shortlist = torch.argsort(vals, descending=True, stable=True)[: max(s.shortlist, q)]
            Zs = Z[shortlist]
            acq = build_acquisition(
                surrogate,
                self.objectives,
                specs,
                baseline(surrogate, self.objectives, specs, X_ok, s.max_baseline),
                X_pend,
                mc_samples=s.mc_samples,
                seed=_derive(self.seed, iteration, n_obs, _ACQ, 1),
                eta=s.eta,
            )
            with torch.no_grad():
                first = torch.cat([acq(z.unsqueeze(-2)) for z in Zs.split(256)])
            # 3. Alternating search from the acquisition's best: gradient refinement of the
            # continuous parameters, then single categorical moves, refined in turn.
            def add(designs: list[Design]) -> Tensor:
                nonlocal Z, first, shortlist, Zs, seen
                seen |= {d.key() for d in designs}
                Z_new = torch.as_tensor(self.features.encode(designs), dtype=DTYPE)
                pool.extend(designs)
                Z = torch.cat([Z, Z_new])
                with torch.no_grad():
                    v_new = torch.cat([acq(z.unsqueeze(-2)) for z in Z_new.split(256)])
                first = torch.cat([first, v_new])
                new_idx = torch.arange(len(pool) - len(designs), len(pool))
                shortlist = torch.cat([shortlist, new_idx])
                Zs = torch.cat([Zs, Z_new])
                return v_new

            starts = [pool[int(shortlist[i])] for i in self._top(first, s.refine_starts)]
            for round_ in range(s.alternating_rounds + 1 if s.refine_starts > 0 else 0):
                if round_ > 0:
                    moves, _ = unique_feasible(
                        [n for d in starts for n in neighbours(self.space, d)], seen
                    )
                    if not moves:
                        break
                    v_moves = add(moves)
                    starts = [moves[i] for i in self._top(v_moves, s.refine_starts)]
                result = refine(
                    acq,
                    self.space,
                    self.features,
                    starts,
                    maxiter=s.refine_maxiter,
                    radius=s.refine_radius,
                    joint=s.refine_joint,
                    exclude=seen,
                )
                self.last_refinement = result
                if result.designs:
                    best_before = float(first.max())
                    v_ref = add(result.designs)
                    log.debug(
                        "round %d: %d refined (%d repaired, %d dropped); best %.4g -> %.4g",
                        round_, len(result.designs), result.repaired, result.dropped,
                        best_before, float(v_ref.max()),
                    )
                starts = [pool[int(shortlist[i])] for i in self._top(first, s.refine_starts)]
            if q > 1 and len(shortlist) > s.greedy_choices:
                # Pending points only lower values: the later greedy steps choose among the
                # first step's best.
                best = torch.argsort(first, descending=True, stable=True)[: s.greedy_choices]
                shortlist, Zs = shortlist[best], Zs[best]
            cand, values = optimize_acqf_discrete(acq, q=min(q, len(shortlist)), choices=Zs)
        values = values.reshape(-1)
        picked: list[int] = []
        for row in cand:
            hits = shortlist[torch.nonzero((Zs == row).all(-1)).flatten()].tolist()
            picked.append(next(h for h in hits if h not in picked))
        Zp = Z[picked]
        preds = predict(surrogate, [m for m in self._metrics if m in surrogate.outputs], Zp)
        probs = success_probability(surrogate, Zp)
        out = [
            Proposal(pool[i], "botorch", preds[k], float(values[k]), k, probs[k])
            for k, i in enumerate(picked)
        ]
        return out, len(pool)
