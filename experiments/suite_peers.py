"""Runners of the benchmark suite: optloop, Sobol and the peers, one ``(problem, seed)`` each.

Every runner ``run_<method>(problem, seed) -> record`` proposes batches of the problem's q,
each evaluated before the next is asked for, until the budget is spent. Every method starts
with ``problem.initial_designs`` (8) space-filling / random designs, then its model:

* ``optloop``: :class:`~optloop.optimiser.Optimiser`, default ``OptimiserSettings``;
* ``sobol``: the same with ``initial_designs = budget`` (optloop's initial design only);
* ``ax``: Ax ``Client``, default generation strategy with ``initialization_budget = 8``,
  ``get_next_trials(q)``; the composition cap (metal share <= its bound) as Ax's native linear
  inequality; Ax has no equality constraint, so the simplex is met by renormalisation when
  the design is built (``from_values``), as for every peer;
* ``baybe``: BayBE ``Campaign``, ``TwoPhaseMetaRecommender`` (``RandomRecommender`` for the
  first 8, then ``BotorchRecommender``), the simplex as a ``ContinuousLinearConstraint``
  (``=``); on hybrid spaces BayBE's mixed optimiser enumerates categorical combinations, cut
  by ``BAYBE_SETTINGS`` (stated in the results);
* ``botorch``: a plain BoTorch loop: categoricals one-hot for the GP (integer-coded for the
  optimiser, one-hot by an input transform), continuous parameters on the unit cube (log where
  the space says), a ``SingleTaskGP`` per objective (Normalize / Standardize),
  ``qLogNoisyExpectedHypervolumeImprovement``, ``optimize_acqf_mixed_alternating``
  (``BOTORCH_SETTINGS``), the simplex as a linear equality constraint, 8 scrambled Sobol
  initial points;
* ``optuna_tpe``, ``optuna_gp``: Optuna ``TPESampler`` / ``GPSampler``, multi-objective,
  ``n_startup_trials = 8``, ask-and-tell in batches of q.

All peers see the space through :class:`PeerSpace` (free parameters, fixed values; decoding by
``from_values`` and the space's feasibility rules): a proposal that cannot be built or breaks
a rule is not evaluated, is told back as failed and counts against the peer's budget.
Hypervolume is scored on ``problem.truth`` when the problem has it (noisy problems).
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_sample_efficiency as bse  # noqa: E402

from optloop.exceptions import OptloopError  # noqa: E402
from optloop.optimiser import Observation, Optimiser  # noqa: E402
from optloop.space import Design  # noqa: E402
from optloop.space.encoding import from_values, to_values  # noqa: E402
from optloop.space.parameters import Parameter  # noqa: E402

log = logging.getLogger("bench_suite")

METHODS = ("optloop", "sobol", "ax", "baybe", "botorch", "optuna_tpe", "optuna_gp")
BOUNDARY_EPS = 0.02
BOTORCH_SETTINGS = {"num_restarts": 5, "raw_samples": 256}
AX_SETTINGS = {"num_restarts": 5, "raw_samples": 256}
BAYBE_SETTINGS = {"n_restarts": 2, "n_raw_samples": 64, "sampling_percentage": 0.03}
SIMPLEX = ("alloy.alloying_1.fraction", "alloy.non_alloying_1.fraction")
SETTINGS = {
    "optloop": "Optimiser, default OptimiserSettings, initial_designs = {initial} (stratified "
    "Sobol)",
    "sobol": "Optimiser with initial_designs = budget (optloop's initial design only)",
    "ax": "Client(random_seed=s), default generation strategy, "
    "initialization_budget = {{initial}}, "
    "get_next_trials(q); metal-share cap as a native linear inequality; simplex by "
    "renormalisation (Ax has no equality constraint); acquisition optimiser cut from Ax's "
    "defaults 20 restarts / 1024 raw samples to {num_restarts} / {raw_samples}, for time"
    .format(**AX_SETTINGS),
    "baybe": "Campaign, TwoPhaseMetaRecommender(RandomRecommender, BotorchRecommender, "
    "switch_after = {{initial}}), ParetoObjective; simplex as ContinuousLinearConstraint '='; "
    "BotorchRecommender(n_restarts={n_restarts}, n_raw_samples={n_raw_samples}, "
    "hybrid_sampler='Random', sampling_percentage={sampling_percentage}) on hybrid spaces "
    "(cut from the defaults 10 / 64 / all combinations, for time)".format(**BAYBE_SETTINGS),
    "botorch": "{{initial}} scrambled Sobol points, one-hot SingleTaskGP per objective, "
    "qLogNoisyExpectedHypervolumeImprovement, optimize_acqf_mixed_alternating("
    "num_restarts={num_restarts}, raw_samples={raw_samples}); simplex as a linear equality "
    "constraint".format(**BOTORCH_SETTINGS),
    "optuna_tpe": "TPESampler(seed=s, n_startup_trials={initial}), ask-and-tell in batches of q",
    "optuna_gp": "GPSampler(seed=s, n_startup_trials={initial}), ask-and-tell in batches of q",
}


# ------------------------------------------------------------------------------- peer space


@dataclass
class PeerSpace:
    """The design space as a peer sees it: free parameters, fixed values, a decoder."""

    problem: bse.Problem
    free: list[Parameter]
    fixed: dict[str, float | str]

    @classmethod
    def of(cls, p: bse.Problem) -> PeerSpace:
        """Split the problem's space parameters into free ones and fixed values."""
        free, fixed = [], {}
        a = p.space.config.alloy_layer
        # With one composition slot its fraction is 1 after renormalisation whatever its
        # value, except at the bound 0, where the design cannot be built: hold it at 1.
        only_slot = a.max_alloying_elements == 1 and a.max_non_alloying_elements == 0
        for q in p.space.parameters:
            if only_slot and q.name == "alloy.alloying_1.fraction":
                fixed[q.name] = 1.0
            elif not q.fixed:
                free.append(q)
            else:
                fixed[q.name] = q.choices[0] if q.kind == "categorical" else q.low
        return cls(p, free, fixed)

    @property
    def simplex(self) -> list[str]:
        """The free composition fractions that must sum to 1 (empty if fewer than two)."""
        names = [q.name for q in self.free if q.name in SIMPLEX]
        return names if len(names) == 2 else []

    def design(self, values: Mapping[str, Any]) -> tuple[Design | None, str | None]:
        """Build the design a peer proposes; ``(None, why)`` when it cannot be built or is infeasible."""  # noqa: E501
        try:
            d = from_values({**self.fixed, **values}, self.problem.space.config)
        except (OptloopError, ValueError, KeyError, ZeroDivisionError) as exc:
            return None, f"cannot be built: {type(exc).__name__}: {exc}"
        broken = self.problem.space.violations(d)
        if broken:
            return None, "infeasible: " + "; ".join(sorted({v.rule for v in broken}))
        return d, None

    def unit_coords(self, values: Mapping[str, Any]) -> list[float]:
        """Unit-cube coordinates of the free continuous parameters active in ``values``."""
        out = []
        values = {**self.fixed, **values}
        for q in self.free:
            if q.kind == "categorical" or not _active(q, values):
                continue
            v = float(values[q.name])
            if q.log_scale:
                u = (math.log(max(v, 1e-300)) - math.log(q.low)) / (
                    math.log(q.high) - math.log(q.low)
                )
            else:
                u = (v - q.low) / (q.high - q.low)
            out.append(min(max(u, 0.0), 1.0))
        return out


