"""The :class:`Campaign`: ask, tell, run and tick over one store, optimiser and evaluator.

Data flows one way: the config gives the design space, the optimiser proposes (ask), the
evaluator measures, results go to the store (tell). The store is the only state: a campaign
object can be dropped and rebuilt at any moment, and a killed process resumes where the
store says it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optloop.analysis import hypervolume, pareto_trials
from optloop.campaign.costs import (
    CostReport,
    GainPerCost,
    account,
    batch_gain,
    builds_cells,
    gain_per_cost,
)
from optloop.campaign.early_stop import EarlyStopper
from optloop.campaign.events import CampaignCallback
from optloop.campaign.lifecycle import LIFECYCLE, JobOutcome, outcome_of
from optloop.campaign.lives import LivesReviewer
from optloop.campaign.prior import PriorSimulations, check_prior_config
from optloop.config import CampaignConfig, load_config
from optloop.evaluators.base import EvaluationResult, Evaluator, JobState, JobStatus
from optloop.evaluators.registry import check_evaluator_config, evaluator_for_config
from optloop.exceptions import (
    ConfigError,
    EvaluationError,
    EvaluatorUnavailableError,
    OptloopError,
)
from optloop.objectives import CAPACITY_MARGIN, METRICS, check_metric
from optloop.optimiser import Observation, Optimiser, OptimiserSettings
from optloop.space import Design, DesignSpace, derive
from optloop.store import (
    TERMINAL,
    CampaignStore,
    DriverSession,
    SessionState,
    Trial,
    TrialStatus,
)

__all__ = [
    "BUDGET_SPENT",
    "GAIN_BELOW_THRESHOLD",
    "Campaign",
    "Progress",
    "Told",
    "cancel_job",
    "default_store_url",
]

log = logging.getLogger("optloop.campaign")

ACTIVE = (TrialStatus.PROPOSED, TrialStatus.RUNNING)
FINISHED = (TrialStatus.COMPLETED, TrialStatus.FAILED)

#: Why a campaign stopped proposing (:meth:`Campaign.run`, recorded with the store's stops).
BUDGET_SPENT = "budget spent"
GAIN_BELOW_THRESHOLD = "gain per cost below threshold"


def cancel_job(evaluator: Evaluator, job_id: str, reason: str) -> bool:
    """Cancel a job, with the reason when the evaluator takes one; False if it is unknown."""
    cancel = evaluator.cancel
    try:
        takes_reason = "reason" in inspect.signature(cancel).parameters
    except (TypeError, ValueError):
        takes_reason = False
    try:
        if takes_reason:
            cancel(job_id, reason=reason)  # type: ignore[call-arg]
        else:
            cancel(job_id)
    except EvaluationError:
        return False  # the job is already gone; abandoning the trial is what matters
    return True


def default_store_url(config: CampaignConfig) -> str:
    """Return the store URL: ``OPTLOOP_STORE_URL``, the config's, or a file under ``runs/``."""
    return (
        os.environ.get("OPTLOOP_STORE_URL")
        or config.store.url
        or f"sqlite:///runs/{config.name}/campaign.db"
    )


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    counts: dict[str, int]
    budget: int
    best: dict[str, float]
    hypervolume: float
    message: str = ""

    @property
    def finished(self) -> int:
        """Return completed plus failed trials (what counts against the budget)."""
        return self.counts["completed"] + self.counts["failed"]


@dataclass(frozen=True)
class Told:
    """One result for :meth:`Campaign.tell_batch`: a trial's outcomes or failure, or a design.

    Give ``trial`` with ``outcomes`` (and ``censored``) or with ``failed`` (the reason), or
    ``design`` with ``outcomes`` to attach a chemist's own design. ``where`` names the
    record in messages (e.g. ``results.csv row 3``).
    """

    where: str
    trial: int | None = None
    design: Design | None = None
    outcomes: Mapping[str, Any] = field(default_factory=dict)
    censored: Mapping[str, bool] | None = None
    failed: str | None = None



def _usage_of(metadata: Mapping[str, Any]) -> dict[str, float]:
    """Return the use a result's metadata records (the keys :mod:`.costs` reads)."""
    return {
        k: float(v)
        for k in ("channel_days", "test_duration_h", "worker_s")
        if isinstance(v := metadata.get(k), int | float) and not isinstance(v, bool)
    }


def _prediction_noise(trial: Trial) -> dict[str, float]:
    """Return the variance (log units) of a trial's predicted cycle life, {} if measured."""
    p = trial.metadata.get("prediction")
    if (
        not isinstance(p, Mapping)
        or not trial.metadata.get("early_stopped")
        or "cycle_life" not in trial.outcomes
        or trial.censored.get("cycle_life", False)
    ):
        return {}
    try:
        var = (float(p["std_log"]) * float(p.get("calibration_scale", 1.0))) ** 2
    except (KeyError, TypeError, ValueError):
        return {}
    return {"cycle_life": var} if math.isfinite(var) and var > 0 else {}


def _short_design(d: Design) -> str:
    """Return a design in one line: film, graphite, lithium layer, cell."""
    parts = []
    a = d.alloy_layer
    if a is not None:
        parts.append(f"{a.formula} {a.thickness_um:.3g} um {a.structure[:5]} {a.method}")
    if d.carbon_layer is not None:
        parts.append(f"graphite {d.carbon_layer.thickness_um:.3g} um")
    if d.lithium_layer is not None:
        parts.append(f"Li {d.lithium_layer.thickness_um:.3g} um")
    parts.append(d.cell.positive_electrode)
    return " | ".join(parts)

