"""The simulated cycler: a battery lab in software, to rehearse a campaign before real cells.

Each submitted design becomes a cell: the cell model (the PyBaMM evaluator, in its own process
pool, or a ``module:function``) gives its profile once per design and fidelity (cached under
``state_dir/profiles/``); the cell is built for ``build_lead_time_h``, waits for a free
channel (first submitted, first served), then cycles until end of life or the protocol's cycle
count, with cell-to-cell variation, measurement noise, lost cells and channel faults, all
seeded. Simulated time runs ``time_scale`` times faster than the wall clock from an epoch
stored in the state folder, and the schedule is a deterministic replay of the persisted jobs
(:mod:`~optloop.evaluators.simulated_cycler.schedule`), so every process on the same folder
reports the same states. Data go to BDF files and the metrics come from them
(:func:`optloop.evaluators.measured.measured_metrics`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from optloop.data import MetricsError, read_bdf, write_bdf
from optloop.data.atomic import write_once
from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    JobStatus,
    design_json,
)
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.measured import measured_metrics
from optloop.evaluators.pybamm import PybammEvaluator
from optloop.evaluators.pybamm import assumptions as A
from optloop.evaluators.pybamm.options import FIDELITIES
from optloop.evaluators.simulated_cycler.cell import (
    EXTRAPOLATION_RULE,
    CellDraws,
    CellTest,
    build_cell_test,
    draw_cell,
)
from optloop.evaluators.simulated_cycler.options import (
    SimulatedCyclerOptions,
    physics_options,
)
from optloop.evaluators.simulated_cycler.profile import (
    CellProfile,
    profile_from_bdf,
    profile_key,
)
from optloop.evaluators.simulated_cycler.reality import DesignTruth, design_truth, outcome_of
from optloop.evaluators.simulated_cycler.schedule import (
    ChannelFaults,
    JobFacts,
    JobOutcome,
    Replay,
    replay,
)
from optloop.evaluators.simulated_cycler.state import JOB_PREFIX, CyclerState
from optloop.exceptions import DesignError, EvaluationError
from optloop.space.design import Design

__all__ = ["ELECTRODE_AREA_CM2", "SimulatedCycler"]

#: The cells' electrode area: PyBaMM's pouch cell, so both evaluators score the same cell.
ELECTRODE_AREA_CM2 = A.ELECTRODE_AREA_M2 * 1e4
_SECONDS_PER_DAY = 86400.0
_SECONDS_PER_HOUR = 3600.0
_CV_HOLD_ESTIMATE_H = 0.25
_DRAIN_POLL_S = 0.2


@dataclass(frozen=True)
class _Record:
    """A submitted job as the event log holds it."""

    job_id: str
    trial_id: str
    design: dict[str, Any]
    design_json: str
    fidelity: str
    key: str
    submitted_s: float
    cancelled_s: float | None = None


@dataclass(frozen=True)
class _View:
    """Where a job stands now: its state and what the status and fetch report."""

    state: JobState
    reason: str | None
    message: str
    progress: float
    cycles_done: int
    outcome: JobOutcome
    data_until_s: float | None
    """Test time up to which the cell has data (None: it never started)."""


def _load_cell_model(target: str) -> Callable[[dict[str, Any], str], Any]:
    module, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise EvaluationError(
            f"evaluator.options.cell_model: cannot load {target!r} ({exc})"
        ) from None
    if not callable(fn):
        raise EvaluationError(f"evaluator.options.cell_model: {target!r} is not callable")
    return fn


def _day(t_s: float) -> str:
    return f"{t_s / _SECONDS_PER_DAY:.1f}"


class SimulatedCycler:
    """A simulated battery lab that cycles cells built from designs (rehearsal evaluator).

    Implements the :class:`~optloop.evaluators.base.Evaluator` protocol with partial results,
    cancellation and jobs that outlive the process (``persistent_jobs``).

    Args:
        options: :class:`SimulatedCyclerOptions` or the config's ``evaluator.options`` dict.
        context: The campaign's side: its seed seeds every draw (cells by seed and trial id),
            its executor runs PyBaMM, and the state folder defaults to ``run_dir/cycler``;
            None: ``EvaluatorContext()``.
        clock: Wall-clock seconds (inject a fake clock in tests).

    Raises:
        ConfigError: If an option is invalid, or the state folder was started with other
            schedule options.
        EvaluationError: If ``cell_model`` cannot be loaded.
    """

    name = "simulated_cycler"
    options_model: ClassVar[type[BaseModel]] = SimulatedCyclerOptions

    def __init__(
        self,
        options: SimulatedCyclerOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(options, SimulatedCyclerOptions):
            self.options = options
        else:
            self.options = SimulatedCyclerOptions.from_dict(dict(options or {}))
        opts = self.options
        self.context = context if context is not None else EvaluatorContext()
        self.seed = self.context.seed
        root = Path(opts.state_dir) if opts.state_dir else self.context.path("cycler")
        self.state_dir = root
        self.pybamm_options = opts.pybamm_options(str(root / "pybamm"))
        self._state = CyclerState(root, clock, opts.time_scale, opts.fingerprint(self.seed))
        self._cell_fn = None if opts.cell_model == "pybamm" else _load_cell_model(opts.cell_model)
        self._model_key = {
            "cell_model": opts.cell_model,
            "pybamm": physics_options(self.pybamm_options),
        }
        self._inner: PybammEvaluator | None = None
        self._inner_jobs: dict[str, str] = {}  # profile key -> inner PyBaMM job id
        self._profiles: dict[str, CellProfile] = {}
        self._records: dict[str, _Record] = {}
        self._order: list[str] = []
        self._n_cancelled = 0
        self._synced: list[dict[str, Any]] | None = None
        self._tests: dict[str, tuple[CellTest, CellDraws]] = {}
        self._channels = [
            ChannelFaults(
                self.seed, c, opts.channel_fault_rate_per_day,
                opts.channel_repair_days * _SECONDS_PER_DAY,
            )
            for c in range(1, opts.channels + 1)
        ]
        self._replay: tuple[tuple[int, int, int, float], Replay] | None = None
        self._results: dict[str, EvaluationResult] = {}

    # --- context ------------------------------------------------------------------------------

    def close(self) -> None:
        """Finish the cell-model runs in flight (caching their profiles), then stop PyBaMM.

        Waiting lets a short-lived process (a cron ``tick``) leave its profiles behind for the
        next one; it is bounded by the PyBaMM evaluator's own time limit.
        """
        if self._inner is None:
            return
        deadline = time.monotonic() + self.pybamm_options.timeout_s * 1.5 + 60.0
        while self._inner_jobs and time.monotonic() < deadline:
            self._poll_inner()
            if self._inner_jobs:
                time.sleep(_DRAIN_POLL_S)
        self._inner.close()
        self._inner = None
        self._inner_jobs.clear()

    def __enter__(self) -> SimulatedCycler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- capabilities -------------------------------------------------------------------------

    def _cycle_hours_estimate(self) -> float:
        if self.options.cycle_duration_h is not None:
            return self.options.cycle_duration_h
        p = self.pybamm_options.protocol
        return 1.0 / p.charge_c_rate + 1.0 / p.discharge_c_rate + _CV_HOLD_ESTIMATE_H

    def capabilities(self) -> dict[str, Any]:
        """Return what this evaluator supports (``est_duration_s`` in wall-clock seconds)."""
        test_h = self.options.build_lead_time_h + (
            self.pybamm_options.cycle_cap * self._cycle_hours_estimate()
        )
        return {
            "fidelities": list(FIDELITIES),
            "asynchronous": True,
            "max_concurrency": self.options.channels,
            "supports_cancel": True,
            "supports_partial": True,
            "est_duration_s": test_h * _SECONDS_PER_HOUR / self.options.time_scale,
            "persistent_jobs": True,
            "time_scale": self.options.time_scale,
            "channels": self.options.channels,
            "extra_metrics": ["discharge_energy_Wh"],
        }

    # --- the event log ------------------------------------------------------------------------

    def _sync(self) -> None:
        """Read the job store: every submitted cell, in submission order."""
        records = self._state.jobs.records()
        if records is self._synced:
            return  # nothing was saved since the last read
        self._synced = records
        self._records = {
            r["job_id"]: _Record(
                job_id=r["job_id"],
                trial_id=r["trial_id"],
                design=r["design"],
                design_json=r["design_json"],
                fidelity=r["fidelity"],
                key=r["key"],
                submitted_s=float(r["submitted_s"]),
                cancelled_s=None if r.get("cancelled_s") is None else float(r["cancelled_s"]),
            )
            for r in records
        }
        self._order = [r["job_id"] for r in records]
        self._n_cancelled = sum(r.get("cancelled_s") is not None for r in records)

    def _record(self, job_id: str) -> _Record:
        self._sync()
        try:
            return self._records[job_id]
        except KeyError:
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}") from None

    def _pybamm_evaluator(self) -> PybammEvaluator:
        """Build the inner PyBaMM evaluator on the campaign's executor."""
        inner = EvaluatorContext(
            campaign=self.context.campaign,
            run_dir=self.state_dir / "pybamm",
            seed=self.seed,
            executor=dict(self.context.executor),
        )
        return PybammEvaluator(self.pybamm_options, context=inner)

    # --- submit -------------------------------------------------------------------------------

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Order a cell of the design and return its job id at once.

        The cell model starts at once (PyBaMM runs in the background while the cell is built).
        Submitting the trial again returns the same job (from any process on the folder).

        Raises:
            EvaluationError: If the fidelity is unknown, or ``trial_id`` was already submitted
                with a different design or fidelity, or by another campaign.
        """
        if fidelity not in FIDELITIES:
            raise EvaluationError(
                f"{self.name}: fidelity={fidelity!r} unknown; allowed: {list(FIDELITIES)}"
            )
        canonical = design_json(design)
        design_dict = json.loads(canonical)
        job_id = JOB_PREFIX + hashlib.sha256(trial_id.encode()).hexdigest()[:12]
        key = profile_key(design_dict, fidelity, self._model_key)
        _, created = self._state.jobs.submit(
            job_id=job_id,
            trial_id=trial_id,
            campaign=self.context.campaign,
            design_json=canonical,
            fidelity=fidelity,
            create=lambda: {
                "design": design_dict,
                "key": key,
                "submitted_s": self._state.sim_now(),
                "cancelled_s": None,
            },
        )
        self._sync()
        if created:
            self._start_profile(self._records[job_id])
        return job_id

    # --- cell model ---------------------------------------------------------------------------

    def _profile(self, key: str) -> CellProfile | None:
        profile = self._profiles.get(key)
        if profile is None:
            profile = self._state.load_profile(key)
            if profile is not None:
                self._profiles[key] = profile
        return profile

    def _save_profile(self, key: str, profile: CellProfile) -> None:
        stamped = profile.model_copy(update={"ready_sim_s": self._state.sim_now()})
        self._profiles[key] = self._state.save_profile(key, stamped)

    def _start_profile(self, rec: _Record) -> None:
        """Start (or, for a function, run) the cell model unless its profile is known."""
        if self._profile(rec.key) is not None or rec.key in self._inner_jobs:
            return
        try:
            Design.from_dict(rec.design)
        except DesignError as exc:
            self._save_profile(rec.key, CellProfile.failure(
                "cell could not be built: rejected before modelling: " + str(exc)
            ))
            return
        if self._cell_fn is not None:
            try:
                raw = self._cell_fn(dict(rec.design), rec.fidelity)
                profile = CellProfile.model_validate(raw)
            except Exception as exc:  # noqa: BLE001 - a cell model's failure is a failed cell
                profile = CellProfile.failure(
                    f"cell model {self.options.cell_model} failed: {type(exc).__name__}: {exc}"
                )
            self._save_profile(rec.key, profile)
            return
        if self._state.claimed_elsewhere(rec.key):
            return  # a live process is computing it; a dead one's work is redone here
        if self._inner is None:
            self._inner = self._pybamm_evaluator()
        self._state.claim(rec.key)
        self._inner_jobs[rec.key] = self._inner.submit(
            rec.design, trial_id=rec.key, fidelity=rec.fidelity
        )

    def _poll_inner(self) -> None:
        """Cache the profiles of finished PyBaMM runs."""
        if self._inner is None:
            return
        for key, inner_id in list(self._inner_jobs.items()):
            status = self._inner.status(inner_id)
            if not status.state.is_terminal:
                continue
            del self._inner_jobs[key]
            if self._profile(key) is not None:
                continue  # another process cached it first
            result = self._inner.fetch(inner_id)
            self._save_profile(key, self._profile_of(result))

    def _profile_of(self, result: EvaluationResult) -> CellProfile:
        if result.state is not JobState.SUCCEEDED or result.bdf_path is None:
            why = result.reason or f"PyBaMM ended {result.state.value} without data"
            return CellProfile.failure(f"cell could not be built or cycled: {why}")
        try:
            frame, _ = read_bdf(result.bdf_path)
            cell = result.metadata.get("cell_model_inputs") or {}
            return profile_from_bdf(
                frame,
                first_cycle_efficiency=result.metrics.get("first_cycle_efficiency"),
                stack_thickness_m=cell.get("stack_thickness_m"),
                static_metrics=result.metrics,
                source=result.bdf_path,
            )
        except Exception as exc:  # noqa: BLE001 - unusable PyBaMM data: a failed cell
            return CellProfile.failure(
                f"cell model data unusable: {type(exc).__name__}: {exc}"
            )

    # --- the replay ---------------------------------------------------------------------------

    def _cell(self, rec: _Record, profile: CellProfile) -> tuple[CellTest, CellDraws]:
        cached = self._tests.get(rec.job_id)
        if cached is None:
            planned = self.pybamm_options.cycles_for(rec.fidelity)
            o = self.options
            r = o.reality
            threshold = self.pybamm_options.end_of_life_fraction
            truth = None if r is None else design_truth(
                r, rec.design, profile, seed=self.seed, threshold=threshold
            )
            draws = draw_cell(
                seed=self.seed,
                trial_id=rec.trial_id,
                n_cycles=planned,
                capacity_cv=o.capacity_cv * (1.0 if r is None else r.capacity_cv_factor),
                fade_cv=o.fade_cv * (1.0 if r is None else r.fade_cv_factor),
                measurement_noise=o.measurement_noise,
                lost_cell_probability=o.lost_cell_probability,
            )
            test = build_cell_test(
                profile,
                draws,
                planned_cycles=planned,
                threshold=threshold,
                cycle_duration_h=o.cycle_duration_h,
                truth=truth,
            )
            cached = self._tests[rec.job_id] = (test, draws)
            if truth is not None:
                self._write_truth(rec, profile, truth, draws)
        return cached

    def _write_truth(
        self, rec: _Record, profile: CellProfile, truth: DesignTruth, draws: CellDraws
    ) -> None:
        """Write the cell's true noise-free outcome to ``truth/<job>.json`` (once)."""
        path = self.state_dir / "truth" / f"{rec.job_id}.json"
        if path.exists():
            return
        threshold = self.pybamm_options.end_of_life_fraction
        record = {
            "rehearsal_only": True,
            "job_id": rec.job_id,
            "trial_id": rec.trial_id,
            "design": rec.design,
            "fidelity": rec.fidelity,
            "cell": outcome_of(
                truth, profile, rec.design, threshold=threshold,
                electrode_area_cm2=ELECTRODE_AREA_CM2,
                capacity_factor=draws.capacity_factor, fade_factor=draws.fade_factor,
            ),
            "design_truth": outcome_of(
                truth, profile, rec.design, threshold=threshold,
                electrode_area_cm2=ELECTRODE_AREA_CM2,
            ),
            "draws": draws.to_dict(),
            "truth": truth.summary(),
            "reality": None if self.options.reality is None
            else self.options.reality.model_dump(mode="json"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            write_once(path, json.dumps(record, indent=2, sort_keys=True))

    def _facts(self, rec: _Record) -> JobFacts:
        profile = self._profile(rec.key)
        if profile is None:
            return JobFacts(rec.job_id, rec.submitted_s, None, rec.cancelled_s, None)
        ready = max(rec.submitted_s, profile.ready_sim_s or 0.0)
        if not profile.ok:
            return JobFacts(rec.job_id, rec.submitted_s, None, rec.cancelled_s, None, ready)
        built = rec.submitted_s + self.options.build_lead_time_h * _SECONDS_PER_HOUR
        test, _ = self._cell(rec, profile)
        return JobFacts(rec.job_id, rec.submitted_s, max(built, ready), rec.cancelled_s, test)

    def _refresh(self) -> Replay:
        """Bring the log and the cell models up to date and replay the lab to now."""
        self._sync()
        self._poll_inner()
        for job_id in self._order:
            rec = self._records[job_id]
            if rec.cancelled_s is None and self._profile(rec.key) is None:
                self._start_profile(rec)  # e.g. the process that ran its model died
        now = self._state.sim_now()
        key = (len(self._order), self._n_cancelled, len(self._profiles), now)
        if self._replay is None or self._replay[0] != key:
            facts = [self._facts(self._records[j]) for j in self._order]
            self._replay = (key, replay(facts, now_s=now, channels=self._channels))
        return self._replay[1]

    def _view(self, job_id: str) -> _View:
        rec = self._record(job_id)
        rp = self._refresh()
        now = rp.now_s
        outcome = rp.outcomes[job_id]
        facts = self._facts(rec)
        planned = self.pybamm_options.cycles_for(rec.fidelity)
        if facts.failed_s is not None:
            profile = self._profile(rec.key)
            reason = profile.reason if profile is not None else None
            if rec.cancelled_s is not None and rec.cancelled_s < facts.failed_s:
                return _View(JobState.CANCELLED, "cancelled before the cell was built",
                             "cancelled", 0.0, 0, outcome, None)
            return _View(JobState.FAILED, reason or "cell model failed", "cell model failed",
                         0.0, 0, outcome, None)
        if outcome.start_s is not None and outcome.end_s is not None:
            assert facts.test is not None
            test = facts.test
            if outcome.end_s <= now:
                return self._ended(rec, outcome, test, planned)
            done = test.cycles_done(now - outcome.start_s)
            message = f"channel {outcome.channel}, cycle {done}/{planned}, day {_day(now)}"
            return _View(JobState.RUNNING, None, message, min(1.0, done / planned), done,
                         outcome, now - outcome.start_s)
        if rec.cancelled_s is not None and rec.cancelled_s <= now:
            return _View(JobState.CANCELLED, f"cancelled on day {_day(rec.cancelled_s)} before "
                         "the cell started cycling", "cancelled", 0.0, 0, outcome, None)
        built = rec.submitted_s + self.options.build_lead_time_h * _SECONDS_PER_HOUR
        if facts.ready_s is None:
            message = f"building; cell model running (cell ready on day {_day(built)} at best)"
        elif now < facts.ready_s:
            message = f"building; ready on day {_day(facts.ready_s)}"
        else:
            message = f"built; waiting for a channel ({outcome.queue_position} in queue)"
        return _View(JobState.QUEUED, None, message, 0.0, 0, outcome, None)

    def _ended(
        self, rec: _Record, outcome: JobOutcome, test: CellTest, planned: int
    ) -> _View:
        assert outcome.end_s is not None and outcome.ran_s is not None
        ran = outcome.ran_s
        done = test.cycles_done(ran)
        channel = outcome.channel
        if outcome.end_kind == "completed":
            message = f"channel {channel}: test ended after {done} cycles"
            return _View(JobState.SUCCEEDED, None, message, 1.0, done, outcome, ran)
        if outcome.end_kind == "lost_cell":
            _, draws = self._tests[rec.job_id]
            what = "shorted" if draws.loss_kind == "shorted" else "went open circuit"
            reason = f"cell {what} at cycle {test.loss_cycle}, channel {channel}"
            state = JobState.LOST
        elif outcome.end_kind == "channel_fault":
            reason = f"channel {channel} fault on day {_day(outcome.end_s)}"
            state = JobState.LOST
        else:
            reason = f"cancelled on day {_day(outcome.end_s)} after {done} cycles"
            state = JobState.CANCELLED
        return _View(state, reason, reason, min(1.0, done / planned), done, outcome, ran)

    # --- protocol -----------------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        """Return the state, cycles done and a message ("channel 3, cycle 45/200, day 12.3")."""
        view = self._view(job_id)
        return JobStatus(
            state=view.state,
            reason=view.reason,
            progress=view.progress,
            cycles_done=view.cycles_done,
            message=view.message,
        )

    def fetch(self, job_id: str) -> EvaluationResult:
        """Return the result: partial (with a BDF of the cycles so far) while the cell cycles.

        Terminal results are final: a lost or cancelled cell keeps the data it made.
        """
        cached = self._results.get(job_id)
        if cached is not None:
            return cached
        view = self._view(job_id)
        rec = self._records[job_id]
        meta = self._metadata(rec, view)
        if view.data_until_s is None:
            if view.state.is_terminal:
                result = EvaluationResult.failed(
                    view.reason or "cancelled", state=view.state, metadata=meta
                )
                self._results[job_id] = result
                return result
            return EvaluationResult(view.state, partial=True, metadata=meta)
        test, _ = self._tests[job_id]
        frame, mid_cycle = test.frame_until(view.data_until_s)
        final = view.state.is_terminal
        path = self._state.bdf_path(job_id, partial=not final)
        metrics: dict[str, float] = {}
        censored: dict[str, bool] = {}
        bdf_path: str | None = None
        if frame is not None:
            profile = self._profile(rec.key)
            stack = profile.stack_thickness_m if profile is not None else None
            bdf_meta = {**meta, "electrode_area_cm2": ELECTRODE_AREA_CM2, "final": final}
            write_bdf(frame, path, bdf_meta)
            bdf_path = str(path)
            try:
                measured = measured_metrics(
                    rec.design,
                    frame,
                    electrode_area_cm2=ELECTRODE_AREA_CM2,
                    threshold=self.pybamm_options.end_of_life_fraction,
                    planned_cycles=test.planned_cycles,
                    in_progress=mid_cycle,
                    stack_thickness_um=None if stack is None else stack * 1e6,
                    source=str(path),
                )
                metrics, censored = measured.metrics, measured.censored
                meta["notes"] = list(measured.notes)
            except MetricsError as exc:  # no complete cycle yet
                meta["notes"] = [f"no metrics: {exc}"]
        if final:
            self._state.bdf_path(job_id, partial=True).unlink(missing_ok=True)
            result = EvaluationResult(
                view.state, metrics=metrics, censored=censored, reason=view.reason,
                bdf_path=bdf_path, metadata=meta,
            )
            self._results[job_id] = result
            return result
        return EvaluationResult(
            view.state, metrics=metrics, censored=censored, partial=True, bdf_path=bdf_path,
            metadata=meta,
        )

    def _metadata(self, rec: _Record, view: _View) -> dict[str, Any]:
        o = view.outcome
        meta: dict[str, Any] = {
            "job_id": rec.job_id,
            "trial_id": rec.trial_id,
            "evaluator": self.name,
            "fidelity": rec.fidelity,
            "cell": "full",
            "planned_cycles": self.pybamm_options.cycles_for(rec.fidelity),
            "cell_model": self.options.cell_model,
            "profile_key": rec.key,
            "submitted_day": rec.submitted_s / _SECONDS_PER_DAY,
            "channel": o.channel,
            "cycles_done": view.cycles_done,
        }
        if o.start_s is not None:
            meta["start_day"] = o.start_s / _SECONDS_PER_DAY
            # Channel-days on the cycler so far (costs, optloop.campaign.costs): its channel
            # is busy from the test's start to its end, or to now while it cycles.
            now = self._state.sim_now()
            until = min(o.end_s, now) if o.end_s is not None else now
            meta["channel_days"] = max(0.0, until - o.start_s) / _SECONDS_PER_DAY
        if view.state.is_terminal and o.end_s is not None:
            meta["end_day"] = o.end_s / _SECONDS_PER_DAY
            meta["end"] = o.end_kind
        cell = self._tests.get(rec.job_id)
        if cell is not None and cell[0].extrapolated_cycles:
            meta["extrapolated_cycles"] = cell[0].extrapolated_cycles
            meta["extrapolation_rule"] = EXTRAPOLATION_RULE
        return meta

    def cancel(self, job_id: str) -> None:
        """Stop the job now; do nothing to a terminal job.

        A cycling cell stops at the current simulated time, keeps its data and frees its channel;
        a cell still being built or queued never takes a channel.
        """
        view = self._view(job_id)
        if view.state.is_terminal:
            return
        jobs = self._state.jobs
        with jobs.lock():
            record = jobs.load(job_id)
            if record is not None and record.get("cancelled_s") is None:  # the first counts
                record["cancelled_s"] = self._state.sim_now()
                jobs.save(record)
        self._sync()

    # --- rehearsal-only -----------------------------------------------------------------------

    def ground_truth(self, job_id: str) -> dict[str, Any]:
        """Return what only a simulation knows: the cell's fate had it run to its end.

        **Rehearsal only** (no real lab can answer it): for benchmarks of early prediction and
        stopping, e.g. channel-days saved and wrong stops.

        Returns:
            ``cycle_life`` and ``cycle_life_censored`` of the whole test (lost cells and
            faults ignored), ``test_cycles`` and ``test_duration_days`` had it run to its end,
            the planned cycles, the draws (capacity and fade factors, whether and where it
            would die), extrapolated cycles, and what actually happened (state, channel,
            start and end day, busy channel-days); ``truth``: with a ``reality``, the cell's
            true noise-free outcome (``truth/<job>.json``), else None.

        Raises:
            EvaluationError: If the job is unknown or its cell model has not answered yet (or
                failed).
        """
        view = self._view(job_id)
        rec = self._records[job_id]
        profile = self._profile(rec.key)
        if profile is None or not profile.ok:
            why = "not answered yet" if profile is None else f"failed ({profile.reason})"
            raise EvaluationError(f"{self.name}: job {job_id!r}: its cell model {why}")
        test, draws = self._cell(rec, profile)
        o = view.outcome
        busy = 0.0
        if o.start_s is not None and o.end_s is not None:
            busy = (min(o.end_s, self._state.sim_now()) - o.start_s) / _SECONDS_PER_DAY
        truth_path = self.state_dir / "truth" / f"{job_id}.json"
        truth = (json.loads(truth_path.read_text(encoding="utf-8"))
                 if truth_path.exists() else None)
        return {
            "rehearsal_only": True,
            "job_id": job_id,
            "trial_id": rec.trial_id,
            "truth": truth,
            "planned_cycles": test.planned_cycles,
            "cycle_life": test.cycle_life,
            "cycle_life_censored": test.censored,
            "test_cycles": test.end_cycle,
            "test_duration_days": test.duration_s / _SECONDS_PER_DAY,
            "draws": draws.to_dict(),
            "loss_cycle": test.loss_cycle,
            "extrapolated_cycles": test.extrapolated_cycles,
            "actual": {
                "state": view.state.value,
                "channel": o.channel,
                "start_day": None if o.start_s is None else o.start_s / _SECONDS_PER_DAY,
                "end_day": None if o.end_s is None or not view.state.is_terminal
                else o.end_s / _SECONDS_PER_DAY,
                "cycles_done": view.cycles_done,
                "busy_channel_days": busy,
            },
        }

    def lab_status(self, *, metrics_so_far: bool = True) -> dict[str, Any]:
        """Return what a lab manager reads: cells running, waiting, lost; channels; faults.

        Times are simulated days since the cycler's epoch. Channel use and faults are counted
        over the campaign's span (first order to the last test's end, or now while a test
        runs), so a status taken long after the campaign does not dilute them.

        Args:
            metrics_so_far: Compute each running cell's metrics from its data so far (writes
                its partial BDF file, as :meth:`fetch` does).

        Returns:
            JSON-ready ``{"evaluator", "sim_day", "channels", "channel_use", "faults",
            "running", "waiting", "lost", "time_to_results"}``; time to results of completed
            cells: ``order_to_result``, ``order_to_start`` (build lead time and cell model,
            then a free channel) and ``built_to_start`` (the wait for a free channel alone).
        """
        rp = self._refresh()
        now = rp.now_s
        day = _SECONDS_PER_DAY
        running: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        lost: list[dict[str, Any]] = []
        to_result: list[float] = []
        to_start: list[float] = []
        queue_wait: list[float] = []
        first = min((self._records[j].submitted_s for j in self._order), default=now)
        last_end = first
        for job_id in self._order:
            rec = self._records[job_id]
            view = self._view(job_id)
            o = view.outcome
            if o.end_s is not None and o.end_s <= now:
                last_end = max(last_end, o.end_s)
            if view.state is JobState.RUNNING:
                last_end = now
                entry: dict[str, Any] = {
                    "job_id": job_id,
                    "trial_id": rec.trial_id,
                    "channel": o.channel,
                    "cycles_done": view.cycles_done,
                    "planned_cycles": self.pybamm_options.cycles_for(rec.fidelity),
                    "start_day": None if o.start_s is None else o.start_s / day,
                    "goes_stale": "never: the simulated cycler reports every cycle",
                }
                if metrics_so_far:
                    entry["metrics_so_far"] = dict(self.fetch(job_id).metrics)
                running.append(entry)
            elif view.state is JobState.QUEUED:
                last_end = now
                waiting.append(
                    {"job_id": job_id, "trial_id": rec.trial_id, "message": view.message}
                )
            elif view.state is JobState.LOST:
                lost.append(
                    {
                        "job_id": job_id,
                        "trial_id": rec.trial_id,
                        "reason": view.reason,
                        "day": None if o.end_s is None else o.end_s / day,
                        "cycles_done": view.cycles_done,
                    }
                )
            if view.state is JobState.SUCCEEDED and o.end_s is not None:
                to_result.append((o.end_s - rec.submitted_s) / day)
                if o.start_s is not None:
                    to_start.append((o.start_s - rec.submitted_s) / day)
                    ready = self._facts(rec).ready_s
                    if ready is not None:
                        queue_wait.append((o.start_s - ready) / day)
        span_end = max(last_end, first)
        per: dict[str, dict[str, float]] = {}
        faults: list[dict[str, Any]] = []
        for c, timeline in enumerate(rp.channels, start=1):
            times = timeline.faults_until(span_end)
            down = sum(min(f + timeline.repair_s, span_end) - f for f in times)
            per[str(c)] = {"busy_days": 0.0, "down_days": down / day, "tests": 0.0}
            faults += [{"channel": c, "day": f / day} for f in times]
        for o in rp.outcomes.values():
            if o.channel is None or o.start_s is None or o.end_s is None or o.start_s > now:
                continue
            per[str(o.channel)]["busy_days"] += (min(o.end_s, now) - o.start_s) / day
            per[str(o.channel)]["tests"] += 1.0
        busy = sum(e["busy_days"] for e in per.values())
        span_days = (span_end - first) / day
        capacity = span_days * len(rp.channels)

        def stats(xs: list[float]) -> dict[str, Any]:
            if not xs:
                return {"n": 0}
            return {"n": len(xs), "median_days": statistics.median(xs),
                    "mean_days": statistics.fmean(xs), "max_days": max(xs)}

        return {
            "evaluator": self.name,
            "sim_day": now / day,
            "channels": len(rp.channels),
            "channel_use": {
                "span_days": span_days,
                "busy_channel_days": busy,
                "down_channel_days": sum(e["down_days"] for e in per.values()),
                "utilisation": busy / capacity if capacity > 0 else 0.0,
                "per_channel": per,
            },
            "faults": faults,
            "running": running,
            "waiting": waiting,
            "lost": lost,
            "time_to_results": {
                "order_to_result": stats(to_result),
                "order_to_start": stats(to_start),
                "built_to_start": stats(queue_wait),
                "unit": "simulated days",
            },
        }

    def channel_usage(self) -> dict[str, Any]:
        """Return busy and down channel-days so far, per channel (``"1"``...) and in total."""
        rp = self._refresh()
        now = rp.now_s
        per: dict[str, dict[str, float]] = {}
        for c, faults in enumerate(rp.channels, start=1):
            times = faults.faults_until(now)
            down = sum(min(f + faults.repair_s, now) - f for f in times)
            per[str(c)] = {"busy_days": 0.0, "down_days": down / _SECONDS_PER_DAY,
                           "faults": float(len(times)), "tests": 0.0}
        for o in rp.outcomes.values():
            if o.channel is None or o.start_s is None or o.end_s is None:
                continue
            entry = per[str(o.channel)]
            entry["busy_days"] += (min(o.end_s, now) - o.start_s) / _SECONDS_PER_DAY
            entry["tests"] += 1.0
        return {
            "sim_day": now / _SECONDS_PER_DAY,
            "channels": per,
            "busy_channel_days": sum(e["busy_days"] for e in per.values()),
            "down_channel_days": sum(e["down_days"] for e in per.values()),
            "faults": int(sum(e["faults"] for e in per.values())),
        }