def _active(q: Parameter, values: Mapping[str, Any]) -> bool:
    if not q.active_when:
        return True
    name, _, level = (s.strip() for s in q.active_when.partition("=="))
    return str(values.get(name, "")) == level


# ------------------------------------------------------------------------------- recorder


class Recorder:
    """A run's evaluations (feasible, failed or infeasible), timings, curve and boundary share."""

    def __init__(self, p: bse.Problem, method: str, seed: int) -> None:
        self.p = p
        self.method = method
        self.seed = seed
        self.ps = PeerSpace.of(p)
        self.truth: Callable[[Design], dict[str, float]] | None = getattr(p, "truth", None)
        self.scored: list[Observation | None] = []  # truth (what the hypervolume counts)
        self.evals: list[dict[str, Any]] = []
        self.batch_s: list[float] = []
        self.units_after_initial: list[float] = []
        self.t0 = time.perf_counter()
        self.keep = [o.name for o in p.objectives] + [c.metric for c in p.constraints]

    @property
    def n(self) -> int:
        return len(self.scored)

    def evaluate(
        self, design: Design | None, why: str | None, values: Mapping[str, Any] | None = None
    ) -> Observation | None:
        """Evaluate a buildable design and return what the method sees; None if infeasible."""
        if values is None and design is not None:
            values = to_values(design, list(self.p.space.parameters), self.p.space.config)
        if self.n >= self.p.initial_designs and values is not None:
            self.units_after_initial += self.ps.unit_coords(values)
        batch = len(self.batch_s) - 1
        if design is None:
            self.scored.append(None)
            self.evals.append({"batch": batch, "infeasible": True, "reason": why,
                               "values": dict(values or {})})
            return None
        obs, reason = self.p.evaluate(design)
        true = obs
        if self.truth is not None and not obs.failed:
            true = Observation(design, self.truth(design), dict(obs.censored))
        self.scored.append(true)
        self.evals.append(
            {
                "batch": batch,
                "infeasible": False,
                "failed": obs.failed,
                "outcomes": {k: obs.outcomes[k] for k in self.keep if k in obs.outcomes},
                **(
                    {"true": {k: true.outcomes[k] for k in self.keep if k in true.outcomes}}
                    if true is not obs
                    else {}
                ),
                **({"reason": reason} if obs.failed else {}),
                **self.p.describe(design),
            }
        )
        return obs

    def hv(self, upto: int | None = None) -> float:
        """Hypervolume of the feasible (true) evaluations among the first ``upto``."""
        trials = [bse._trial(i, o) for i, o in enumerate(self.scored[:upto]) if o is not None]
        return bse.hypervolume(trials, self.p.objectives, self.p.constraints)

    def batch_done(self) -> None:
        log.debug(
            "[%s %s seed %d] %d/%d evals  hv %.4g  infeasible %d  (last batch %.1f s)",
            self.p.name, self.method, self.seed, self.n, self.p.budget, self.hv(),
            sum(o is None for o in self.scored), self.batch_s[-1] if self.batch_s else 0.0,
        )

    def result(self) -> dict[str, Any]:
        """The run's record (what ``bench_suite`` saves as one JSON file)."""
        u = np.asarray(self.units_after_initial, dtype=float)
        near = int(((u < BOUNDARY_EPS) | (u > 1 - BOUNDARY_EPS)).sum()) if u.size else 0
        return {
            "problem": self.p.name,
            "method": self.method,
            "seed": self.seed,
            "budget": self.p.budget,
            "batch": self.p.batch,
            "initial_designs": self.p.initial_designs,
            "settings": SETTINGS.get(self.method, "").replace(
                "{initial}", str(self.p.initial_designs)
            ),
            "hv": [self.hv(k + 1) for k in range(self.n)],
            "infeasible": sum(o is None for o in self.scored),
            "failed": sum(o is not None and o.failed for o in self.scored),
            "propose_s_batches": self.batch_s,
            "boundary": {"near": near, "coords": int(u.size)},
            "wall_s": time.perf_counter() - self.t0,
            "evaluations": self.evals,
        }