class Campaign:
    """A closed-loop campaign over one store.

    Args:
        config: The campaign's config.
        store: The store to use instead of the config's.
        evaluator: The evaluator to use instead of building the config's.
        optimiser: The optimiser to use instead of building the config's.
        callbacks: Told of the steps, finished trials and end of ``run`` and ``tick``
            (:mod:`optloop.campaign.events`); e.g. the MLflow mirror that ``optloop run``
            attaches. Empty by default: a campaign object mirrors nothing by itself.
        prior_simulator: The simulator of ``prior`` to use instead of building the config's
            ``prior.simulator`` (:mod:`optloop.campaign.prior`).
    """

    def __init__(
        self,
        config: CampaignConfig,
        *,
        store: CampaignStore | None = None,
        evaluator: Evaluator | None = None,
        optimiser: Optimiser | None = None,
        callbacks: Sequence[CampaignCallback] = (),
        prior_simulator: Evaluator | None = None,
    ) -> None:
        self.config = config
        self.callbacks: list[CampaignCallback] = list(callbacks)
        self._callback_failed: set[tuple[int, str]] = set()
        self.space = DesignSpace.from_campaign(config)
        if evaluator is None:  # an unusable evaluator is refused before any file is created
            check_evaluator_config(config)
        if config.prior.enabled and prior_simulator is None:
            check_prior_config(config)
        self.store = store or CampaignStore(default_store_url(config), config.name)
        self.store.init_campaign(config.model_dump(mode="json"), self._space_hash())
        self._evaluator = evaluator
        self._optimiser = optimiser
        self._early = (
            EarlyStopper(config.early_stopping, seed=config.seed)
            if config.early_stopping.enabled
            else None
        )
        self._lives = (
            LivesReviewer(
                config.lives, list(config.objectives), list(config.outcome_constraints),
                seed=config.seed,
            )
            if config.lives.mode == "predict"
            else None
        )
        self._early_notes: dict[int, str] = {}
        self._session: DriverSession | None = None
        #: The stop in force (a record of the store's stops) or None: proposes no more.
        self._stop: dict[str, Any] | None = None
        #: The last proposed batch's expected gain per cost (None: unknown or not yet).
        self.last_gain: GainPerCost | None = None
        self._prior_simulator = prior_simulator
        self._prior: PriorSimulations | None = None

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> Campaign:
        """Open (or create) the campaign of a YAML config."""
        return cls(load_config(path), **kwargs)

    def _space_hash(self) -> str:
        c = self.config
        key = {
            # Without lab rules the hash is what it was before they existed (stores resume).
            "space": c.space.model_dump(
                mode="json", exclude=None if c.space.lab_rules else {"lab_rules"}
            ),
            "objectives": [o.model_dump(mode="json") for o in c.objectives],
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    # --- collaborators --------------------------------------------------------------------

    @property
    def evaluator(self) -> Evaluator:
        """Return the evaluator, built from the config on first use (as ``optloop evaluate``)."""
        if self._evaluator is None:
            self._evaluator = evaluator_for_config(self.config)
        return self._evaluator

    @property
    def optimiser(self) -> Optimiser:
        """Return the optimiser (BoTorch after the initial Sobol designs)."""
        if self._optimiser is None:
            c = self.config
            self._optimiser = Optimiser(
                self.space,
                list(c.objectives),
                list(c.outcome_constraints),
                initial_designs=c.optimiser.initial_designs,
                seed=c.seed,
                settings=OptimiserSettings(kernel=c.optimiser.kernel),
            )
        return self._optimiser

    @property
    def prior(self) -> PriorSimulations | None:
        """Return the prior's simulations (mode (c)), or None without ``prior.simulator``."""
        if self._prior is None and self.config.prior.enabled:
            self._prior = PriorSimulations(
                self.config,
                self.store,
                self.space,
                simulator=self._prior_simulator,
                settings=self.optimiser.settings,
            )
        return self._prior

    def _prior_usage(self) -> Any:
        """Return the prior simulations' use (simulation seconds), None without a prior."""
        return None if self.prior is None else self.prior.usage()

    def _pump_prior(self) -> None:
        """Collect and submit prior simulations; hand new fade curves to the predictor."""
        prior = self.prior
        if prior is None:
            return
        prior.start()
        prior.pump()
        if not self.config.prior.pretrain_predictor:
            return
        # The mode-(b) reviewer's predictor also learns from the simulated fade curves.
        if self._lives is not None:
            examples = prior.new_examples()
            if examples is not None:
                self._lives.set_prior_examples(examples)

    def concurrency(self) -> int:
        """Return how many evaluations may run at once."""
        if self.config.evaluator.max_concurrency is not None:
            return self.config.evaluator.max_concurrency
        return int(self.evaluator.capabilities().get("max_concurrency", 1))

    # --- ask / tell -----------------------------------------------------------------------

    @property
    def lives_reviewer(self) -> LivesReviewer | None:
        """Return the reviewer of mode (b) (``lives.mode: predict``), None in mode (a)."""
        return self._lives

    def observations(self) -> list[Observation]:
        """Return what the optimiser learns from: completed and failed trials.

        A cycle life predicted from a stopped cell's early cycles (``metadata.prediction``)
        carries its variance in log units: ``(std_log * calibration_scale)^2``.
        """
        out = []
        for t in self.store.trials(FINISHED):
            out.append(
                Observation(
                    design=t.design,
                    outcomes=dict(t.outcomes),
                    censored=dict(t.censored),
                    failed=t.status is TrialStatus.FAILED,
                    noise=_prediction_noise(t),
                )
            )
        return out

    def ask(self, n: int) -> list[Trial]:
        """Propose ``n`` new designs, store them as PROPOSED and return their trials.

        Pending (proposed and running) trials are passed to the optimiser, so the batch
        complements them and never repeats them.
        """
        if n < 1:
            raise OptloopError(f"ask(n): n = {n}; need n >= 1")
        iteration = self.store.next_iteration()
        pending = [t.design for t in self.store.trials(ACTIVE)]
        prior = self.prior
        proposals, timing = self.optimiser.propose(
            self.observations(),
            pending,
            n,
            iteration=iteration,
            **({} if prior is None else {"prior_observations": prior.observations()}),
        )
        trials = self.store.add_trials(
            [
                {
                    "design": p.design,
                    "origin": p.origin,
                    "iteration": iteration,
                    "batch_index": p.batch_index,
                    "fidelity": self.config.evaluator.fidelity,
                    "predictions": {k: list(v) for k, v in p.predictions.items()},
                    "acquisition_value": p.acquisition_value,
                }
                for p in proposals
            ]
        )
        if prior is not None:
            prior.on_batch([(t.id, t.design) for t in trials], iteration)
        all_trials = self.store.trials()
        c = self.config
        cells = self._builds_cells()
        logs = [p.acquisition_value for p in proposals]
        self.last_gain = gain_per_cost(logs, all_trials, c.costs, cells=cells)
        sim_cost = 0.0
        if prior is not None and self.last_gain is not None:
            # The batch also buys simulations: its cells' twins and the explore designs.
            sim_cost = prior.batch_cost(len(trials))
            g = self.last_gain
            cost = g.expected_cost + sim_cost
            self.last_gain = dataclasses.replace(
                g, expected_cost=cost, gain_per_cost=g.expected_gain / cost
            )
        record: dict[str, Any] = {
            "n_proposed": len(trials),
            "origin": proposals[0].origin if proposals else None,
            "fit_seconds": timing.fit_seconds,
            "acquisition_seconds": timing.acquisition_seconds,
            "n_observations": timing.n_observations,
            "hypervolume": hypervolume(all_trials, c.objectives, c.outcome_constraints),
            "counts": self.store.counts(),
        }
        gain = batch_gain(logs)
        if gain is not None:
            record["expected_gain"] = gain
        if prior is not None:
            record["expected_simulation_cost"] = sim_cost
            record["prior"] = {
                "simulations": prior.counts(),
                "models": dict(getattr(self.optimiser, "last_prior", {})),
            }
        if c.costs.any_cost or c.costs.trial_cost_estimate is not None:
            record["cost_used"] = account(
                all_trials, c.costs, cells=cells, extra=self._prior_usage()
            ).used
        if self.last_gain is not None:
            record["expected_cost"] = self.last_gain.expected_cost
            record["gain_per_cost"] = self.last_gain.gain_per_cost
        self.store.record_iteration(iteration, record)
        return trials

    def tell(
        self,
        trial_id: int,
        result: EvaluationResult | Mapping[str, float],
        *,
        censored: Mapping[str, bool] | None = None,
    ) -> Trial:
        """Record a trial's result: an evaluator's result or a mapping of metric values.

        Raises:
            OptloopError: for unknown metrics, values outside their physical range, a
                missing objective, a censoring flag that is not a boolean, or a trial that is
                already finished (nothing recorded is changed).
        """
        if isinstance(result, EvaluationResult):
            return self._record(trial_id, result)
        design = self.store.get(trial_id).design
        outcomes = self._check_outcomes(dict(result), f"trial {trial_id}", design)
        flags = self._check_censored(censored, outcomes, f"trial {trial_id}")
        res = EvaluationResult(state=JobState.SUCCEEDED, metrics=outcomes, censored=flags)
        return self._record(trial_id, res)

    def _check_outcomes(
        self, outcomes: dict[str, Any], where: str, design: Design | None = None
    ) -> dict[str, float]:
        """Return the outcomes as floats, or raise naming every implausible value.

        Each metric must lie in its physical range (:data:`optloop.objectives.METRICS`); with
        the design known, the areal capacity is also bounded by its positive loading.
        """
        bad = sorted(set(outcomes) - set(METRICS))
        if bad:
            raise OptloopError(f"{where}: unknown metric(s) {bad}; known: {sorted(METRICS)}")
        clean: dict[str, float] = {}
        problems: list[str] = []
        for k, v in outcomes.items():
            if isinstance(v, bool):  # float(True) == 1.0: a JSON true is not a measurement
                problems.append(f"{k} = {v!r} is not a number")
                continue
            try:
                clean[k] = float(v)
            except (TypeError, ValueError):
                problems.append(f"{k} = {v!r} is not a number")
                continue
            why = check_metric(k, clean[k])
            if why:
                problems.append(why)
        areal = clean.get("areal_capacity_mAh_cm2")
        if design is not None and areal is not None and math.isfinite(areal):
            limit = CAPACITY_MARGIN * derive(design).positive_loading_mAh_cm2
            if areal > limit:
                problems.append(
                    f"areal_capacity_mAh_cm2 = {areal:g} mAh/cm^2 exceeds {limit:.3g} mAh/cm^2 "
                    f"({CAPACITY_MARGIN:g} x the design's positive loading: a full cell cannot "
                    "deliver more than its positive holds)"
                )
        missing = [o.name for o in self.config.objectives if o.name not in outcomes]
        if missing:
            problems.append(f"objective(s) {missing} missing from the outcomes")
        if problems:
            raise OptloopError(f"{where}: " + "; ".join(problems))
        return clean

    @staticmethod
    def _check_censored(
        censored: Mapping[str, Any] | None, outcomes: Mapping[str, Any], where: str
    ) -> dict[str, bool]:
        """Return the censoring flags, refusing non-booleans and metrics without a value."""
        flags: dict[str, bool] = {}
        problems = []
        for k, v in (censored or {}).items():
            if not isinstance(v, bool):
                problems.append(f"censored.{k} = {v!r}; need true or false")
            elif k not in outcomes:
                problems.append(f"censored.{k} = {v!r} but the outcomes give no {k}")
            else:
                flags[k] = v
        if problems:
            raise OptloopError(f"{where}: " + "; ".join(problems))
        return flags

    def tell_batch(self, entries: Sequence[Told]) -> list[Trial]:
        """Record many results at once: every entry is checked, then all are stored together.

        Duplicated trials, unknown or finished trials, implausible values and malformed
        designs are all reported in one error, and then nothing is stored; otherwise every
        entry is stored in one store transaction (a kill leaves all or none).

        Returns:
            The stored trials, in the order of ``entries``.

        Raises:
            OptloopError: listing every problem found (nothing recorded is changed).
        """
        if not entries:
            raise OptloopError("no results given (need at least one record)")
        problems: list[str] = []
        seen: dict[int, str] = {}
        seen_designs: dict[str, str] = {}
        moves: list[tuple[int, TrialStatus, str | None, dict[str, Any]]] = []
        new: list[dict[str, Any]] = []
        order: list[tuple[str, int]] = []
        for e in entries:
            try:
                if e.design is not None:
                    key = e.design.key()
                    if key in seen_designs:
                        raise OptloopError(
                            f"{e.where}: the same design is attached twice (also in "
                            f"{seen_designs[key]}); give each design once"
                        )
                    seen_designs[key] = e.where
                    new.append(
                        self._attach_row(
                            e.design, e.outcomes, e.censored, "attached by hand", e.where
                        )
                    )
                    order.append(("new", len(new) - 1))
                    continue
                if e.trial is None:
                    raise OptloopError(f"{e.where}: give a trial id or a design")
                if e.trial in seen:
                    raise OptloopError(
                        f"{e.where}: trial {e.trial} is given twice (also in {seen[e.trial]}); "
                        "give each trial once"
                    )
                seen[e.trial] = e.where
                trial = self.store.get(e.trial)
                if trial.status not in ACTIVE:
                    raise OptloopError(
                        f"{e.where}: trial {e.trial} is already {trial.status.value}"
                    )
                if e.failed is not None:
                    why = str(e.failed)
                    moves.append((e.trial, TrialStatus.FAILED, why, {"reason": why}))
                else:
                    clean = self._check_outcomes(dict(e.outcomes), e.where, trial.design)
                    flags = self._check_censored(e.censored, clean, e.where)
                    res = EvaluationResult(state=JobState.SUCCEEDED, metrics=clean, censored=flags)
                    moves.append((e.trial, *self._transition_for(trial, res)))
                order.append(("moved", len(moves) - 1))
            except (ValueError, OptloopError) as exc:
                text = str(exc)
                problems.append(text if text.startswith(e.where) else f"{e.where}: {text}")
        if problems:
            raise OptloopError("nothing recorded:\n" + "\n".join(f"  - {p}" for p in problems))
        moved, added = self.store.record_batch(moves, new)
        return [moved[i] if kind == "moved" else added[i] for kind, i in order]

    def _record(self, trial_id: int, result: EvaluationResult) -> Trial:
        """Record a terminal result as :data:`~optloop.campaign.lifecycle.LIFECYCLE` says."""
        trial = self.store.get(trial_id)
        if (
            result.state.is_terminal
            and outcome_of(result.state) is JobOutcome.LOST
            and trial.status is TrialStatus.RUNNING
        ):
            # A new cell, as status LOST; what the lost one used is kept for the costs.
            return self._lost(trial, result.reason or "lost", used=_usage_of(result.metadata))
        to, message, values = self._transition_for(trial, result)
        return self.store.transition(trial_id, to, message, **values)

    def _transition_for(
        self, trial: Trial, result: EvaluationResult
    ) -> tuple[TrialStatus, str | None, dict[str, Any]]:
        """Return the store transition that records the terminal ``result`` on ``trial``."""
        if not result.state.is_terminal:
            raise OptloopError(
                f"trial {trial.id}: result state {result.state.value} is not final"
            )
        rule = LIFECYCLE[outcome_of(result.state)]
        # A lost result for a trial that is not running (told by hand): nothing to rebuild.
        to = rule.trial if rule.trial is not TrialStatus.RUNNING else rule.after_cap
        assert to is not None
        common: dict[str, Any] = {
            "bdf_path": result.bdf_path,
            # The campaign's own notes (lost cells, driver restarts) are kept.
            "metadata": {**trial.metadata, **result.metadata},
        }
        if to is TrialStatus.COMPLETED:
            return (
                to,
                "result recorded",
                {"outcomes": result.metrics, "censored": result.censored, **common},
            )
        reason = result.reason or result.state.value
        if to is TrialStatus.FAILED:
            return (
                to,
                reason,
                {
                    "reason": f"{result.state.value}: {reason}",
                    "outcomes": result.metrics,
                    **common,
                },
            )
        return to, reason, {"reason": reason, **common}

    def attach(
        self,
        design: Design,
        outcomes: Mapping[str, float],
        *,
        censored: Mapping[str, bool] | None = None,
        note: str = "attached by hand",
    ) -> Trial:
        """Add a result measured outside a proposal (a chemist's own design).

        The design must fit the space's encoding; breaking a space rule (e.g. a thicker film
        than the campaign explores) is allowed and recorded in the trial's metadata.
        """
        return self.store.add_trials([self._attach_row(design, outcomes, censored, note)])[0]

    def _attach_row(
        self,
        design: Design,
        outcomes: Mapping[str, float],
        censored: Mapping[str, bool] | None,
        note: str,
        where: str = "attached design",
    ) -> dict[str, Any]:
        self.space.encode(design)  # raises if the design cannot be represented at all
        clean = self._check_outcomes(dict(outcomes), where, design)
        flags = self._check_censored(censored, clean, where)
        violations = [str(v) for v in self.space.violations(design)]
        return {
            "design": design,
            "origin": "manual",
            "status": TrialStatus.COMPLETED,
            "iteration": self.store.next_iteration(),
            "outcomes": clean,
            "censored": flags,
            "metadata": {"note": note, "rule_violations": violations},
            "message": note,
        }

    def abandon(self, trial_id: int, reason: str = "abandoned by hand") -> Trial:
        """Withdraw a proposed or running trial; its job is cancelled with ``reason``.

        The evaluator is built from the config if it was not yet, so a running trial's job is
        always cancelled (for the file exchange: the cancel note with the reason is written
        and the ticket retired). Abandoning an abandoned trial cancels its job again (a no-op
        for a finished job), which repairs trials abandoned before their job was cancelled.

        Raises:
            StoreError: If the trial is unknown, completed or failed.
        """
        trial = self.store.get(trial_id)
        if trial.status in (TrialStatus.RUNNING, TrialStatus.ABANDONED) and trial.job_id:
            cancel_job(self.evaluator, trial.job_id, reason)
        if trial.status is TrialStatus.ABANDONED:
            return trial
        return self.store.transition(trial_id, TrialStatus.ABANDONED, reason, reason=reason)

    # --- driving evaluations ----------------------------------------------------------------

    def _job_key(self, trial: Trial) -> str:
        """Return the idempotency key of the trial's next submission.

        The key is ``<campaign>.<trial uid>`` (unique across campaigns that share a lab's
        exchange folder or a cycler); a trial whose cell was lost is submitted again under a
        new key (``...-r1``: a new cell), while a crash between submitting and recording
        re-sends the same key and so starts nothing new.
        """
        base = f"{self.config.name}.{trial.uid}"
        retries = int(trial.metadata.get("lost_attempts", 0))
        return base if retries == 0 else f"{base}-r{retries}"

    def _session_id(self) -> str:
        """Return this driver's session, recorded in the store on first use."""
        if self._session is None:
            self._session = self.store.start_session()
        return self._session.id

    def _submit(self, trial: Trial, *, spend_attempt: bool = True) -> Trial:
        """Hand a trial to the evaluator, stamped with this driver's session.

        ``spend_attempt=False`` for a re-run after a driver death: not the design's fault.
        """
        session = self._session_id()
        try:
            job = self.evaluator.submit(
                trial.design.to_dict(), trial_id=self._job_key(trial), fidelity=trial.fidelity
            )
        except EvaluatorUnavailableError as exc:
            # Nothing to learn about the design: stop, keep the trial proposed for the next run.
            raise EvaluatorUnavailableError(
                f"campaign {self.config.name!r} stopped: {exc}; trial {trial.id} is kept for "
                "the next run and nothing recorded is lost; run the campaign again when the "
                "evaluator is back"
            ) from exc
        except EvaluationError as exc:
            return self.store.transition(
                trial.id, TrialStatus.FAILED, str(exc), reason=f"submit failed: {exc}"
            )
        return self.store.transition(
            trial.id,
            TrialStatus.RUNNING,
            f"submitted as {job}",
            job_id=job,
            attempts=trial.attempts + (1 if spend_attempt else 0),
            session_id=session,
        )

    def _poll(self, trial: Trial) -> Trial:
        """Collect a running trial's result if its job is done; re-submit if it was lost."""
        assert trial.job_id is not None
        try:
            status = self.evaluator.status(trial.job_id)
        except EvaluationError:
            status = None  # the evaluator never heard of this job: e.g. after a restart
        if status is not None and not status.state.is_terminal:
            if self._early is not None and "early_stopping" not in trial.metadata:
                return self._review(trial, status)
            if self._lives is not None:
                return self._review_lives(trial, status)
            return trial
        if status is None:
            return self._unknown_job(trial)
        if status.state is JobState.LOST:
            return self._lost(trial, status.reason or "lost", used=self._lost_usage(trial))
        return self._record(trial.id, self.evaluator.fetch(trial.job_id))

    def _unknown_job(self, trial: Trial) -> Trial:
        """Handle a running trial whose job the evaluator does not know.

        Submitted by a driver that has since died or stopped, the job died with it (a local
        pool): re-run it under the same key without spending an attempt, up to
        ``evaluator.max_driver_restarts``; then fail the trial (the design may be what kills
        its driver). Submitted by this driver, the evaluator forgot it: a lost job.
        """
        sid = trial.session_id
        known = self.store.session(sid) if sid else None
        current = self._session.id if self._session is not None else None
        state = known.state(current) if known is not None else SessionState.UNKNOWN
        if state is SessionState.CURRENT:
            return self._lost(trial, JobOutcome.FORGOTTEN.value)
        rule = LIFECYCLE[JobOutcome.DRIVER_DIED]
        cap = self.config.evaluator.max_driver_restarts
        deaths = int(trial.metadata.get("driver_restarts", 0)) + 1
        who = known.describe() if known is not None else "a driver not recorded"
        history = [
            *trial.metadata.get("driver_restart_log", []),
            {"session": sid, "driver": who, "state": state.value},
        ]
        metadata = {**trial.metadata, "driver_restarts": deaths, "driver_restart_log": history}
        if deaths > cap:
            assert rule.after_cap is not None
            reason = (
                f"its driver died or stopped {deaths} time(s) during its evaluation (last: "
                f"{who}, {state.value}); limit evaluator.max_driver_restarts = {cap}: the "
                "design may be what kills its driver (e.g. by exhausting memory)"
            )
            return self.store.transition(
                trial.id, rule.after_cap, reason, reason=reason, metadata=metadata
            )
        # Every trial running beside a design that kills its driver dies with it; from the
        # second death on, each suspect is re-run alone, so only the culprit is charged again.
        solo = deaths >= 2
        trial = self.store.transition(
            trial.id,
            rule.trial,
            f"driver {who} {state.value}; re-running its job ({deaths}/{cap}, no attempt spent"
            f"{', alone' if solo else ''})",
            metadata={**metadata, "solo": solo},
            job_id=None if solo else trial.job_id,
        )
        if solo:
            return trial  # submitted by _collect once nothing else runs
        return self._submit(trial, spend_attempt=rule.spends_attempt)

    def _review(self, trial: Trial, status: JobStatus) -> Trial:
        """Look at a running cell's partial data; stop it if it is clearly poor.

        A stopped cell is recorded as completed with its measured capacities and the predicted
        cycle life (``early_stopped`` in its metadata, with the prediction and the reason).
        """
        assert self._early is not None and trial.job_id is not None
        after = self.config.early_stopping.after_cycles
        if status.cycles_done is not None and status.cycles_done < after:
            return trial  # cheap: no need to read the data yet
        completed = self.store.trials([TrialStatus.COMPLETED])
        if self._early.predictor(completed) is None:
            return trial  # too few completed cells to predict from: nothing to read yet
        partial = self.evaluator.fetch(trial.job_id)
        if partial.state.is_terminal or not partial.bdf_path:
            return trial
        cell = str(partial.metadata.get("cell", "full"))
        try:
            review = self._early.review(partial.bdf_path, completed, cell=cell)
        except OptloopError as exc:  # unreadable partial data: keep cycling, say why
            self._early_notes[trial.id] = f"trial {trial.id}: no early review: {exc}"
            return trial
        if review is None:
            return trial
        record = review.record()
        metadata = {**trial.metadata, "early_stopping": record}
        if not review.decision.stop:
            return self.store.transition(
                trial.id, TrialStatus.RUNNING, f"early stopping: continue ({record['reason']})",
                metadata=metadata,
            )
        missing = [o.name for o in self.config.objectives
                   if o.name != "cycle_life" and o.name not in partial.metrics]
        if missing:  # cannot record the trial without its other objectives: keep cycling
            return self.store.transition(
                trial.id, TrialStatus.RUNNING,
                f"early stopping: would stop, but partial data lack {missing}",
                metadata=metadata,
            )
        # A job already finished on its own: its final result is recorded next poll.
        cancel_job(self.evaluator, trial.job_id, f"stopped early: {record['reason']}")
        outcomes = {**partial.metrics, "cycle_life": review.prediction.mean_cycles}
        return self.store.transition(
            trial.id,
            TrialStatus.COMPLETED,
            f"stopped early: {record['reason']}",
            outcomes={k: v for k, v in outcomes.items() if k in METRICS},
            censored={"cycle_life": False},
            bdf_path=partial.bdf_path,
            metadata={**metadata, **partial.metadata, "early_stopped": True},
        )

    def _review_lives(self, trial: Trial, status: JobStatus) -> Trial:
        """Review a running cell in mode (b) and stop it when cycling on is worth too little.

        The value of cycling on per channel-day is :mod:`.lives`'s.

        Each review's decision (value, cost, reason) goes to ``metadata.lives`` (the last) and
        ``metadata.lives_reviews`` (all); a stopped cell is recorded as completed with its
        measured capacities, ``cycle_life`` = the predicted median (censored at the test's
        cycle count only when even the interval's lower end exceeds it), ``early_stopped``
        and ``prediction`` in its metadata.
        """
        assert self._lives is not None and trial.job_id is not None
        last = trial.metadata.get("lives", {})
        due = self.config.lives.min_cycles
        if last.get("job_id") == trial.job_id:  # a rebuilt cell (new job) starts afresh
            due = int(last.get("next_review_cycles", due))
        if status.cycles_done is not None and status.cycles_done < due:
            return trial  # cheap: no need to read the data yet
        partial = self.evaluator.fetch(trial.job_id)
        if partial.state.is_terminal or not partial.bdf_path:
            return trial
        cell = str(partial.metadata.get("cell", "full"))
        planned = partial.metadata.get("planned_cycles")
        max_cycles = int(planned) if isinstance(planned, int | float) and planned > 0 else None
        days = partial.metadata.get("channel_days")
        completed = self.store.trials([TrialStatus.COMPLETED])
        try:
            review = self._lives.review(
                partial.bdf_path,
                completed,
                outcomes={k: v for k, v in partial.metrics.items() if k != "cycle_life"},
                max_cycles=max_cycles,
                channel_days=float(days) if isinstance(days, int | float) else None,
                cell=cell,
            )
        except OptloopError as exc:  # unreadable partial data: keep cycling, say why
            self._early_notes[trial.id] = f"trial {trial.id}: no lives review: {exc}"
            return trial
        if review is None or review.horizon_cycles < due:
            return trial
        record = {**review.record(), "job_id": trial.job_id}
        history = [*trial.metadata.get("lives_reviews", []),
                   {k: v for k, v in record.items() if k != "prediction"}]
        metadata = {**trial.metadata, "lives": record, "lives_reviews": history}
        if not review.decision.stop or review.prediction is None:
            return self.store.transition(
                trial.id, TrialStatus.RUNNING, f"lives: continue ({review.decision.reason})",
                metadata=metadata,
            )
        pred = review.prediction
        life, censored = pred.median_cycles, False
        if max_cycles is not None and pred.lower_cycles > max_cycles:
            life, censored = float(max_cycles), True
        cancel_job(self.evaluator, trial.job_id, f"life predicted: {review.decision.reason}")
        outcomes = {**partial.metrics, "cycle_life": life}
        return self.store.transition(
            trial.id,
            TrialStatus.COMPLETED,
            f"stopped with a predicted life: {review.decision.reason}",
            outcomes={k: v for k, v in outcomes.items() if k in METRICS},
            censored={"cycle_life": censored},
            bdf_path=partial.bdf_path,
            metadata={
                **metadata, **partial.metadata, "early_stopped": True,
                "prediction": pred.record(),
            },
        )

    def _lost_usage(self, trial: Trial) -> dict[str, float]:
        """Return what a lost cell used (channel-days, simulation seconds), if the job says."""
        assert trial.job_id is not None
        try:
            return _usage_of(self.evaluator.fetch(trial.job_id).metadata)
        except OptloopError:
            return {}

    def _lost(self, trial: Trial, why: str, *, used: Mapping[str, float] | None = None) -> Trial:
        """Rebuild a lost cell (a new job) until ``max_attempts``; then abandon the trial.

        A lost cell (a short, a channel fault) says nothing about the design, so the trial is
        abandoned rather than failed: the optimiser does not learn to avoid the region.
        ``used`` (the lost cell's channel-days, simulation seconds) joins ``lost_usage`` in
        the trial's metadata, for the costs.
        """
        lost = int(trial.metadata.get("lost_attempts", 0)) + 1
        history = [*trial.metadata.get("lost_reasons", []), why]
        metadata = {**trial.metadata, "lost_attempts": lost, "lost_reasons": history}
        if used:
            metadata["lost_usage"] = [*trial.metadata.get("lost_usage", []), dict(used)]
        rule = LIFECYCLE[JobOutcome.LOST]
        if trial.attempts >= self.config.evaluator.max_attempts:
            assert rule.after_cap is not None
            reason = f"lost {lost} time(s); last: {why}"
            return self.store.transition(
                trial.id, rule.after_cap, reason, reason=reason, metadata=metadata
            )
        trial = self.store.transition(
            trial.id, rule.trial, f"lost ({why}); submitting a new cell",
            metadata=metadata,
        )
        return self._submit(trial, spend_attempt=rule.spends_attempt)

    def _check_early_stopping(self) -> None:
        """Refuse early stopping or predicted lives with an evaluator without partial data."""
        if self._early is None and self._lives is None:
            return
        caps = self.evaluator.capabilities()
        if not caps.get("supports_partial"):
            what = ("early_stopping.enabled = true" if self._early is not None
                    else "lives.mode = 'predict'")
            raise ConfigError([
                f"{what} needs an evaluator with partial data; "
                f"{self.config.evaluator.name!r} reports supports_partial="
                f"{caps.get('supports_partial')!r} (use the simulated cycler or a lab cycler)"
            ])

    def _emit(self, event: str, arg: Any) -> None:
        """Call ``event`` on every callback; log its exception unless it asks to raise."""
        for cb in self.callbacks:
            try:
                getattr(cb, event)(self, arg)
            except Exception:
                if getattr(cb, "raise_errors", False):
                    raise
                key = (id(cb), event)
                first = key not in self._callback_failed
                self._callback_failed.add(key)
                # The first failure with its traceback; repeats (every poll) quietly.
                log.log(
                    logging.WARNING if first else logging.DEBUG,
                    "campaign %r: callback %s.%s failed; the campaign goes on",
                    self.config.name, type(cb).__name__, event, exc_info=first,
                )

    def _collect(self) -> None:
        self._pump_prior()
        for t in self.store.trials([TrialStatus.RUNNING]):
            if t.job_id is not None:
                after = self._poll(t)
                if after.status in TERMINAL:
                    self._emit("on_trial_finished", after)
        running = self.store.trials([TrialStatus.RUNNING])
        waiting = [t for t in running if t.job_id is None]  # suspects of a driver death
        if waiting and all(t.job_id is None for t in running):
            self._submit(waiting[0], spend_attempt=False)

    def _fill(self, budget: int) -> None:
        if self._stop is None:
            self._stop = self._budget_stop()
        if self._stop is not None:
            self._withdraw_proposed()
            return
        counts = self.store.counts()
        finished = counts["completed"] + counts["failed"]
        active = counts["proposed"] + counts["running"]
        room = budget - finished - active
        running = counts["running"]
        free = self.concurrency() - running
        if free <= 0:
            return
        if any(t.metadata.get("solo") for t in self.store.trials([TrialStatus.RUNNING])):
            return  # a suspect of a driver death runs alone
        waiting = self.store.trials([TrialStatus.PROPOSED])
        if not waiting and room > 0:
            n_obs = sum(1 for o in self.observations() if not o.failed)
            first = n_obs < self.config.optimiser.initial_designs and finished + active == 0
            want = (
                self.config.optimiser.initial_designs
                if first
                else min(room, max(free, 1), self.config.optimiser.batch_size)
            )
            waiting = self.ask(min(want, room))
            self._stop = self._gain_stop()
            if self._stop is not None:
                self._withdraw_proposed()
                return
        for t in waiting[:free]:
            after = self._submit(t)
            if after.status in TERMINAL:
                self._emit("on_trial_finished", after)

    # --- costs and the stop rule -------------------------------------------------------------

    def _builds_cells(self) -> bool:
        """Return True when the evaluator builds a physical cell per submission."""
        caps: Mapping[str, Any] | None = None
        if self._evaluator is not None:
            try:
                caps = self._evaluator.capabilities()
            except OptloopError:
                caps = None
        return builds_cells(self.config.evaluator.name, caps)

    def costs(self) -> CostReport:
        """Return what the campaign has spent, in its cost units (see :mod:`.costs`)."""
        return account(
            self.store.trials(),
            self.config.costs,
            cells=self._builds_cells(),
            extra=self._prior_usage(),
        )

    def _finished_count(self) -> int:
        counts = self.store.counts()
        return counts["completed"] + counts["failed"]

    def _record_stop(self, reason: str, message: str, data: dict[str, Any]) -> dict[str, Any]:
        """Record a stop in the store and return it (proposing ends; running trials finish)."""
        record = {
            "message": message,
            "n_finished": self._finished_count(),
            "budget": self.config.costs.budget,
            "threshold": self.config.costs.stop_below_gain_per_cost,
            **data,
        }
        self.store.record_stop(reason, record)
        log.info("campaign %r stopped: %s", self.config.name, message)
        return {"reason": reason, **record}

    def _budget_stop(self) -> dict[str, Any] | None:
        """Return a stop when the cost budget is spent, else None."""
        if self.config.costs.budget is None:
            return None
        report = self.costs()
        if not report.spent:
            return None
        message = (
            f"{BUDGET_SPENT}: {report.used:.4g} of costs.budget = {report.budget:g} cost units "
            "used; no more trials are proposed"
        )
        return self._record_stop(BUDGET_SPENT, message, {"cost_used": report.used})

    def _gain_stop(self) -> dict[str, Any] | None:
        """Return a stop when the last batch's gain per cost is below the threshold."""
        threshold = self.config.costs.stop_below_gain_per_cost
        g = self.last_gain
        if threshold is None or g is None or g.gain_per_cost >= threshold:
            return None
        message = (
            f"{GAIN_BELOW_THRESHOLD}: expected hypervolume gain {g.expected_gain:.4g} over "
            f"expected cost {g.expected_cost:.4g} = {g.gain_per_cost:.4g} per cost unit, below "
            f"costs.stop_below_gain_per_cost = {threshold:g}; the batch is withdrawn"
        )
        return self._record_stop(
            GAIN_BELOW_THRESHOLD, message, {**g.to_dict(), "cost_used": self.costs().used}
        )

    def _stop_in_force(self) -> dict[str, Any] | None:
        """Return the stored stop that still holds when a run starts, else None.

        A budget is checked again (it may have been raised); a gain-per-cost stop holds
        while its threshold is unchanged and no trial has finished since (the same data
        would give the same proposal).
        """
        stops = self.store.stops()
        if not stops:
            return None
        last = stops[-1]
        if (
            last["reason"] == GAIN_BELOW_THRESHOLD
            and last.get("threshold") == self.config.costs.stop_below_gain_per_cost
            and last.get("n_finished") == self._finished_count()
        ):
            return last
        return None

    def _withdraw_proposed(self) -> None:
        """Abandon the proposed trials not yet submitted: a stopped campaign builds nothing."""
        assert self._stop is not None
        for t in self.store.trials([TrialStatus.PROPOSED]):
            why = f"campaign stopped: {self._stop['reason']}"
            self.store.transition(t.id, TrialStatus.ABANDONED, why, reason=why)

    def _progress(self, budget: int, message: str = "") -> Progress:
        trials = self.store.trials()
        c = self.config
        front = pareto_trials(trials, c.objectives, c.outcome_constraints)
        best = (
            {
                o.name: (max if o.direction == "maximize" else min)(
                    t.outcomes[o.name] for t in front
                )
                for o in c.objectives
            }
            if front
            else {}
        )
        return Progress(
            counts=self.store.counts(),
            budget=budget,
            best=best,
            hypervolume=hypervolume(trials, c.objectives, c.outcome_constraints),
            message=message,
        )

    def run(
        self,
        budget: int | None = None,
        *,
        progress: Callable[[Progress], None] | None = None,
        poll_interval_s: float = 0.2,
    ) -> Progress:
        """Drive the loop until ``budget`` trials are finished (resuming a stored campaign).

        Callbacks hear ``on_step`` after every pass and ``on_finish`` at the end.

        Raises:
            CampaignBusyError: when another process drives this campaign.
        """
        budget = budget or self.config.optimiser.budget
        self._check_early_stopping()
        with self.store.lock():
            self._stop = self._stop_in_force()
            last: tuple[int, ...] = ()
            snapshot: Progress | None = None
            while True:
                self._collect()
                counts = self.store.counts()
                finished = counts["completed"] + counts["failed"]
                active = counts["proposed"] + counts["running"]
                if active == 0 and (finished >= budget or self._stop is not None):
                    break
                self._fill(budget)
                key = tuple(self.store.counts().values())
                # The front and hypervolume change only with the counts: computed once each.
                if key != last:
                    snapshot, last = None, key
                if snapshot is None and (progress is not None or self.callbacks):
                    snapshot = self._progress(budget)
                    if progress is not None:
                        progress(snapshot)
                if snapshot is not None:
                    self._emit("on_step", snapshot)
                time.sleep(poll_interval_s)
            final = self._progress(budget, self._end_message("done"))
            self._emit("on_finish", final)
            if progress is not None:
                progress(final)
            return final

    def tick(self, *, wait: bool | None = None, poll_interval_s: float = 0.2) -> Progress:
        """Take one idempotent step: collect results, propose and submit up to concurrency.

        With an evaluator whose jobs live only in this process (``persistent_jobs`` not
        advertised, like the local PyBaMM pool), the step waits for the jobs it submitted,
        since they cannot outlive it. Repeated ticks converge to the state ``run`` reaches.
        Callbacks hear one ``on_step`` and ``on_finish`` at the end of the step.
        """
        budget = self.config.optimiser.budget
        self._check_early_stopping()
        with self.store.lock():
            self._stop = self._stop_in_force()
            self._collect()
            self._fill(budget)
            if wait is None:
                wait = not bool(self.evaluator.capabilities().get("persistent_jobs", False))
            while wait and self.store.counts()["running"]:
                time.sleep(poll_interval_s)
                self._collect()
            done = self._progress(budget, self._end_message("tick"))
            self._emit("on_step", done)
            self._emit("on_finish", done)
            return done

    def _end_message(self, default: str) -> str:
        return f"stopped: {self._stop['reason']}" if self._stop is not None else default

    # --- reporting --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Return trials by state, the Pareto set (or best design) and the hypervolume history.

        Also every completed trial, running trials, lost cells (trials with a rebuilt or
        abandoned cell), time to results, and ``lab``: the evaluator's ``lab_status()`` when it
        has one (channel use, faults, cells running and waiting, files waiting); see
        :meth:`_lab_view`.
        """
        c = self.config
        trials = self.store.trials()
        front = pareto_trials(trials, c.objectives, c.outcome_constraints)
        return {
            "campaign": c.name,
            "store": self.store.url,
            "budget": c.optimiser.budget,
            "counts": self.store.counts(),
            "hypervolume": hypervolume(trials, c.objectives, c.outcome_constraints),
            "shown_metrics": list(
                dict.fromkeys(
                    [o.name for o in c.objectives] + [k.metric for k in c.outcome_constraints]
                )
            ),
            "pareto": [
                {
                    "trial": t.id,
                    "outcomes": t.outcomes,
                    "censored": t.censored,
                    "design": t.design.to_dict(),
                }
                for t in front
            ],
            "iterations": self.store.iterations(),
            "failures": [
                {"trial": t.id, "reason": t.reason}
                for t in trials
                if t.status is TrialStatus.FAILED
            ],
            "abandoned": [
                {"trial": t.id, "reason": t.reason}
                for t in trials
                if t.status is TrialStatus.ABANDONED
            ],
            "evaluator_notices": self._notices(),
            "costs": self._cost_view(trials),
            "prior": None if self.prior is None else self.prior.status(),
            **self._lab_view(trials),
        }

    def _cost_view(self, trials: list[Trial]) -> dict[str, Any]:
        """Return the costs: unit costs, use, cost used and left, last gain per cost, stop.

        ``last_gain_per_cost`` is from the last iteration that recorded one; ``stop`` is the
        last recorded stop (None if never), ``stopped`` whether a stop holds now (the budget
        is spent, or a gain-per-cost stop with no trial finished since).
        """
        c = self.config.costs
        report = account(trials, c, cells=self._builds_cells(), extra=self._prior_usage())
        last_gain: dict[str, Any] | None = None
        for it in reversed(self.store.iterations()):
            if "gain_per_cost" in it or "expected_gain" in it:
                last_gain = {
                    "iteration": it["iteration"],
                    "expected_gain": it.get("expected_gain"),
                    "expected_cost": it.get("expected_cost"),
                    "gain_per_cost": it.get("gain_per_cost"),
                }
                break
        stops = self.store.stops()
        return {
            "stated": c.any_cost
            or c.budget is not None
            or c.stop_below_gain_per_cost is not None
            or c.trial_cost_estimate is not None,
            "unit_costs": {
                "cell_build": c.cell_build,
                "channel_day": c.channel_day,
                "simulation_second": c.simulation_second,
            },
            "stop_below_gain_per_cost": c.stop_below_gain_per_cost,
            **report.to_dict(),
            "last_gain": last_gain,
            "last_gain_per_cost": None if last_gain is None else last_gain["gain_per_cost"],
            "stop": stops[-1] if stops else None,
            "stopped": report.spent or self._stop_in_force() is not None,
        }

    def _lab_view(self, trials: list[Trial]) -> dict[str, Any]:
        """Return what a lab manager reads: every completed trial, running and lost cells.

        ``lab`` is the evaluator's own ``lab_status()`` (channel use, faults, cells running
        with their cycles and metrics so far, files waiting, time to results) when it has one
        (the simulated cycler and the file exchange do); None otherwise.
        """
        shown = [o.name for o in self.config.objectives] + [
            k.metric for k in self.config.outcome_constraints
        ]

        def hours(t: Trial) -> float | None:
            if t.started_at is None or t.finished_at is None:
                return None
            return (t.finished_at - t.started_at) / 3600.0

        completed = [
            {
                "trial": t.id,
                "job_id": t.job_id,
                "design": _short_design(t.design),
                "outcomes": {m: t.outcomes.get(m) for m in dict.fromkeys(shown)},
                "censored": {m: bool(t.censored.get(m)) for m in shown if m in t.outcomes},
                "hours_to_result": hours(t),
                "early_stopped": bool(t.metadata.get("early_stopped")),
            }
            for t in trials
            if t.status is TrialStatus.COMPLETED
        ]
        running = [
            {"trial": t.id, "job_id": t.job_id, "attempts": t.attempts}
            for t in trials
            if t.status is TrialStatus.RUNNING
        ]
        lost = [
            {
                "trial": t.id,
                "status": t.status.value,
                "lost_cells": int(t.metadata.get("lost_attempts", 0)),
                "reasons": list(t.metadata.get("lost_reasons", [])),
                "current_job": t.job_id,
            }
            for t in trials
            if int(t.metadata.get("lost_attempts", 0)) > 0
        ]
        waits = sorted(h for t in trials if t.status is TrialStatus.COMPLETED
                       if (h := hours(t)) is not None)
        lab: dict[str, Any] | None = None
        probe = getattr(self._evaluator_or_none(), "lab_status", None)
        if callable(probe):
            try:
                lab = dict(probe())
            except OptloopError as exc:
                lab = {"error": f"evaluator unavailable: {exc}"}
        return {
            "completed": completed,
            "running": running,
            "lost_cells": lost,
            "time_to_results_h": {
                "n": len(waits),
                **({"median": statistics.median(waits), "max": waits[-1]} if waits else {}),
            },
            "lab": lab,
        }

    def _evaluator_or_none(self) -> Evaluator | None:
        """Return the evaluator, or None when it cannot be built (status still answers)."""
        try:
            return self.evaluator
        except OptloopError:
            return None

    def _notices(self) -> list[dict[str, Any]]:
        """Return the evaluator's notices (e.g. quarantined lab files), if it keeps any."""
        own = [{"reason": note} for note in self._early_notes.values()]
        try:
            notices = getattr(self.evaluator, "notices", None)
            return own + (list(notices()) if callable(notices) else [])
        except OptloopError as exc:
            return [*own, {"reason": f"evaluator unavailable: {exc}"}]

    def close(self) -> None:
        """Shut the evaluator down (if it has a ``close``) and release the store."""
        closer = getattr(self._evaluator, "close", None)
        if callable(closer):
            closer()
        if self._prior is not None:
            self._prior.close()
        if self._session is not None:  # a clean stop: its in-process jobs were shut down
            self.store.end_session(self._session.id)
            self._session = None
        self.store.close()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
