"""The :class:`Campaign`: ask, tell, run and tick over one store, optimiser and evaluator.

Data flows one way: the config gives the design space, the optimiser proposes (ask), the
evaluator measures, results go to the store (tell). The store is the only state: a campaign
object can be dropped and rebuilt at any moment, and a killed process resumes where the
store says it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optloop.campaign.analysis import hypervolume, pareto_trials
from optloop.campaign.early_stop import EarlyStopper
from optloop.campaign.lifecycle import LIFECYCLE, JobOutcome, outcome_of
from optloop.config import CampaignConfig, load_config
from optloop.evaluators.base import EvaluationResult, Evaluator, JobState, JobStatus
from optloop.evaluators.registry import create_evaluator
from optloop.exceptions import (
    ConfigError,
    EvaluationError,
    EvaluatorUnavailableError,
    OptloopError,
)
from optloop.objectives import METRICS
from optloop.optimiser import Observation, Optimiser
from optloop.space import Design, DesignSpace
from optloop.store import CampaignStore, DriverSession, SessionState, Trial, TrialStatus
from optloop.tracking import mirror_after_step

__all__ = ["Campaign", "Progress", "default_store_url"]

ACTIVE = (TrialStatus.PROPOSED, TrialStatus.RUNNING)
FINISHED = (TrialStatus.COMPLETED, TrialStatus.FAILED)


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


class Campaign:
    """A closed-loop campaign over one store."""

    def __init__(
        self,
        config: CampaignConfig,
        *,
        store: CampaignStore | None = None,
        evaluator: Evaluator | None = None,
        optimiser: Optimiser | None = None,
    ) -> None:
        self.config = config
        self.space = DesignSpace.from_campaign(config)
        self.store = store or CampaignStore(default_store_url(config), config.name)
        self.store.init_campaign(config.model_dump(mode="json"), self._space_hash())
        self._evaluator = evaluator
        self._optimiser = optimiser
        self._early = (
            EarlyStopper(config.early_stopping, seed=config.seed)
            if config.early_stopping.enabled
            else None
        )
        self._early_notes: dict[int, str] = {}
        self._session: DriverSession | None = None

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> Campaign:
        """Open (or create) the campaign of a YAML config."""
        return cls(load_config(path), **kwargs)

    def _space_hash(self) -> str:
        c = self.config
        key = {
            "space": c.space.model_dump(mode="json"),
            "objectives": [o.model_dump(mode="json") for o in c.objectives],
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    # --- collaborators --------------------------------------------------------------------

    @property
    def evaluator(self) -> Evaluator:
        """Return the evaluator, created from the config on first use."""
        if self._evaluator is None:
            options = dict(self.config.evaluator.options)
            # Data of the embedded evaluators live beside the campaign's store.
            run_dir = Path("runs") / self.config.name
            executor = self.config.executor.model_dump(mode="json")
            if self.config.evaluator.name == "pybamm":
                options.setdefault("output_dir", str(run_dir / "bdf"))
                options.setdefault("executor", executor)
            elif self.config.evaluator.name == "simulated_cycler":
                options.setdefault("state_dir", str(run_dir / "cycler"))
                options["pybamm"] = {"executor": executor, **dict(options.get("pybamm") or {})}
            self._evaluator = create_evaluator(self.config.evaluator.name, options)
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
            )
        return self._optimiser

    def concurrency(self) -> int:
        """Return how many evaluations may run at once."""
        if self.config.evaluator.max_concurrency is not None:
            return self.config.evaluator.max_concurrency
        return int(self.evaluator.capabilities().get("max_concurrency", 1))

    # --- ask / tell -----------------------------------------------------------------------

    def observations(self) -> list[Observation]:
        """Return what the optimiser learns from: completed and failed trials."""
        out = []
        for t in self.store.trials(FINISHED):
            out.append(
                Observation(
                    design=t.design,
                    outcomes=dict(t.outcomes),
                    censored=dict(t.censored),
                    failed=t.status is TrialStatus.FAILED,
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
        proposals, timing = self.optimiser.propose(
            self.observations(), pending, n, iteration=iteration
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
        all_trials = self.store.trials()
        c = self.config
        self.store.record_iteration(
            iteration,
            {
                "n_proposed": len(trials),
                "origin": proposals[0].origin if proposals else None,
                "fit_seconds": timing.fit_seconds,
                "acquisition_seconds": timing.acquisition_seconds,
                "n_observations": timing.n_observations,
                "hypervolume": hypervolume(all_trials, c.objectives, c.outcome_constraints),
                "counts": self.store.counts(),
            },
        )
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
            OptloopError: for unknown metrics, non-finite values, a missing objective, or a
                trial that is already finished (nothing recorded is changed).
        """
        if isinstance(result, EvaluationResult):
            return self._record(trial_id, result)
        outcomes = self._check_outcomes(dict(result), f"trial {trial_id}")
        flags = {k: bool(v) for k, v in (censored or {}).items()}
        res = EvaluationResult(state=JobState.SUCCEEDED, metrics=outcomes, censored=flags)
        return self._record(trial_id, res)

    def _check_outcomes(self, outcomes: dict[str, Any], where: str) -> dict[str, float]:
        bad = sorted(set(outcomes) - set(METRICS))
        if bad:
            raise OptloopError(f"{where}: unknown metric(s) {bad}; known: {sorted(METRICS)}")
        clean: dict[str, float] = {}
        for k, v in outcomes.items():
            try:
                clean[k] = float(v)
            except (TypeError, ValueError):
                raise OptloopError(f"{where}: {k} = {v!r} is not a number") from None
            if not math.isfinite(clean[k]):
                raise OptloopError(f"{where}: {k} = {v!r}; need a finite number")
        missing = [o.name for o in self.config.objectives if o.name not in clean]
        if missing:
            raise OptloopError(f"{where}: objective(s) {missing} missing from the outcomes")
        return clean

    def _record(self, trial_id: int, result: EvaluationResult) -> Trial:
        """Record a terminal result as :data:`~optloop.campaign.lifecycle.LIFECYCLE` says."""
        if not result.state.is_terminal:
            raise OptloopError(
                f"trial {trial_id}: result state {result.state.value} is not final"
            )
        trial = self.store.get(trial_id)
        outcome = outcome_of(result.state)
        if outcome is JobOutcome.LOST and trial.status is TrialStatus.RUNNING:
            return self._lost(trial, result.reason or "lost")  # a new cell, as status LOST
        rule = LIFECYCLE[outcome]
        # A lost result for a trial that is not running (told by hand): nothing to rebuild.
        to = rule.trial if rule.trial is not TrialStatus.RUNNING else rule.after_cap
        assert to is not None
        common: dict[str, Any] = {
            "bdf_path": result.bdf_path,
            # The campaign's own notes (lost cells, driver restarts) are kept.
            "metadata": {**trial.metadata, **result.metadata},
        }
        if to is TrialStatus.COMPLETED:
            return self.store.transition(
                trial_id,
                to,
                "result recorded",
                outcomes=result.metrics,
                censored=result.censored,
                **common,
            )
        reason = result.reason or result.state.value
        if to is TrialStatus.FAILED:
            return self.store.transition(
                trial_id,
                to,
                reason,
                reason=f"{result.state.value}: {reason}",
                outcomes=result.metrics,
                **common,
            )
        return self.store.transition(trial_id, to, reason, reason=reason, **common)

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
        self.space.encode(design)  # raises if the design cannot be represented at all
        clean = self._check_outcomes(dict(outcomes), "attached design")
        violations = [str(v) for v in self.space.violations(design)]
        return self.store.add_trials(
            [
                {
                    "design": design,
                    "origin": "manual",
                    "status": TrialStatus.COMPLETED,
                    "iteration": self.store.next_iteration(),
                    "outcomes": clean,
                    "censored": {k: bool(v) for k, v in (censored or {}).items()},
                    "metadata": {"note": note, "rule_violations": violations},
                    "message": note,
                }
            ]
        )[0]

    def abandon(self, trial_id: int, reason: str = "abandoned by hand") -> Trial:
        """Withdraw a proposed or running trial (its job is cancelled, best effort)."""
        trial = self.store.get(trial_id)
        if trial.status is TrialStatus.RUNNING and trial.job_id and self._evaluator is not None:
            try:
                self._evaluator.cancel(trial.job_id)
            except EvaluationError:
                pass  # the job is already gone; abandoning the trial is what matters
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
            return trial
        if status is None:
            return self._unknown_job(trial)
        if status.state is JobState.LOST:
            return self._lost(trial, status.reason or "lost")
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
        try:
            self.evaluator.cancel(trial.job_id)
        except EvaluationError:
            pass  # already finished on its own: its final result is recorded next poll
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

    def _lost(self, trial: Trial, why: str) -> Trial:
        """Rebuild a lost cell (a new job) until ``max_attempts``; then abandon the trial.

        A lost cell (a short, a channel fault) says nothing about the design, so the trial is
        abandoned rather than failed: the optimiser does not learn to avoid the region.
        """
        lost = int(trial.metadata.get("lost_attempts", 0)) + 1
        history = [*trial.metadata.get("lost_reasons", []), why]
        metadata = {**trial.metadata, "lost_attempts": lost, "lost_reasons": history}
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
        """Refuse early stopping with an evaluator that cannot show partial data."""
        if self._early is None:
            return
        caps = self.evaluator.capabilities()
        if not caps.get("supports_partial"):
            raise ConfigError([
                f"early_stopping.enabled = true needs an evaluator with partial data; "
                f"{self.config.evaluator.name!r} reports supports_partial="
                f"{caps.get('supports_partial')!r} (use the simulated cycler or a lab cycler)"
            ])

    def _collect(self) -> None:
        for t in self.store.trials([TrialStatus.RUNNING]):
            if t.job_id is not None:
                self._poll(t)
        running = self.store.trials([TrialStatus.RUNNING])
        waiting = [t for t in running if t.job_id is None]  # suspects of a driver death
        if waiting and all(t.job_id is None for t in running):
            self._submit(waiting[0], spend_attempt=False)

    def _fill(self, budget: int) -> None:
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
        for t in waiting[:free]:
            self._submit(t)

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

        Raises:
            CampaignBusyError: when another process drives this campaign.
        """
        budget = budget or self.config.optimiser.budget
        self._check_early_stopping()
        with self.store.lock():
            last: tuple[int, ...] = ()
            while True:
                self._collect()
                counts = self.store.counts()
                finished = counts["completed"] + counts["failed"]
                if finished >= budget and counts["proposed"] + counts["running"] == 0:
                    break
                self._fill(budget)
                key = tuple(self.store.counts().values())
                if progress is not None and key != last:
                    progress(self._progress(budget))
                    last = key
                # MLflow mirrors the store in the background; it never blocks the loop.
                mirror_after_step(self)
                time.sleep(poll_interval_s)
            report = mirror_after_step(self, final=True)
            note = f"done; MLflow: {report.summary()}" if report else "done"
            final = self._progress(budget, note)
            if progress is not None:
                progress(final)
            return final

    def tick(self, *, wait: bool | None = None, poll_interval_s: float = 0.2) -> Progress:
        """Take one idempotent step: collect results, propose and submit up to concurrency.

        With an evaluator whose jobs live only in this process (``persistent_jobs`` not
        advertised, like the local PyBaMM pool), the step waits for the jobs it submitted,
        since they cannot outlive it. Repeated ticks converge to the state ``run`` reaches.
        """
        budget = self.config.optimiser.budget
        self._check_early_stopping()
        with self.store.lock():
            self._collect()
            self._fill(budget)
            if wait is None:
                wait = not bool(self.evaluator.capabilities().get("persistent_jobs", False))
            while wait and self.store.counts()["running"]:
                time.sleep(poll_interval_s)
                self._collect()
            report = mirror_after_step(self, final=True)
            note = f"tick; MLflow: {report.summary()}" if report else "tick"
            return self._progress(budget, note)

    # --- reporting --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Return trials by state, the Pareto set (or best design) and the hypervolume history."""
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
        }

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
        if self._session is not None:  # a clean stop: its in-process jobs were shut down
            self.store.end_session(self._session.id)
            self._session = None
        self.store.close()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
