"""The PyBaMM evaluator: designs simulated by worker processes, one built model each.

The simulations run through an executor (:mod:`optloop.executors`, the campaign's top-level
``executor`` section handed over in the evaluator's context): a local ``spawn`` process pool
by default, or the workers of an existing Dask cluster. Each
worker builds its :class:`CellSimulator` once and keeps it in a module global, keyed by the
options that shape the model (a local worker builds it in the pool initializer, a Dask worker
on its first job), so every job then only solves. A worker **returns** the result with its
BDF time series as arrays; this evaluator writes the BDF file in the campaign's process, so a
worker on another machine never needs the campaign's disk.

Failure semantics:

* A design the model rejects or the solver cannot solve: FAILED with the reason (data).
* A job's wall time is limited twice: cooperatively inside the worker (checked between
  chunks of cycles) and, as a backstop, here: a job running longer than
  ``timeout_s * 1.5 + 60`` s is reported FAILED. With the local pool its worker processes are
  killed (those this evaluator started) and the other running jobs resubmitted to a fresh
  pool. With Dask the job is cancelled (released) and its worker is *not* restarted: a
  restart would also kill the other jobs on that worker, and the worker's own time limit
  ends the solve at its next chunk.
* A worker process that dies mid-evaluation: with Dask the scheduler reruns the job on
  another worker (``distributed.scheduler.allowed-failures``, default 3); if it keeps dying
  (``KilledWorker``), or the local pool breaks, the job is LOST with the reason. LOST is
  infrastructure, not the design: the campaign resubmits the trial under a new key up to
  ``evaluator.max_attempts`` and then abandons it (``Campaign._lost``).
* A Dask scheduler that disappears: :meth:`PybammEvaluator.status` never blocks (it reads
  the future's local state); the client's futures are cancelled at once and their jobs become
  LOST; :meth:`PybammEvaluator.submit` raises :class:`EvaluationError` within
  ``executor.connect_timeout_s`` while the scheduler is unreachable (the campaign records
  the trial FAILED with that reason).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from optloop.config.models import ExecutorConfig
from optloop.data.metrics import METRICS_PROTOCOL_KEY
from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    JobStatus,
    SubmissionLedger,
)
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.pybamm.options import FIDELITIES, PybammOptions
from optloop.exceptions import DesignError, EvaluationError
from optloop.executors import Executor, LocalExecutor, TaskHandle, TaskState, create_executor
from optloop.space.design import Design

__all__ = ["PybammEvaluator"]

_HARD_TIMEOUT_FACTOR = 1.5
_HARD_TIMEOUT_GRACE_S = 60.0

# Options that do not shape the model: a worker's cached simulator serves any value of them.
_RUNTIME_FIELDS = {"output_dir"}
# Simulators kept per (Dask) worker process; a long-lived worker serving several campaigns
# with different options keeps only the most recent few.
_MAX_SIMULATORS = 4

# The worker's simulators, built on first use, keyed by their model-shaping options JSON.
_SIMULATORS: dict[str, Any] = {}


def _default_workers() -> int:
    """Return the local workers when the executor section leaves them open: one per core."""
    return max(1, os.cpu_count() or 1)


def _model_key(options: PybammOptions) -> str:
    return options.model_dump_json(exclude=_RUNTIME_FIELDS)


def _simulator(options_json: str) -> Any:
    """Return this process's simulator for the options, building it once."""
    sim = _SIMULATORS.get(options_json)
    if sim is None:
        # One thread per solve: the parallelism is across worker processes.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        from optloop.evaluators.pybamm.simulate import CellSimulator

        sim = CellSimulator(PybammOptions.model_validate_json(options_json))
        while len(_SIMULATORS) >= _MAX_SIMULATORS:
            _SIMULATORS.pop(next(iter(_SIMULATORS)))
        _SIMULATORS[options_json] = sim
    return sim


def _init_worker(options_json: str) -> None:
    """Local pool initializer: build the model once in this worker process."""
    _simulator(options_json)


def _warm(options_json: str) -> int:
    """Build the model in this worker (if not yet built) and return the worker's pid."""
    _simulator(options_json)
    return os.getpid()