# ------------------------------------------------------------------------------- optloop


def run_optloop(p: bse.Problem, seed: int, method: str = "optloop") -> dict[str, Any]:
    """optloop's ``Optimiser`` (``optloop``) or its initial design for the whole budget (``sobol``)."""  # noqa: E501
    initial = p.initial_designs if method == "optloop" else p.budget
    opt = Optimiser(
        p.space, p.objectives, p.constraints, initial_designs=initial, seed=seed,
        settings=p.settings,
    )
    rec = Recorder(p, method, seed)
    seen: list[Observation] = []
    iteration = 0
    while rec.n < p.budget:
        n = min(p.batch, p.budget - rec.n)
        t0 = time.perf_counter()
        proposals, _ = opt.propose(seen, [], n, iteration=iteration)
        rec.batch_s.append(time.perf_counter() - t0)
        if not proposals:
            log.warning("[%s %s seed %d] no proposal after %d; stopping", p.name, method, seed,
                        rec.n)
            break
        for prop in proposals:
            obs = rec.evaluate(prop.design, None)
            assert obs is not None
            seen.append(obs)
        iteration += 1
        rec.batch_done()
    return rec.result()


def run_sobol(p: bse.Problem, seed: int) -> dict[str, Any]:
    """optloop's initial design (stratified Sobol) for the whole budget."""
    return run_optloop(p, seed, "sobol")


