"""A simulator as a prior for real cells (mode (c)): the simulations a campaign runs beside them.

With ``prior.simulator`` set (:class:`~optloop.config.PriorConfig`), a campaign also runs that
evaluator, through the same evaluator protocol and on the campaign's executor, on:

* ``initial``: ``prior.initial_simulations`` space-filling designs at the start, from the
  optimiser's own initial-design generator (:class:`~optloop.optimiser.initial.SobolDesigns`)
  on a seed stream of its own (derived from the campaign seed), so they differ from the
  cells' initial designs;
* ``twin``: the simulated twin of every proposed cell design;
* ``explore``: ``prior.simulations_per_batch`` more designs per proposed batch: the
  optimiser's own proposals on the *simulation* task (BoTorch on the simulated outcomes
  alone, with every cell and simulated design pending). These are the designs the simulator
  rates best that no cell nor simulation has tried: where the cells' proposals are likely to
  go next, so the cell model gets the prior's shape there before any cell does. (The
  alternative, designs where the two-task model is most uncertain, spreads simulations over
  the whole box, where the acquisition rarely goes.)

Simulations are stored apart from the cells, in the store's ``prior_simulations`` table:
never trials, cells or budget evaluations. A failed simulation is kept as data (its reason
recorded); it is not re-run. Their simulation seconds (``worker_s`` of each result) count in
the campaign's costs (:func:`simulation_usage`). A restarted campaign re-runs nothing that is
stored as completed or failed; a simulation whose job the (new) simulator does not know is
submitted again, up to :data:`MAX_SIMULATION_ATTEMPTS` times.

The optimiser gets the finished simulations as ``prior_observations``
(:mod:`optloop.optimiser.multitask`), and the early-life predictor their fade curves
(:func:`prior_examples`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from optloop.campaign.costs import Usage
from optloop.config import CampaignConfig
from optloop.data import read_bdf
from optloop.data.metrics import file_protocol
from optloop.evaluators.base import Evaluator, JobState
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.registry import create_evaluator, options_model_for, validate_options
from optloop.exceptions import ConfigError, EvaluationError, OptloopError
from optloop.objectives import METRICS, check_metric
from optloop.optimiser import Observation, Optimiser, OptimiserSettings
from optloop.optimiser.initial import SobolDesigns
from optloop.prediction import CycleLifeExample
from optloop.space import Design, DesignSpace
from optloop.store import CampaignStore

__all__ = [
    "MAX_SIMULATION_ATTEMPTS",
    "PURPOSES",
    "PriorSimulations",
    "check_prior_config",
    "prior_examples",
    "prior_seed",
    "simulation_usage",
]

log = logging.getLogger("optloop.campaign.prior")

#: Why a simulation was run.
PURPOSES = ("initial", "twin", "explore")
#: Submissions of a simulation whose job was lost (or forgotten by a restarted simulator).
MAX_SIMULATION_ATTEMPTS = 3
_PRIOR_STREAM = 0x5052494F  # "PRIO": the prior's seed stream


def prior_seed(seed: int) -> int:
    """Return the prior's seed, a stream of its own derived from the campaign seed."""
    return int(np.random.SeedSequence([int(seed) % 2**32, _PRIOR_STREAM]).generate_state(1)[0])


def check_prior_config(config: CampaignConfig) -> BaseModel | None:
    """Check that ``prior.simulator`` loads and ``prior.options`` fit it; build nothing.

    Returns:
        The validated options, or None without a prior.

    Raises:
        ConfigError: naming ``prior.simulator`` or ``prior.options.<field>``.
    """
    name = config.prior.simulator
    if name is None:
        return None
    try:
        options_model_for(name)
    except EvaluationError as exc:
        raise ConfigError([f"prior.simulator: {exc}"]) from None
    try:
        return validate_options(name, config.prior.options)
    except ConfigError as exc:
        raise ConfigError(
            [str(p).replace("evaluator.options", "prior.options", 1) for p in exc.messages]
        ) from None


def simulation_usage(simulations: Sequence[Mapping[str, Any]]) -> Usage:
    """Return the simulation seconds the stored simulations used (``worker_s`` of each)."""
    total = 0.0
    for s in simulations:
        v = s.get("metadata", {}).get("worker_s")
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            total += float(v)
    return Usage(simulation_seconds=total)


def prior_examples(simulations: Sequence[Mapping[str, Any]]) -> list[CycleLifeExample]:
    """Return the completed simulations' fade curves as predictor training examples.

    Each completed simulation with a BDF file is read with the protocol its file records
    (as the campaign reads cells); its cycle life (censored at the simulator's cycle cap) is
    the target. No measurement noise is added: the features a predictor uses (capacity
    fade and coulombic-efficiency trends over the first cycles) of a noiseless curve are its
    expected values, and a cycler's noise would only blur them; the predictor's own noise
    term learns the cells' scatter from the cells. Unreadable files are skipped (logged).
    """
    out: list[CycleLifeExample] = []
    for s in simulations:
        path = s.get("bdf_path")
        if s.get("status") != "completed" or not path:
            continue
        try:
            frame, metadata = read_bdf(path)
            protocol, _ = file_protocol(metadata, source=str(path))
            metrics = protocol.compute(frame, source=str(path))
        except (OSError, OptloopError) as exc:
            log.warning("simulation %s: its data cannot train the predictor: %s", s.get("id"), exc)
            continue
        out.append(CycleLifeExample.from_metrics(metrics))
    return out