def _worker_run(options_json: str, design: dict[str, Any], fidelity: str) -> dict[str, Any]:
    """Run one design in a worker and return plain data with the BDF arrays.

    It never raises for a design and never touches the campaign's disk.
    """
    sim = _simulator(options_json)
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = sim.run(design, fidelity)
    bdf = None
    if out.ok and out.frame is not None:
        bdf = {str(col): out.frame[col].to_numpy() for col in out.frame.columns}
    return {
        "ok": out.ok,
        "reason": out.reason,
        "metrics": out.metrics,
        "censored": out.censored,
        "bdf_columns": bdf,
        "metadata": {
            "cell_model_inputs": out.cell,
            METRICS_PROTOCOL_KEY: out.protocol.to_metadata() if out.protocol else None,
            "timings_s": out.timings,
            "notes": out.notes,
            "solver_failure": out.solver_failure,
            "cycle_extrapolation": out.extrapolation,
            "worker_pid": os.getpid(),
            "worker_host": os.uname().nodename,
            "model_build_s": sim.build_seconds,
            "worker_s": time.perf_counter() - t0,
            "worker_cpu_s": time.process_time() - cpu0,
        },
    }


@dataclass
class _Job:
    design: dict[str, Any]
    design_json: str
    fidelity: str
    handle: TaskHandle | None = None
    result: EvaluationResult | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class PybammEvaluator:
    """Score designs with a PyBaMM full-cell simulation, cycled to 80 % or a cycle cap.

    Implements the :class:`~optloop.evaluators.base.Evaluator` protocol. Fidelities:
    ``"screen"`` (``options.screen_cycles``, censored unless it reaches end of life) and
    ``"full"`` (to 80 % or ``options.cycle_cap``).

    Args:
        options: :class:`PybammOptions` or the config's ``evaluator.options`` dict.
        context: The campaign's side: BDF files go to ``context.run_dir / "bdf"`` unless
            ``options.output_dir`` names another folder, and the simulations run on
            ``context.executor`` (local workers default to one per core). None: an ad-hoc
            :class:`EvaluatorContext` (``runs/adhoc``, a local pool).
        executor: Run on this executor instead of creating one from ``context.executor``
            (it is then not shut down by :meth:`close`); for tests and embedding evaluators.
    """

    name = "pybamm"
    options_model: ClassVar[type[PybammOptions]] = PybammOptions

    def __init__(
        self,
        options: PybammOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
        executor: Executor | None = None,
    ) -> None:
        if isinstance(options, PybammOptions):
            self.options = options
        else:
            self.options = PybammOptions.from_dict(dict(options or {}))
        self.context = context or EvaluatorContext()
        self.executor_config = ExecutorConfig.model_validate(self.context.executor)
        # Created on the first BDF write, so building an evaluator leaves no folder behind.
        self._bdf_dir = Path(self.options.output_dir or self.context.path("bdf"))
        self._options_json = self.options.model_dump_json()
        self._executor: Executor | None = executor
        self._owns_executor = executor is None
        self._jobs: dict[str, _Job] = {}
        self._ledger = SubmissionLedger(self.name)

    # --- executor -----------------------------------------------------------------------------

    @property
    def executor(self) -> Executor:
        """Return the executor, created (and for Dask, connected) on first use.

        Raises:
            ConfigError: For ``executor.kind: dask`` without an address.
            EvaluationError: If the Dask scheduler does not answer.
        """
        if self._executor is None:
            self._executor = create_executor(
                self.executor_config,
                default_workers=_default_workers(),
                initializer=_init_worker,
                initargs=(self._options_json,),
            )
        return self._executor

    def _dispatch(self, job: _Job) -> None:
        job.handle = self.executor.submit(
            _worker_run, self._options_json, job.design, job.fidelity
        )

    def warm_up(self) -> None:
        """Start the workers and build their models now (otherwise the first job does it)."""
        ex = self.executor
        handles = [ex.submit(_warm, self._options_json) for _ in range(ex.workers)]
        for h in handles:
            h.result()

    def close(self) -> None:
        """Cancel live jobs and release the executor (a Dask cluster itself stays up)."""
        for job in self._jobs.values():
            if job.result is None:
                if job.handle is not None:
                    job.handle.cancel()
                job.result = EvaluationResult.failed(
                    "evaluator closed", state=JobState.CANCELLED, metadata=job.metadata
                )
        if self._executor is not None and self._owns_executor:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> PybammEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- protocol -----------------------------------------------------------------------------

    def _max_concurrency(self) -> int:
        spec = self.executor_config
        if spec.kind == "local" and self._executor is None:
            return spec.workers or _default_workers()  # no need to start the pool for this
        return self.executor.workers

    def capabilities(self) -> dict[str, Any]:
        """Return what this evaluator supports (for Dask this connects to the scheduler)."""
        return {
            "fidelities": list(FIDELITIES),
            "asynchronous": True,
            "max_concurrency": self._max_concurrency(),
            "supports_cancel": True,
            "supports_partial": False,
            # With extrapolation a 2000-cycle life simulates ~100-200 cycles.
            "est_duration_s": 0.08
            * (
                min(self.options.cycle_cap, 200)
                if self.options.extrapolation
                else self.options.cycle_cap
            ),
            "screen_cycles": self.options.screen_cycles,
            "cycle_cap": self.options.cycle_cap,
            "executor": self.executor_config.kind,
            # Reported besides optloop.objectives.METRICS (documented for plugins' checks).
            "extra_metrics": [
                "anode_theoretical_capacity_mAh_g",
                "discharge_energy_Wh",
                "capacity_retention_final",
                "cycles_simulated",
                "cycles_solved",
                "cycles_extrapolated",
                "np_ratio",
                "swollen_stack_thickness_um",
            ],
        }

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Queue a design for a worker and return its job id at once.

        Raises:
            EvaluationError: If the fidelity is unknown, ``trial_id`` was already submitted
                with a different design or fidelity, or the executor cannot take work (a
                Dask scheduler that does not answer within ``connect_timeout_s``).
        """
        if fidelity not in FIDELITIES:
            raise EvaluationError(
                f"{self.name}: fidelity={fidelity!r} unknown; allowed: {list(FIDELITIES)}"
            )
        design_json = self._ledger.design_json(design)
        existing = self._ledger.lookup(trial_id, design_json, fidelity)
        if existing is not None:
            return existing
        job_id = f"{self.name}-{uuid.uuid4().hex[:12]}"
        meta = {
            "job_id": job_id,
            "trial_id": trial_id,
            "fidelity": fidelity,
            "evaluator": self.name,
            "planned_cycles": self.options.cycles_for(fidelity),
            "options": json.loads(self._options_json),
        }
        job = _Job(design=dict(design), design_json=design_json, fidelity=fidelity, metadata=meta)
        try:
            Design.from_dict(dict(design))
        except DesignError as exc:
            job.result = EvaluationResult.failed(
                "rejected before solving: " + str(exc), metadata=meta
            )
        else:
            self._dispatch(job)  # raises before anything is recorded if it cannot
        self._jobs[job_id] = job
        self._ledger.record(trial_id, job_id, design_json, fidelity)
        return job_id

    def _job(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}") from None

    def _update(self, job_id: str, job: _Job) -> TaskState | None:
        """Move a live job forward from its handle; enforce the hard wall-time limit.

        Returns the handle's state while the job is live, None once it has a result.
        """
        if job.result is not None or job.handle is None:
            return None
        handle = job.handle
        state = handle.state
        if state in (TaskState.QUEUED, TaskState.RUNNING):
            started = handle.started_s
            limit = self.options.timeout_s * _HARD_TIMEOUT_FACTOR + _HARD_TIMEOUT_GRACE_S
            if started is not None and time.monotonic() - started > limit:
                self._hard_timeout(job, time.monotonic() - started)
                return None
            return state
        self._finish(job, handle, state)
        return None

    def _hard_timeout(self, job: _Job, elapsed: float) -> None:
        assert job.handle is not None
        ex = self._executor
        if isinstance(ex, LocalExecutor):
            action = "worker killed"
            others = [
                j for j in self._jobs.values()
                if j.result is None and j.handle is not None and j is not job
            ]
            ex.kill_workers()
            for j in others:  # innocent bystanders: run again in the fresh pool
                self._dispatch(j)
        else:
            action = "job cancelled on its Dask worker"
            job.handle.cancel()
        job.result = EvaluationResult.failed(
            f"timeout: no result after {elapsed:.0f} s (limit {self.options.timeout_s:g} s); "
            + action,
            metadata=job.metadata,
        )
        job.handle = None

    def _finish(self, job: _Job, handle: TaskHandle, state: TaskState) -> None:
        meta = dict(job.metadata)
        job.handle = None  # let the executor forget the result (Dask keeps it until released)
        if state is TaskState.CANCELLED:
            job.result = EvaluationResult.failed(
                "cancelled", state=JobState.CANCELLED, metadata=meta
            )
            return
        if state is TaskState.LOST:
            job.result = EvaluationResult.failed(
                f"{handle.reason or 'lost by the executor'} (executor "
                f"{self.executor_config.kind}; infrastructure, not the design)",
                state=JobState.LOST,
                metadata=meta,
            )
            return
        exc = handle.exception(timeout=0)
        if state is TaskState.ERROR or exc is not None:
            job.result = EvaluationResult.failed(
                f"worker raised {type(exc).__name__}: {exc}", metadata=meta
            )
            return
        try:
            data = handle.result(timeout=0)
        except Exception as exc:  # noqa: BLE001 - e.g. the worker holding it died: infrastructure
            job.result = EvaluationResult.failed(
                f"could not fetch the result from its worker: {type(exc).__name__}: {exc}",
                state=JobState.LOST,
                metadata=meta,
            )
            return
        meta.update(_json_safe(data["metadata"]))
        if not data["ok"]:
            job.result = EvaluationResult.failed(str(data["reason"]), metadata=meta)
            return
        try:
            bdf_path = self._write_bdf(
                meta["job_id"], job.fidelity, data["bdf_columns"], meta.get(METRICS_PROTOCOL_KEY)
            )
        except Exception as exc:  # noqa: BLE001 - a write failure is a failed evaluation
            job.result = EvaluationResult.failed(
                f"could not write BDF: {type(exc).__name__}: {exc}", metadata=meta
            )
            return
        job.result = EvaluationResult(
            JobState.SUCCEEDED,
            metrics=data["metrics"],
            censored=data["censored"],
            bdf_path=bdf_path,
            metadata=meta,
        )

    def _write_bdf(
        self,
        job_id: str,
        fidelity: str,
        columns: Mapping[str, Any] | None,
        protocol: Mapping[str, Any] | None = None,
    ) -> str:
        """Write a worker's BDF arrays to ``<output_dir>/<job_id>.bdf.csv`` (this process).

        The metadata record the metrics protocol, so ``optloop data metrics`` on the file
        shows the cycle life and first-cycle efficiency the campaign recorded.
        """
        import pandas as pd

        from optloop.data.bdf import write_bdf

        if not columns:
            raise ValueError("the worker returned no time series")
        self._bdf_dir.mkdir(parents=True, exist_ok=True)
        path = self._bdf_dir / f"{job_id}.bdf.csv"
        meta: dict[str, Any] = {"job_id": job_id, "fidelity": fidelity, "evaluator": self.name}
        if protocol is not None:
            meta[METRICS_PROTOCOL_KEY] = dict(protocol)
        write_bdf(pd.DataFrame(dict(columns)), path, meta)
        return str(path)

    def status(self, job_id: str) -> JobStatus:
        """Return the job's state without blocking."""
        job = self._job(job_id)
        state = self._update(job_id, job)
        if job.result is not None:
            return JobStatus(state=job.result.state, reason=job.result.reason)
        running = state is TaskState.RUNNING
        return JobStatus(state=JobState.RUNNING if running else JobState.QUEUED)

    def fetch(self, job_id: str) -> EvaluationResult:
        """Return the result; an empty partial one while the job is live."""
        job = self._job(job_id)
        self._update(job_id, job)
        if job.result is not None:
            return job.result
        state = self.status(job_id).state
        return EvaluationResult(state, partial=True, metadata=dict(job.metadata))

    def cancel(self, job_id: str) -> None:
        """Cancel a live job: a queued one never runs; a running one's result is discarded."""
        job = self._job(job_id)
        self._update(job_id, job)
        if job.result is not None:
            return
        if job.handle is not None:
            job.handle.cancel()
            job.handle = None
        job.result = EvaluationResult.failed(
            "cancelled", state=JobState.CANCELLED, metadata=job.metadata
        )


def _json_safe(obj: Any) -> Any:
    """Round-trip through JSON, turning NaN/inf into None and numpy scalars into floats."""
    def clean(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        if isinstance(x, bool) or x is None or isinstance(x, str | int):
            return x
        try:
            f = float(x)
        except (TypeError, ValueError):
            return str(x)
        return f if f == f and abs(f) != float("inf") else None

    return clean(obj)