# ------------------------------------------------------------------------------- Optuna


def run_optuna(p: bse.Problem, seed: int, sampler_name: str) -> dict[str, Any]:
    """An Optuna sampler (``tpe`` or ``gp``), ``n_startup_trials=8``, ask-and-tell in batches."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    ps = PeerSpace.of(p)
    dists: dict[str, BaseDistribution] = {
        q.name: (
            CategoricalDistribution(list(q.choices))
            if q.kind == "categorical"
            else FloatDistribution(q.low, q.high, log=q.log_scale)
        )
        for q in ps.free
    }

    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return list(trial.user_attrs.get("constraints", [1.0] * len(p.constraints)))

    cons = constraints if p.constraints else None
    cls = {"tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler}[sampler_name]
    sampler = cls(seed=seed, n_startup_trials=p.initial_designs, constraints_func=cons)
    study = optuna.create_study(directions=[o.direction for o in p.objectives], sampler=sampler)
    rec = Recorder(p, f"optuna_{sampler_name}", seed)
    while rec.n < p.budget:
        n = min(p.batch, p.budget - rec.n)
        t0 = time.perf_counter()
        trials = [study.ask(dists) for _ in range(n)]
        rec.batch_s.append(time.perf_counter() - t0)
        for t in trials:
            design, why = ps.design(t.params)
            obs = rec.evaluate(design, why, t.params)
            if obs is None or obs.failed:
                study.tell(t, state=TrialState.FAIL)
                continue
            if p.constraints:
                t.set_user_attr("constraints", _constraint_excess(p, obs.outcomes))
            study.tell(t, [obs.outcomes[o.name] for o in p.objectives])
        rec.batch_done()
    return rec.result()


def run_optuna_tpe(p: bse.Problem, seed: int) -> dict[str, Any]:
    """Optuna ``TPESampler``."""
    return run_optuna(p, seed, "tpe")


def run_optuna_gp(p: bse.Problem, seed: int) -> dict[str, Any]:
    """Optuna ``GPSampler``."""
    return run_optuna(p, seed, "gp")


def _constraint_excess(p: bse.Problem, outcomes: Mapping[str, float]) -> list[float]:
    """Optuna-style constraint values (<= 0 is feasible) of the outcome constraints."""
    out = []
    for c in p.constraints:
        v = outcomes.get(c.metric, math.nan)
        out.append(c.value - v if c.op == ">=" else v - c.value)
    return out


# ------------------------------------------------------------------------------- Ax


def _ax_name(name: str) -> str:
    return name.replace(".", "__")


def _quiet() -> None:
    for name in ("ax", "pyro", "botorch", "gpytorch", "linear_operator", "baybe"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def _quiet_ax() -> None:
    # Ax sets levels on its own loggers when imported.
    for name in list(logging.root.manager.loggerDict):
        if name == "ax" or name.startswith("ax."):
            logging.getLogger(name).setLevel(logging.ERROR)


def run_ax(p: bse.Problem, seed: int) -> dict[str, Any]:
    """Ax ``Client``, default generation strategy with ``initialization_budget`` = 8."""
    _quiet()
    from ax.api.client import Client
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    _quiet_ax()
    # Ax's acquisition optimiser defaults (20 restarts, 1024 raw samples) cost ~65 s a batch on
    # anode_mixed on this machine; cut to the plain BoTorch loop's settings (AX_SETTINGS).
    from ax.generators.torch.botorch_modular import optimizer_argparse

    optimizer_argparse.NUM_RESTARTS = AX_SETTINGS["num_restarts"]  # type: ignore[attr-defined]
    optimizer_argparse.RAW_SAMPLES = AX_SETTINGS["raw_samples"]  # type: ignore[attr-defined]
    ps = PeerSpace.of(p)
    params: list[RangeParameterConfig | ChoiceParameterConfig] = []
    for q in ps.free:
        if q.kind == "categorical":
            params.append(ChoiceParameterConfig(
                name=_ax_name(q.name), values=list(q.choices), parameter_type="str",
                is_ordered=False,
            ))
        else:
            params.append(RangeParameterConfig(
                name=_ax_name(q.name), bounds=(q.low, q.high), parameter_type="float",
                scaling="log" if q.log_scale else "linear",
            ))
    constraints = []
    if ps.simplex:
        # metal share n / (a + n) <= cap  <=>  n - cap / (1 - cap) * a <= 0 (renormalised).
        cap = p.space.config.alloy_layer.non_alloying_fraction.high
        a, m = (_ax_name(n) for n in SIMPLEX)
        constraints.append(f"{m} - {cap / (1 - cap):.6g} * {a} <= 0")
    back = {_ax_name(q.name): q.name for q in ps.free}
    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=params, parameter_constraints=constraints, name=f"{p.name}_{seed}"
    )
    objective = ", ".join(
        ("" if o.direction == "maximize" else "-") + o.name for o in p.objectives
    )
    bounds = [
        f"{o.name} {'>=' if o.direction == 'maximize' else '<='} {o.reference}"
        for o in p.objectives
        if o.reference is not None
    ]
    bounds += [f"{c.metric} {c.op} {c.value}" for c in p.constraints]
    client.configure_optimization(objective=objective, outcome_constraints=bounds)
    client.configure_generation_strategy(initialization_budget=p.initial_designs)
    metrics = [o.name for o in p.objectives] + [c.metric for c in p.constraints]
    rec = Recorder(p, "ax", seed)
    while rec.n < p.budget:
        n = min(p.batch, p.budget - rec.n)
        t0 = time.perf_counter()
        trials = client.get_next_trials(max_trials=n)
        rec.batch_s.append(time.perf_counter() - t0)
        if not trials:
            log.warning("[%s ax seed %d] Ax proposed nothing after %d", p.name, seed, rec.n)
            break
        for idx, values in trials.items():
            named = {back[k]: v for k, v in values.items()}
            design, why = ps.design(named)
            obs = rec.evaluate(design, why, named)
            if obs is None or obs.failed:
                client.mark_trial_failed(idx, failed_reason=why or "evaluation failed")
                continue
            client.complete_trial(idx, raw_data={m: float(obs.outcomes[m]) for m in metrics})
        rec.batch_done()
    return rec.result()


# ------------------------------------------------------------------------------- BayBE


def run_baybe(p: bse.Problem, seed: int) -> dict[str, Any]:
    """BayBE ``Campaign``: random for the first 8, then ``BotorchRecommender``."""
    _quiet()
    import pandas as pd
    from baybe import Campaign
    from baybe.constraints import ContinuousLinearConstraint
    from baybe.objectives import ParetoObjective
    from baybe.parameters import CategoricalParameter, NumericalContinuousParameter
    from baybe.recommenders import BotorchRecommender, RandomRecommender, TwoPhaseMetaRecommender
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    if p.constraints:
        raise NotImplementedError("outcome constraints are not passed to BayBE here")
    set_random_seed(seed)
    ps = PeerSpace.of(p)
    params: list[Any] = []
    for q in ps.free:
        if q.kind == "categorical":
            params.append(CategoricalParameter(q.name, values=list(q.choices), encoding="OHE"))
        else:
            params.append(NumericalContinuousParameter(q.name, bounds=(q.low, q.high)))
    cons = (
        [ContinuousLinearConstraint(ps.simplex, "=", [1.0, 1.0], 1.0)] if ps.simplex else []
    )
    space = SearchSpace.from_product(params, constraints=cons)
    objective = ParetoObjective(
        [NumericalTarget(o.name, minimize=o.direction == "minimize") for o in p.objectives]
    )
    hybrid = any(q.kind == "categorical" for q in ps.free) and any(
        q.kind != "categorical" for q in ps.free
    )
    botorch_kw: dict[str, Any] = {
        "n_restarts": BAYBE_SETTINGS["n_restarts"],
        "n_raw_samples": BAYBE_SETTINGS["n_raw_samples"],
    }
    if hybrid:
        botorch_kw.update(
            hybrid_sampler="Random", sampling_percentage=BAYBE_SETTINGS["sampling_percentage"]
        )
    recommender = TwoPhaseMetaRecommender(
        initial_recommender=RandomRecommender(),
        recommender=BotorchRecommender(**botorch_kw),
        switch_after=p.initial_designs,
    )
    campaign = Campaign(space, objective, recommender)
    rec = Recorder(p, "baybe", seed)
    while rec.n < p.budget:
        n = min(p.batch, p.budget - rec.n)
        t0 = time.perf_counter()
        df = campaign.recommend(batch_size=n)
        rec.batch_s.append(time.perf_counter() - t0)
        rows = []
        for _, row in df.iterrows():
            values = {q.name: _plain(row[q.name]) for q in ps.free}
            design, why = ps.design(values)
            obs = rec.evaluate(design, why, values)
            out = dict(values)
            for o in p.objectives:
                # BayBE has no failed-experiment record: an infeasible or failed proposal is
                # told back at the reference point (the worst value the hypervolume counts).
                ok = obs is not None and not obs.failed
                out[o.name] = float(obs.outcomes[o.name]) if ok else float(o.reference)
            rows.append(out)
        campaign.add_measurements(
            pd.DataFrame(rows), numerical_measurements_must_be_within_tolerance=False
        )
        rec.batch_done()
    return rec.result()


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# ------------------------------------------------------------------------------- BoTorch


def run_botorch(p: bse.Problem, seed: int) -> dict[str, Any]:
    """A plain BoTorch loop: one-hot GP per objective, qLogNEHVI, mixed alternating optimiser."""
    _quiet()
    import torch
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms.input import ChainedInputTransform, InputTransform, Normalize
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
    from gpytorch.mlls import SumMarginalLogLikelihood

    torch.manual_seed(seed)
    ps = PeerSpace.of(p)
    d = len(ps.free)
    cats = {i: len(q.choices) for i, q in enumerate(ps.free) if q.kind == "categorical"}

    class OneHot(InputTransform, torch.nn.Module):  # type: ignore[misc]
        """Integer-coded categorical columns to one-hot columns."""

        def __init__(self) -> None:
            super().__init__()
            self.transform_on_train = True
            self.transform_on_eval = True
            self.transform_on_fantasize = True

        def transform(self, X: torch.Tensor) -> torch.Tensor:
            cols = []
            for i in range(d):
                if i in cats:
                    k = X[..., i].round().long().clamp(0, cats[i] - 1)
                    cols.append(torch.nn.functional.one_hot(k, cats[i]).to(X))
                else:
                    cols.append(X[..., i : i + 1])
            return torch.cat(cols, dim=-1)

    d_model = sum(cats.get(i, 1) for i in range(d))

    def decode(x: np.ndarray) -> dict[str, Any]:
        v: dict[str, Any] = {}
        for i, q in enumerate(ps.free):
            if i in cats:
                v[q.name] = q.choices[int(round(float(x[i])))]
            elif q.log_scale:
                v[q.name] = math.exp(math.log(q.low) + x[i] * (math.log(q.high) - math.log(q.low)))
            else:
                v[q.name] = q.low + x[i] * (q.high - q.low)
        return v

    bounds = torch.zeros(2, d, dtype=torch.double)
    for i in range(d):
        bounds[1, i] = cats[i] - 1 if i in cats else 1.0
    eq = []
    if ps.simplex:
        idx = [next(i for i, q in enumerate(ps.free) if q.name == n) for n in ps.simplex]
        coef = [ps.free[i].high - ps.free[i].low for i in idx]
        rhs = 1.0 - sum(ps.free[i].low for i in idx)
        eq.append((torch.tensor(idx), torch.tensor(coef, dtype=torch.double), rhs))
    sign = torch.tensor([1.0 if o.direction == "maximize" else -1.0 for o in p.objectives],
                        dtype=torch.double)
    ref = sign * torch.tensor([float(o.reference) for o in p.objectives], dtype=torch.double)

    sobol = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
    X: list[torch.Tensor] = []
    Y: list[torch.Tensor] = []
    rec = Recorder(p, "botorch", seed)

    def tell(x: torch.Tensor) -> None:
        values = decode(x.numpy())
        design, why = ps.design(values)
        obs = rec.evaluate(design, why, values)
        if obs is not None and not obs.failed:
            X.append(x)
            Y.append(sign * torch.tensor([obs.outcomes[o.name] for o in p.objectives],
                                         dtype=torch.double))

    while rec.n < p.budget:
        n = min(p.batch, p.budget - rec.n)
        t0 = time.perf_counter()
        if rec.n < p.initial_designs or len(X) < 2:
            raw = sobol.draw(n).to(torch.double)
            cand = raw * (bounds[1] - bounds[0]) + bounds[0]
            for i in cats:
                cand[:, i] = torch.floor(raw[:, i] * cats[i]).clamp(max=cats[i] - 1)
            if ps.simplex:  # Sobol points onto the simplex: scale the fractions to sum to 1
                idx = [next(i for i, q in enumerate(ps.free) if q.name == nm) for nm in ps.simplex]
                lo = [ps.free[i].low for i in idx]
                hi = [ps.free[i].high for i in idx]
                val = torch.stack(
                    [lo[j] + cand[:, i] * (hi[j] - lo[j]) for j, i in enumerate(idx)]
                )
                val = val / val.sum(0).clamp(min=1e-9)
                for j, i in enumerate(idx):
                    cand[:, i] = ((val[j] - lo[j]) / (hi[j] - lo[j])).clamp(0, 1)
        else:
            tx, ty = torch.stack(X), torch.stack(Y)
            models = []
            for k in range(ty.shape[1]):
                tf = ChainedInputTransform(
                    onehot=OneHot(), normalize=Normalize(d_model, bounds=torch.stack(
                        [torch.zeros(d_model), torch.ones(d_model)]).to(torch.double))
                )
                models.append(SingleTaskGP(tx, ty[:, k : k + 1], input_transform=tf,
                                           outcome_transform=Standardize(1)))
            model = ModelListGP(*models)
            fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
            acqf = qLogNoisyExpectedHypervolumeImprovement(
                model, ref_point=ref, X_baseline=tx, prune_baseline=True
            )
            cand, _ = optimize_acqf_mixed_alternating(
                acqf, bounds, cat_dims={i: list(range(c)) for i, c in cats.items()} or None,
                q=n, equality_constraints=eq or None, **BOTORCH_SETTINGS,
            )
            cand = cand.detach()
        rec.batch_s.append(time.perf_counter() - t0)
        for x in cand:
            tell(x)
        rec.batch_done()
    return rec.result()


RUNNERS: dict[str, Callable[[bse.Problem, int], dict[str, Any]]] = {
    "optloop": run_optloop,
    "sobol": run_sobol,
    "ax": run_ax,
    "baybe": run_baybe,
    "botorch": run_botorch,
    "optuna_tpe": run_optuna_tpe,
    "optuna_gp": run_optuna_gp,
}
