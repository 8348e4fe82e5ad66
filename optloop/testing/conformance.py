"""The evaluator conformance suite: the protocol's rules as pytest tests, for any evaluator.

See :mod:`optloop.testing` for how a plugin's test file uses it.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from optloop.data import compute_metrics, read_bdf
from optloop.evaluators.base import (
    CAPABILITY_KEYS,
    EvaluationResult,
    Evaluator,
    JobState,
    JobStatus,
    check_json_serialisable,
)
from optloop.exceptions import EvaluationError
from optloop.objectives import METRICS
from optloop.testing.designs import sample_designs

__all__ = ["CORE_METRICS", "EvaluatorConformance", "SubmittedJob"]

#: Metric names every evaluator may report besides :data:`optloop.objectives.METRICS`: the
#: scalars the core computes from a BDF file
#: (:meth:`optloop.data.metrics.CycleMetrics.scalar_metrics`).
CORE_METRICS: frozenset[str] = frozenset(
    {
        "cycle_life",
        "cycles_completed",
        "capacity_retention_final",
        "reference_capacity_Ah",
        "first_discharge_capacity_Ah",
        "first_capacity_Ah",
        "first_cycle_efficiency",
    }
)

_CAPABILITY_TYPES: dict[str, tuple[type, ...]] = {
    "fidelities": (list,),
    "asynchronous": (bool,),
    "max_concurrency": (int,),
    "supports_cancel": (bool,),
    "supports_partial": (bool,),
    "est_duration_s": (int, float),
}


@dataclass(frozen=True)
class SubmittedJob:
    """A job the suite submitted: its ids, its design and how long ``submit`` took."""

    job_id: str
    trial_id: str
    design: dict[str, Any]
    fidelity: str
    submit_s: float


@dataclass(frozen=True)
class _Finished:
    job: SubmittedJob
    status: JobStatus
    result: EvaluationResult


def _copy(design: Mapping[str, Any]) -> dict[str, Any]:
    """Return an equal design that shares no objects with ``design``."""
    copied: dict[str, Any] = json.loads(json.dumps(design))
    return copied


class EvaluatorConformance:
    """Pytest tests of the evaluator protocol; subclass it as ``Test...`` and give an evaluator.

    Provide a **class-scoped** fixture ``evaluator`` that yields the evaluator and closes it
    afterwards (the suite shares one completed job across its tests). Optionally override the
    ``designs`` fixture (at least two different feasible designs, as JSON dicts), the
    :meth:`advance` hook and the class attributes below.

    Attributes:
        fidelity: Fidelity to submit; ``None`` takes the first of
            ``capabilities()["fidelities"]``.
        timeout_s: Longest wait for a job to reach a terminal state.
        poll_interval_s: Sleep between status polls while waiting.
        submit_limit_s: ``submit`` must return within this time (it must not block).
        status_limit_s: ``status`` must return within this time (it is cheap).
        extra_metrics: Metric names the evaluator documents besides
            :data:`optloop.objectives.METRICS` and :data:`CORE_METRICS`. Names listed in
            ``capabilities()["extra_metrics"]`` are accepted too.
        metrics_kwargs: Keyword arguments of :func:`optloop.data.compute_metrics` that
            reproduce the evaluator's definition of cycle life from its BDF file (e.g.
            ``{"cell": "half"}``, ``{"threshold": 0.7}``); default: full cell, first-cycle
            reference, 80 %.
        requires_bdf: Fail when a SUCCEEDED result has no ``bdf_path`` (set it for cyclers:
            the core computes the objectives from the files).
        failing_design: A design the evaluator must report as FAILED or LOST with a reason
            (e.g. one it rejects); ``None`` checks only the results the other tests see.
        minimal_options: The smallest valid ``evaluator.options`` of the plugin's options
            model; leave ``{}`` (every option has a default) unless the model has required
            fields.
    """

    fidelity: ClassVar[str | None] = None
    timeout_s: ClassVar[float] = 300.0
    poll_interval_s: ClassVar[float] = 0.1
    submit_limit_s: ClassVar[float] = 5.0
    status_limit_s: ClassVar[float] = 1.0
    extra_metrics: ClassVar[frozenset[str]] = frozenset()
    metrics_kwargs: ClassVar[Mapping[str, Any]] = {}
    requires_bdf: ClassVar[bool] = False
    failing_design: ClassVar[Mapping[str, Any] | None] = None
    minimal_options: ClassVar[Mapping[str, Any]] = {}

    # --- what a plugin provides -----------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls) -> Iterator[Evaluator]:
        """Yield the evaluator under test; override with a class-scoped fixture."""
        raise NotImplementedError(
            f"{cls.__name__} must define a class-scoped fixture 'evaluator' that yields "
            "the evaluator under test: @pytest.fixture(scope='class') then @classmethod"
        )
        yield  # pragma: no cover - makes this a generator like the overrides

    @pytest.fixture(scope="class")
    @classmethod
    def designs(cls) -> list[dict[str, Any]]:
        """Return two different feasible designs (JSON dicts) from a small built-in space."""
        return sample_designs(2, seed=0)

    def advance(self, evaluator: Evaluator, job_ids: Sequence[str]) -> None:
        """Let the world move on while the suite waits for jobs (default: nothing).

        Override it when jobs only progress when something else acts, e.g. a stand-in lab
        that answers a file-exchange evaluator's requests.

        Args:
            evaluator: The evaluator under test.
            job_ids: The jobs being waited for.
        """

    # --- helpers --------------------------------------------------------------------------

    def wait_for_terminal(self, evaluator: Evaluator, job_id: str) -> JobStatus:
        """Poll ``status`` (calling :meth:`advance` between polls) until the job is terminal.

        Fails the test when the job is still live after :attr:`timeout_s`.
        """
        start = time.monotonic()
        while True:
            status = evaluator.status(job_id)
            assert isinstance(status, JobStatus), (
                f"status({job_id!r}) returned {type(status).__name__}, not a JobStatus"
            )
            if status.state.is_terminal:
                return status
            waited = time.monotonic() - start
            if waited > self.timeout_s:
                pytest.fail(
                    f"job {job_id!r} is still {status.state.value!r} after {waited:.1f} s; "
                    f"limit: timeout_s={self.timeout_s:g} s"
                )
            self.advance(evaluator, [job_id])
            time.sleep(self.poll_interval_s)

    @staticmethod
    def _submit(
        evaluator: Evaluator, design: Mapping[str, Any], trial_id: str, fidelity: str
    ) -> SubmittedJob:
        t0 = time.monotonic()
        job_id = evaluator.submit(_copy(design), trial_id=trial_id, fidelity=fidelity)
        return SubmittedJob(job_id, trial_id, _copy(design), fidelity, time.monotonic() - t0)

    # --- shared jobs (class-scoped: one completed job serves many tests) --------------------

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_fidelity(cls, evaluator: Evaluator) -> str:
        """Return the fidelity the suite submits."""
        if cls.fidelity is not None:
            return cls.fidelity
        fidelities = evaluator.capabilities().get("fidelities")
        assert isinstance(fidelities, list) and fidelities, (
            f"capabilities()['fidelities'] = {fidelities!r}; limit: a non-empty list of str"
        )
        return str(fidelities[0])

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_trial_prefix(cls) -> str:
        """Return a prefix that makes this run's trial ids unique."""
        return f"conformance-{uuid.uuid4().hex[:8]}"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_job(
        cls,
        evaluator: Evaluator,
        designs: list[dict[str, Any]],
        conformance_fidelity: str,
        conformance_trial_prefix: str,
    ) -> SubmittedJob:
        """Submit the first design; the job the completion tests share."""
        assert len(designs) >= 2, f"the designs fixture gave {len(designs)} design(s); limit: >= 2"
        return cls._submit(
            evaluator, designs[0], f"{conformance_trial_prefix}-main", conformance_fidelity
        )

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_result(
        cls, evaluator: Evaluator, conformance_job: SubmittedJob
    ) -> _Finished:
        """Wait for the shared job and fetch its terminal result."""
        status = cls().wait_for_terminal(evaluator, conformance_job.job_id)
        result = evaluator.fetch(conformance_job.job_id)
        assert isinstance(result, EvaluationResult), (
            f"fetch returned {type(result).__name__}, not an EvaluationResult"
        )
        return _Finished(conformance_job, status, result)

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_live_job(
        cls,
        evaluator: Evaluator,
        designs: list[dict[str, Any]],
        conformance_fidelity: str,
        conformance_trial_prefix: str,
    ) -> SubmittedJob:
        """Submit the second design; the job the live-fetch and cancel tests share."""
        return cls._submit(
            evaluator, designs[1], f"{conformance_trial_prefix}-live", conformance_fidelity
        )

    # --- options model --------------------------------------------------------------------

    @staticmethod
    def _options_model(evaluator: Evaluator) -> type[BaseModel]:
        model = getattr(type(evaluator), "options_model", None)
        assert isinstance(model, type) and issubclass(model, BaseModel), (
            f"{type(evaluator).__name__}.options_model = {model!r}; limit: a pydantic "
            "BaseModel subclass (optloop validates evaluator.options with it)"
        )
        return model

    def test_options_model_is_a_declared_pydantic_model(self, evaluator: Evaluator) -> None:
        """The class declares ``options_model``, a pydantic model, as the registry requires."""
        self._options_model(evaluator)

    def test_options_model_constructs_from_minimal_options(self, evaluator: Evaluator) -> None:
        """``options_model`` validates ``minimal_options`` (``{}``: every option defaults)."""
        model = self._options_model(evaluator)
        try:
            model.model_validate(dict(self.minimal_options))
        except ValidationError as exc:
            raise AssertionError(
                f"{model.__name__} refuses minimal_options={dict(self.minimal_options)!r}: "
                f"{exc}; give every option a default or set minimal_options"
            ) from None

    def test_options_model_refuses_unknown_keys(self, evaluator: Evaluator) -> None:
        """A misspelt option is an error, not silently ignored (``extra="forbid"``)."""
        model = self._options_model(evaluator)
        bogus = {**self.minimal_options, "no_such_option_xyz": 1}
        with pytest.raises(ValidationError, match="no_such_option_xyz"):
            model.model_validate(bogus)

    def test_options_model_survives_a_json_round_trip(self, evaluator: Evaluator) -> None:
        """The options, as recorded with a campaign, are JSON and read back equal."""
        model = self._options_model(evaluator)
        options = model.model_validate(dict(self.minimal_options))
        text = options.model_dump_json()
        check_json_serialisable(json.loads(text), "options")
        assert model.model_validate_json(text) == options
        assert model.model_validate(json.loads(text)) == options

    # --- identity and capabilities --------------------------------------------------------

    def test_name_is_a_nonempty_str(self, evaluator: Evaluator) -> None:
        """The evaluator's ``name`` is recorded with every result."""
        name = getattr(evaluator, "name", None)
        assert isinstance(name, str) and name.strip(), f"name = {name!r}; limit: a non-empty str"

    def test_capabilities_are_json_with_the_documented_keys(self, evaluator: Evaluator) -> None:
        """``capabilities()`` is JSON with every key of ``CAPABILITY_KEYS``, of the right type."""
        caps = evaluator.capabilities()
        assert isinstance(caps, dict), f"capabilities() is a {type(caps).__name__}, not a dict"
        check_json_serialisable(caps, "capabilities()")
        assert json.loads(json.dumps(caps)) == caps
        missing = sorted(set(CAPABILITY_KEYS) - set(caps))
        assert not missing, f"capabilities() lacks {missing}; has {sorted(caps)}"
        for key, types in _CAPABILITY_TYPES.items():
            value = caps[key]
            wrong_bool = isinstance(value, bool) and bool not in types
            assert isinstance(value, types) and not wrong_bool, (
                f"capabilities()[{key!r}] = {value!r}; limit: {CAPABILITY_KEYS[key]}"
            )
        fidelities = caps["fidelities"]
        assert fidelities and all(isinstance(f, str) and f for f in fidelities), (
            f"capabilities()['fidelities'] = {fidelities!r}; limit: a non-empty list of str"
        )
        if self.fidelity is not None:
            assert self.fidelity in fidelities, (
                f"fidelity = {self.fidelity!r} is not in capabilities()['fidelities'] "
                f"{fidelities}"
            )
        assert caps["max_concurrency"] >= 1, (
            f"capabilities()['max_concurrency'] = {caps['max_concurrency']!r}; limit: >= 1"
        )
        est = float(caps["est_duration_s"])
        assert math.isfinite(est) and est >= 0, (
            f"capabilities()['est_duration_s'] = {est!r}; limit: finite and >= 0"
        )
        extra = caps.get("extra_metrics", [])
        assert isinstance(extra, list) and all(isinstance(m, str) for m in extra), (
            f"capabilities()['extra_metrics'] = {extra!r}; limit: a list of str"
        )

    # --- submit ---------------------------------------------------------------------------

    def test_submit_returns_a_job_id_quickly(self, conformance_job: SubmittedJob) -> None:
        """``submit`` returns a non-empty str at once; it does not wait for the evaluation."""
        assert isinstance(conformance_job.job_id, str) and conformance_job.job_id, (
            f"submit returned {conformance_job.job_id!r}; limit: a non-empty str"
        )
        assert conformance_job.submit_s < self.submit_limit_s, (
            f"submit took {conformance_job.submit_s:.2f} s; limit: {self.submit_limit_s:g} s "
            "(it must not block until the evaluation ends)"
        )

    def test_resubmitting_a_trial_returns_the_same_job(
        self, evaluator: Evaluator, conformance_job: SubmittedJob
    ) -> None:
        """The same ``trial_id`` and design give the same job id, so resubmitting is safe."""
        again = evaluator.submit(
            _copy(conformance_job.design),
            trial_id=conformance_job.trial_id,
            fidelity=conformance_job.fidelity,
        )
        assert again == conformance_job.job_id, (
            f"trial {conformance_job.trial_id!r} resubmitted: job {again!r}; expected the "
            f"first job {conformance_job.job_id!r}"
        )

    def test_same_trial_with_another_design_raises(
        self,
        evaluator: Evaluator,
        designs: list[dict[str, Any]],
        conformance_job: SubmittedJob,
    ) -> None:
        """Reusing a ``trial_id`` for another design is a caller bug: ``EvaluationError``."""
        other = designs[1]
        assert json.dumps(other, sort_keys=True) != json.dumps(
            conformance_job.design, sort_keys=True
        ), "the designs fixture must give two different designs"
        with pytest.raises(EvaluationError):
            evaluator.submit(
                _copy(other), trial_id=conformance_job.trial_id, fidelity=conformance_job.fidelity
            )

    def test_unknown_job_id_raises(self, evaluator: Evaluator) -> None:
        """``status``, ``fetch`` and ``cancel`` of a job id never issued raise EvaluationError."""
        unknown = f"never-issued-{uuid.uuid4().hex}"
        with pytest.raises(EvaluationError):
            evaluator.status(unknown)
        with pytest.raises(EvaluationError):
            evaluator.fetch(unknown)
        with pytest.raises(EvaluationError):
            evaluator.cancel(unknown)

    def test_status_is_cheap(self, evaluator: Evaluator, conformance_job: SubmittedJob) -> None:
        """``status`` returns a JobStatus within ``status_limit_s``, every time."""
        for _ in range(3):
            t0 = time.monotonic()
            status = evaluator.status(conformance_job.job_id)
            took = time.monotonic() - t0
            assert isinstance(status, JobStatus), (
                f"status returned {type(status).__name__}, not a JobStatus"
            )
            assert took < self.status_limit_s, (
                f"status took {took:.2f} s; limit: {self.status_limit_s:g} s (it must not block)"
            )

    # --- a live job -----------------------------------------------------------------------

    def test_fetch_of_a_live_job_is_partial(
        self, evaluator: Evaluator, conformance_live_job: SubmittedJob
    ) -> None:
        """Fetching a job that is not done gives a partial, non-terminal result."""
        job_id = conformance_live_job.job_id
        before = evaluator.status(job_id)
        result = evaluator.fetch(job_id)
        assert isinstance(result, EvaluationResult), (
            f"fetch returned {type(result).__name__}, not an EvaluationResult"
        )
        check_json_serialisable(result.metadata, "metadata of a live job's result")
        if before.state.is_terminal:
            assert result.state is before.state, (
                f"status said {before.state.value!r}, then fetch said {result.state.value!r}; "
                "a terminal state never changes"
            )
            assert not result.partial, "a terminal job's result cannot be partial"
        elif not result.state.is_terminal:
            assert result.partial, (
                f"fetch of a live job (state {result.state.value!r}) must be partial"
            )

    def test_cancelling_a_live_job(
        self, evaluator: Evaluator, conformance_live_job: SubmittedJob
    ) -> None:
        """Cancel ends a live job as CANCELLED (if it can cancel); the job always ends."""
        job_id = conformance_live_job.job_id
        supports_cancel = evaluator.capabilities()["supports_cancel"]
        before = evaluator.status(job_id)
        evaluator.cancel(job_id)
        final = self.wait_for_terminal(evaluator, job_id)
        if before.state.is_terminal:
            assert final.state is before.state, (
                f"cancel changed a terminal job from {before.state.value!r} to "
                f"{final.state.value!r}"
            )
        elif supports_cancel:
            assert final.state is JobState.CANCELLED, (
                f"cancel of a live job ({before.state.value!r}) ended in {final.state.value!r}; "
                "expected 'cancelled' (capabilities()['supports_cancel'] is True)"
            )
        result = evaluator.fetch(job_id)
        assert result.state is final.state and not result.partial

    # --- the shared completed job ---------------------------------------------------------

    def test_job_reaches_a_terminal_state(self, conformance_result: _Finished) -> None:
        """The job ends within ``timeout_s`` and ``fetch`` agrees with ``status``."""
        assert conformance_result.status.state.is_terminal
        assert conformance_result.result.state is conformance_result.status.state, (
            f"status said {conformance_result.status.state.value!r}, fetch said "
            f"{conformance_result.result.state.value!r}"
        )
        assert not conformance_result.result.partial, "a terminal job's result cannot be partial"

    def test_terminal_fetch_is_stable(
        self, evaluator: Evaluator, conformance_result: _Finished
    ) -> None:
        """Once terminal, every ``fetch`` returns the same result."""
        job_id = conformance_result.job.job_id
        first, second = evaluator.fetch(job_id), evaluator.fetch(job_id)
        assert first == second == conformance_result.result, (
            "fetch of a terminal job changed between calls"
        )

    def test_terminal_status_never_changes(
        self, evaluator: Evaluator, conformance_result: _Finished
    ) -> None:
        """A terminal state never changes, whatever else happens."""
        job_id = conformance_result.job.job_id
        for _ in range(3):
            self.advance(evaluator, [job_id])
            status = evaluator.status(job_id)
            assert status.state is conformance_result.status.state, (
                f"terminal state changed from {conformance_result.status.state.value!r} to "
                f"{status.state.value!r}"
            )
            assert status.reason == conformance_result.status.reason

    def test_succeeded_result_has_finite_known_metrics(
        self, evaluator: Evaluator, conformance_result: _Finished
    ) -> None:
        """A SUCCEEDED result has finite metrics with known names; censored ones among them."""
        result = conformance_result.result
        assert result.state is JobState.SUCCEEDED, (
            f"the first design ended {result.state.value!r} (reason {result.reason!r}); the "
            "designs fixture must give designs the evaluator can score"
        )
        assert result.metrics, "a SUCCEEDED result has no metrics"
        declared = evaluator.capabilities().get("extra_metrics", [])
        allowed = set(METRICS) | CORE_METRICS | set(self.extra_metrics) | set(declared)
        unknown = sorted(set(result.metrics) - allowed)
        assert not unknown, (
            f"metric name(s) {unknown} are neither in optloop.objectives.METRICS nor "
            "documented extras (extra_metrics, capabilities()['extra_metrics'])"
        )
        for name, value in result.metrics.items():
            assert isinstance(value, float) and math.isfinite(value), f"{name} = {value!r}"
        assert set(result.censored) <= set(result.metrics), (
            f"censored {sorted(result.censored)} not among metrics {sorted(result.metrics)}"
        )
        assert all(isinstance(v, bool) for v in result.censored.values())

    def test_bdf_file_gives_the_reported_cycle_life(self, conformance_result: _Finished) -> None:
        """The core recomputes ``cycle_life`` from the BDF file: exactly the result's value."""
        result = conformance_result.result
        if result.bdf_path is None:
            assert not self.requires_bdf, (
                f"the result ({result.state.value!r}) has no bdf_path; requires_bdf is True"
            )
            return
        frame, _ = read_bdf(result.bdf_path)
        core = compute_metrics(frame, source=result.bdf_path, **dict(self.metrics_kwargs))
        assert "cycle_life" in result.metrics, (
            f"the result has a BDF file but no 'cycle_life' metric; metrics: "
            f"{sorted(result.metrics)}"
        )
        assert result.metrics["cycle_life"] == float(core.cycle_life), (
            f"cycle_life: evaluator {result.metrics['cycle_life']!r}, computed from "
            f"{result.bdf_path}: {core.cycle_life} (metrics_kwargs={dict(self.metrics_kwargs)})"
        )
        if "cycle_life" in result.censored:
            assert result.censored["cycle_life"] is core.cycle_life_censored, (
                f"cycle_life censored: evaluator {result.censored['cycle_life']}, computed "
                f"{core.cycle_life_censored}"
            )

    def test_failed_results_carry_a_reason(
        self,
        evaluator: Evaluator,
        conformance_result: _Finished,
        conformance_fidelity: str,
        conformance_trial_prefix: str,
    ) -> None:
        """FAILED and LOST results and statuses carry a non-empty reason."""
        seen = [(conformance_result.status, conformance_result.result)]
        if self.failing_design is not None:
            job = self._submit(
                evaluator,
                self.failing_design,
                f"{conformance_trial_prefix}-failing",
                conformance_fidelity,
            )
            status = self.wait_for_terminal(evaluator, job.job_id)
            assert status.state in (JobState.FAILED, JobState.LOST), (
                f"failing_design ended {status.state.value!r}; expected 'failed' or 'lost'"
            )
            seen.append((status, evaluator.fetch(job.job_id)))
        for status, result in seen:
            for what in (status, result):
                if what.state in (JobState.FAILED, JobState.LOST):
                    assert isinstance(what.reason, str) and what.reason.strip(), (
                        f"{type(what).__name__} in state {what.state.value!r} has reason "
                        f"{what.reason!r}"
                    )

    def test_cancel_of_a_terminal_job_changes_nothing(
        self, evaluator: Evaluator, conformance_result: _Finished
    ) -> None:
        """Cancelling a finished job neither raises nor changes its result."""
        job_id = conformance_result.job.job_id
        evaluator.cancel(job_id)
        assert evaluator.status(job_id).state is conformance_result.status.state
        assert evaluator.fetch(job_id) == conformance_result.result

    def test_metadata_is_json(self, conformance_result: _Finished) -> None:
        """The result, metadata included, survives a JSON round trip unchanged."""
        result = conformance_result.result
        check_json_serialisable(result.metadata, "metadata")
        text = json.dumps(result.to_dict())
        assert EvaluationResult.from_dict(json.loads(text)) == result