def _observation(sim: Mapping[str, Any]) -> Observation:
    outcomes = {
        k: float(v)
        for k, v in sim["outcomes"].items()
        if k in METRICS
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and check_metric(k, float(v)) is None
    }
    return Observation(
        design=sim["design"],
        outcomes=outcomes,
        censored={k: bool(v) for k, v in sim["censored"].items() if k in outcomes},
        failed=sim["status"] == "failed",
    )


class PriorSimulations:
    """Run, store and hand out a campaign's prior simulations.

    Args:
        config: The campaign's config (``prior.simulator`` set).
        store: The campaign's store.
        space: The campaign's design space.
        simulator: The simulator to use instead of building ``prior.simulator``.
        settings: The settings of the optimiser that proposes the ``explore`` simulations.
    """

    def __init__(
        self,
        config: CampaignConfig,
        store: CampaignStore,
        space: DesignSpace,
        *,
        simulator: Evaluator | None = None,
        settings: OptimiserSettings | None = None,
    ) -> None:
        if config.prior.simulator is None:
            raise OptloopError("prior.simulator = null: no prior simulations to run")
        self.config = config
        self.store = store
        self.space = space
        self._simulator = simulator
        self._settings = settings or OptimiserSettings(kernel=config.optimiser.kernel)
        self._seed = prior_seed(config.seed)
        self._sobol = SobolDesigns(space, self._seed)
        self._explorer: Optimiser | None = None
        #: Completed simulations handed to the predictor at the last call (ids).
        self._examples_of: frozenset[int] = frozenset()

    # --- collaborators ------------------------------------------------------------------

    @property
    def simulator(self) -> Evaluator:
        """Return the simulator, built on first use (run folder ``runs/<name>/prior``)."""
        if self._simulator is None:
            c = self.config
            assert c.prior.simulator is not None
            context = EvaluatorContext(
                campaign=f"{c.name}.prior",
                run_dir=Path("runs") / c.name / "prior",
                seed=self._seed,
                executor=c.executor.model_dump(mode="json"),
            )
            self._simulator = create_evaluator(c.prior.simulator, c.prior.options, context=context)
        return self._simulator

    def _explorer_optimiser(self) -> Optimiser:
        if self._explorer is None:
            c = self.config
            self._explorer = Optimiser(
                self.space,
                list(c.objectives),
                list(c.outcome_constraints),
                initial_designs=0,
                seed=self._seed,
                settings=self._settings,
            )
        return self._explorer

    # --- what is stored ---------------------------------------------------------------

    def all(self) -> list[dict[str, Any]]:
        """Return every stored simulation (oldest first)."""
        return self.store.simulations()

    def observations(self) -> list[Observation]:
        """Return the finished simulations as the optimiser's ``prior_observations``."""
        return [_observation(s) for s in self.store.simulations(["completed", "failed"])]

    def counts(self) -> dict[str, int]:
        """Return the number of stored simulations by state and by purpose, and the total."""
        sims = self.all()
        out = {k: 0 for k in ("pending", "running", "completed", "failed")}
        for s in sims:
            out[s["status"]] = out.get(s["status"], 0) + 1
        for p in PURPOSES:
            out[p] = sum(1 for s in sims if s["purpose"] == p)
        out["total"] = len(sims)
        return out

    def usage(self) -> Usage:
        """Return the simulation seconds used so far."""
        return simulation_usage(self.all())

    def batch_cost(self, n_cells: int) -> float:
        """Return the expected cost of the simulations a batch of ``n_cells`` cells adds.

        Its twins and ``simulations_per_batch`` explore designs, each at the mean simulation
        seconds of the finished simulations that recorded some, times
        ``costs.simulation_second`` (0 before any did).
        """
        seconds = [
            float(v)
            for s in self.store.simulations(["completed", "failed"])
            if isinstance(v := s["metadata"].get("worker_s"), int | float) and v > 0
        ]
        if not seconds:
            return 0.0
        n = n_cells + self.config.prior.simulations_per_batch
        return n * sum(seconds) / len(seconds) * self.config.costs.simulation_second

    def status(self) -> dict[str, Any]:
        """Return what ``optloop status`` shows: simulator, counts, simulation seconds."""
        return {
            "simulator": self.config.prior.simulator,
            "counts": self.counts(),
            "simulation_seconds": self.usage().simulation_seconds,
            "failures": [
                {"simulation": s["id"], "reason": s["reason"]}
                for s in self.store.simulations(["failed"])
            ],
        }

    # --- adding simulations -------------------------------------------------------------

    def start(self) -> list[int]:
        """Store the initial space-filling simulations not stored yet (idempotent)."""
        want = self.config.prior.initial_simulations
        sims = self.all()
        have = sum(1 for s in sims if s["purpose"] == "initial")
        if have >= want:
            return []
        designs = self._sobol.take(want - have, {s["design_key"] for s in sims})
        return self.store.add_simulations(
            [{"design": d, "purpose": "initial", "iteration": 0} for d in designs]
        )

    def on_batch(self, designs: Sequence[tuple[int, Design]], iteration: int) -> list[int]:
        """Store the twins of a proposed batch (trial id, design) and the explore designs.

        A design already simulated gets no second twin.
        """
        sims = self.all()
        known = {s["design_key"] for s in sims}
        rows: list[dict[str, Any]] = []
        for trial_id, d in designs:
            if d.key() in known:
                continue
            known.add(d.key())
            rows.append(
                {"design": d, "purpose": "twin", "iteration": iteration,
                 "metadata": {"trial": trial_id}}
            )
        n = self.config.prior.simulations_per_batch
        if n > 0:
            for d in self._explore(sims, [d for _, d in designs], n, iteration):
                if d.key() not in known:
                    known.add(d.key())
                    rows.append({"design": d, "purpose": "explore", "iteration": iteration})
        return self.store.add_simulations(rows)

    def _explore(
        self, sims: list[dict[str, Any]], cells: list[Design], n: int, iteration: int
    ) -> list[Design]:
        """Return the optimiser's proposals on the simulation task (see the module doc)."""
        done = [_observation(s) for s in sims if s["status"] in ("completed", "failed")]
        pending = [s["design"] for s in sims if s["status"] in ("pending", "running")] + cells
        try:
            proposals, _ = self._explorer_optimiser().propose(
                done, pending, n, iteration=iteration
            )
        except OptloopError as exc:
            log.warning("prior: no explore simulations this batch (%s)", exc)
            return []
        return [p.design for p in proposals]

    # --- running them -------------------------------------------------------------------

    def _key(self, sim: Mapping[str, Any]) -> str:
        base = f"{self.config.name}.prior-{sim['id']}"
        return base if sim["attempts"] <= 1 else f"{base}-r{sim['attempts'] - 1}"

    def _concurrency(self) -> int:
        try:
            return int(self.simulator.capabilities().get("max_concurrency", 1))
        except OptloopError:
            return 1

    def _submit(self, sim: dict[str, Any]) -> None:
        attempts = sim["attempts"] + 1
        if attempts > MAX_SIMULATION_ATTEMPTS:
            self.store.update_simulation(
                sim["id"],
                status="failed",
                reason=f"lost {sim['attempts']} time(s); limit {MAX_SIMULATION_ATTEMPTS}",
            )
            return
        sim = {**sim, "attempts": attempts}
        try:
            job = self.simulator.submit(sim["design"].to_dict(), trial_id=self._key(sim))
        except EvaluationError as exc:
            self.store.update_simulation(
                sim["id"], status="failed", attempts=attempts, reason=f"submit failed: {exc}"
            )
            return
        self.store.update_simulation(sim["id"], status="running", job_id=job, attempts=attempts)

    def pump(self) -> int:
        """Collect finished simulations and submit waiting ones; return how many finished."""
        finished = 0
        for sim in self.store.simulations(["running"]):
            try:
                state = self.simulator.status(sim["job_id"]).state
            except EvaluationError:  # a restarted simulator never heard of it: submit again
                self._submit(sim)
                continue
            if not state.is_terminal:
                continue
            if state is JobState.LOST:
                self._submit(sim)
                continue
            result = self.simulator.fetch(sim["job_id"])
            meta = {**sim["metadata"], **result.metadata}
            if result.state is JobState.SUCCEEDED:
                self.store.update_simulation(
                    sim["id"],
                    status="completed",
                    outcomes=dict(result.metrics),
                    censored=dict(result.censored),
                    bdf_path=result.bdf_path,
                    metadata=meta,
                )
            else:
                self.store.update_simulation(
                    sim["id"],
                    status="failed",
                    outcomes=dict(result.metrics),
                    reason=f"{result.state.value}: {result.reason or result.state.value}",
                    bdf_path=result.bdf_path,
                    metadata=meta,
                )
            finished += 1
        running = len(self.store.simulations(["running"]))
        free = self._concurrency() - running
        for sim in self.store.simulations(["pending"])[: max(0, free)]:
            self._submit(sim)
        return finished

    def new_examples(self) -> list[CycleLifeExample] | None:
        """Return the predictor's prior examples when the completed simulations changed."""
        done = self.store.simulations(["completed"])
        ids = frozenset(s["id"] for s in done)
        if ids == self._examples_of:
            return None
        self._examples_of = ids
        return prior_examples(done)

    def close(self) -> None:
        """Shut the simulator down (if it was built and has a ``close``)."""
        closer = getattr(self._simulator, "close", None)
        if callable(closer):
            closer()
