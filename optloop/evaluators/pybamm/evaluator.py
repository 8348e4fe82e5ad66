"""The PyBaMM evaluator: designs simulated in a pool of worker processes, one built model each.

Each worker process (``spawn`` context) builds its :class:`CellSimulator` once in the pool
initializer and keeps it in a module global; every job then only solves. A job's wall time is
limited twice: cooperatively inside the worker (checked between chunks of cycles) and, as a
backstop, here: a job running longer than ``timeout_s * 1.5 + 60`` s has its pool's worker
processes killed (those this evaluator started), is reported FAILED, and the other jobs that
were running are resubmitted to a fresh pool.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    JobStatus,
    SubmissionLedger,
)
from optloop.evaluators.pybamm.options import FIDELITIES, PybammOptions
from optloop.exceptions import DesignError, EvaluationError
from optloop.space.design import Design

__all__ = ["PybammEvaluator"]

_HARD_TIMEOUT_FACTOR = 1.5
_HARD_TIMEOUT_GRACE_S = 60.0

# The worker's simulator, built once per process by _init_worker.
_SIMULATOR: Any = None


def _init_worker(options_json: str) -> None:
    """Pool initializer: build the model once in this worker process."""
    global _SIMULATOR
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from optloop.evaluators.pybamm.simulate import CellSimulator

    _SIMULATOR = CellSimulator(PybammOptions.model_validate_json(options_json))


def _worker_run(
    design: dict[str, Any], fidelity: str, job_id: str, bdf_dir: str
) -> dict[str, Any]:
    """Run one design in a worker; return plain data (never raises for a design)."""
    from optloop.data.bdf import write_bdf

    sim = _SIMULATOR
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = sim.run(design, fidelity)
    result: dict[str, Any] = {
        "ok": out.ok,
        "reason": out.reason,
        "metrics": out.metrics,
        "censored": out.censored,
        "bdf_path": None,
        "metadata": {
            "cell_model_inputs": out.cell,
            "timings_s": out.timings,
            "notes": out.notes,
            "worker_pid": os.getpid(),
            "model_build_s": sim.build_seconds,
        },
    }
    if out.ok and out.frame is not None:
        try:
            path = Path(bdf_dir) / f"{job_id}.bdf.csv"
            meta = {"job_id": job_id, "fidelity": fidelity, "evaluator": "pybamm"}
            write_bdf(out.frame, path, meta)
            result["bdf_path"] = str(path)
        except Exception as exc:  # noqa: BLE001 - a write failure is a failed evaluation
            result["ok"] = False
            result["reason"] = f"could not write BDF: {type(exc).__name__}: {exc}"
    result["metadata"]["worker_s"] = time.perf_counter() - t0
    result["metadata"]["worker_cpu_s"] = time.process_time() - cpu0
    return result


@dataclass
class _Job:
    design: dict[str, Any]
    design_json: str
    fidelity: str
    future: Future[dict[str, Any]] | None = None
    started: float | None = None
    result: EvaluationResult | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class PybammEvaluator:
    """Score designs with a PyBaMM full-cell simulation, cycled to 80 % or a cycle cap.

    Implements the :class:`~optloop.evaluators.base.Evaluator` protocol. Fidelities:
    ``"screen"`` (``options.screen_cycles``, censored unless it reaches end of life) and
    ``"full"`` (to 80 % or ``options.cycle_cap``).

    Args:
        options: :class:`PybammOptions` or the config's ``evaluator.options`` dict.
    """

    name = "pybamm"

    def __init__(self, options: PybammOptions | Mapping[str, Any] | None = None) -> None:
        if isinstance(options, PybammOptions):
            self.options = options
        else:
            self.options = PybammOptions.from_dict(dict(options or {}))
        self._bdf_dir = self.options.output_dir or tempfile.mkdtemp(prefix="optloop-pybamm-")
        Path(self._bdf_dir).mkdir(parents=True, exist_ok=True)
        self._executor: ProcessPoolExecutor | None = None
        self._jobs: dict[str, _Job] = {}
        self._ledger = SubmissionLedger(self.name)

    # --- pool ---------------------------------------------------------------------------------

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.options.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.options.model_dump_json(),),
            )
        return self._executor

    def _dispatch(self, job_id: str, job: _Job) -> None:
        job.started = None
        job.future = self._pool().submit(
            _worker_run, job.design, job.fidelity, job_id, self._bdf_dir
        )

    def _kill_pool(self) -> None:
        """Kill this evaluator's worker processes (only those it started) and drop the pool."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = dict(getattr(executor, "_processes", None) or {})
        for proc in processes.values():
            if proc.is_alive():
                proc.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def warm_up(self) -> None:
        """Start the workers and build their models now (otherwise the first job does it)."""
        futures = [self._pool().submit(os.getpid) for _ in range(self.options.workers)]
        for f in futures:
            f.result()

    def close(self) -> None:
        """Shut the worker pool down (live jobs are cancelled)."""
        for job_id, job in self._jobs.items():
            if job.result is None:
                self._set(job_id, job, EvaluationResult.failed(
                    "evaluator closed", state=JobState.CANCELLED, metadata=job.metadata
                ))
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> PybammEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- protocol -----------------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """Return what this evaluator supports."""
        return {
            "fidelities": list(FIDELITIES),
            "asynchronous": True,
            "max_concurrency": self.options.workers,
            "supports_cancel": True,
            "supports_partial": False,
            "est_duration_s": 0.08 * self.options.cycle_cap,
            "screen_cycles": self.options.screen_cycles,
            "cycle_cap": self.options.cycle_cap,
            # Reported besides optloop.objectives.METRICS (documented for plugins' checks).
            "extra_metrics": [
                "anode_theoretical_capacity_mAh_g",
                "discharge_energy_Wh",
                "capacity_retention_final",
                "cycles_simulated",
                "np_ratio",
                "swollen_stack_thickness_um",
            ],
        }

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Queue a design for a worker and return its job id at once.

        Raises:
            EvaluationError: If the fidelity is unknown, or ``trial_id`` was already submitted
                with a different design or fidelity.
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
            "options": json.loads(self.options.model_dump_json()),
        }
        job = _Job(design=dict(design), design_json=design_json, fidelity=fidelity, metadata=meta)
        self._jobs[job_id] = job
        self._ledger.record(trial_id, job_id, design_json, fidelity)
        try:
            Design.from_dict(dict(design))
        except DesignError as exc:
            self._set(job_id, job, EvaluationResult.failed(
                "rejected before solving: " + str(exc), metadata=meta
            ))
            return job_id
        self._dispatch(job_id, job)
        return job_id

    def _job(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}") from None

    def _set(self, job_id: str, job: _Job, result: EvaluationResult) -> None:
        job.result = result

    def _update(self, job_id: str, job: _Job) -> None:
        """Move a live job forward from its future; enforce the hard wall-time limit."""
        if job.result is not None or job.future is None:
            return
        fut = job.future
        if fut.done():
            self._finish(job_id, job, fut)
            return
        if fut.running():
            now = time.monotonic()
            if job.started is None:
                job.started = now
            limit = self.options.timeout_s * _HARD_TIMEOUT_FACTOR + _HARD_TIMEOUT_GRACE_S
            if now - job.started > limit:
                self._hard_timeout(job_id, job, now - job.started)

    def _hard_timeout(self, job_id: str, job: _Job, elapsed: float) -> None:
        self._set(job_id, job, EvaluationResult.failed(
            f"timeout: no result after {elapsed:.0f} s (limit {self.options.timeout_s:g} s); "
            "worker killed",
            metadata=job.metadata,
        ))
        others = [
            (jid, j) for jid, j in self._jobs.items()
            if j.result is None and j.future is not None and j is not job
        ]
        self._kill_pool()
        for jid, j in others:
            self._dispatch(jid, j)

    def _finish(self, job_id: str, job: _Job, fut: Future[dict[str, Any]]) -> None:
        meta = dict(job.metadata)
        if fut.cancelled():
            self._set(job_id, job, EvaluationResult.failed(
                "cancelled", state=JobState.CANCELLED, metadata=meta
            ))
            return
        exc = fut.exception()
        if isinstance(exc, BrokenProcessPool):
            self._executor = None
            self._set(job_id, job, EvaluationResult.failed(
                f"worker process died: {exc}", metadata=meta
            ))
            return
        if exc is not None:
            self._set(job_id, job, EvaluationResult.failed(
                f"worker raised {type(exc).__name__}: {exc}", metadata=meta
            ))
            return
        data = fut.result()
        meta.update(_json_safe(data["metadata"]))
        if data["ok"]:
            result = EvaluationResult(
                JobState.SUCCEEDED,
                metrics=data["metrics"],
                censored=data["censored"],
                bdf_path=data["bdf_path"],
                metadata=meta,
            )
        else:
            result = EvaluationResult.failed(str(data["reason"]), metadata=meta)
        self._set(job_id, job, result)

    def status(self, job_id: str) -> JobStatus:
        """Return the job's state without blocking."""
        job = self._job(job_id)
        self._update(job_id, job)
        if job.result is not None:
            return JobStatus(state=job.result.state, reason=job.result.reason)
        running = job.future is not None and job.future.running()
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
        if job.future is not None:
            job.future.cancel()
        self._set(job_id, job, EvaluationResult.failed(
            "cancelled", state=JobState.CANCELLED, metadata=job.metadata
        ))


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
