from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pytest

import optloop.evaluators as evaluators_pkg
from optloop.evaluators import (
    TERMINAL_STATES,
    EvaluationResult,
    Evaluator,
    JobState,
    JobStatus,
    ProtocolError,
    check_json_serialisable,
    evaluate,
)
from optloop.evaluators._toy import ToyEvaluator
from optloop.exceptions import EvaluationError, OptloopError

DESIGN: dict[str, Any] = {"alloy": {"Si": 0.7, "Ni": 0.3}, "thickness_um": 2.0}


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def score(design: Mapping[str, Any]) -> dict[str, float]:
    return {"cycle_life": 250.0, "areal_capacity_mAh_cm2": 10.0 * design["thickness_um"]}


def run(evaluator: Any, time: FakeTime | None = None, **kwargs: Any) -> EvaluationResult:
    time = time or FakeTime()
    return evaluate(evaluator, DESIGN, trial_id="t1", clock=time.clock, sleep=time.sleep, **kwargs)


class Broken:
    """Wraps a ToyEvaluator and raises from one method."""

    name = "broken"

    def __init__(self, method: str) -> None:
        self._inner = ToyEvaluator(score)
        self._method = method
        self.cancelled: list[str] = []

    def _maybe_raise(self, method: str) -> None:
        if method == self._method:
            raise RuntimeError(f"{method} exploded")

    def capabilities(self) -> dict[str, Any]:
        return self._inner.capabilities()

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        self._maybe_raise("submit")
        return self._inner.submit(design, trial_id=trial_id, fidelity=fidelity)

    def status(self, job_id: str) -> JobStatus:
        self._maybe_raise("status")
        return self._inner.status(job_id)

    def fetch(self, job_id: str) -> EvaluationResult:
        self._maybe_raise("fetch")
        return self._inner.fetch(job_id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)
        self._maybe_raise("cancel")


# --- the sync helper -----------------------------------------------------------------------


def test_toy_is_an_evaluator() -> None:
    assert isinstance(ToyEvaluator(score), Evaluator)
    assert not isinstance(object(), Evaluator)


def test_evaluate_succeeds() -> None:
    time = FakeTime()
    result = run(ToyEvaluator(score, polls_to_finish=3), time, poll_interval_s=2.0)
    assert result.state is JobState.SUCCEEDED
    assert result.metrics == {"cycle_life": 250.0, "areal_capacity_mAh_cm2": 20.0}
    assert result.partial is False
    assert time.sleeps == [2.0, 2.0]  # polled three times, slept between


def test_evaluate_failed_evaluation_is_data() -> None:
    def bad_score(design: Mapping[str, Any]) -> dict[str, float]:
        raise ArithmeticError("solver diverged at cycle 12")

    result = run(ToyEvaluator(bad_score))
    assert result.state is JobState.FAILED
    assert result.reason is not None and "solver diverged at cycle 12" in result.reason
    assert result.metrics == {}


@pytest.mark.parametrize("method", ["submit", "status", "fetch"])
def test_evaluate_turns_plugin_exceptions_into_failed(method: str) -> None:
    evaluator = Broken(method)
    result = run(evaluator)
    assert result.state is JobState.FAILED
    assert result.reason == f"{method} raised RuntimeError: {method} exploded"
    assert result.metadata["evaluator"] == "broken"
    assert result.metadata["trial_id"] == "t1"
    assert (result.metadata["job_id"] is None) == (method == "submit")


def test_evaluate_times_out_and_cancels() -> None:
    toy = ToyEvaluator(score, polls_to_finish=1_000)
    time = FakeTime()
    result = run(toy, time, poll_interval_s=2.0, timeout_s=5.0)
    assert result.state is JobState.FAILED
    assert result.reason == "timeout after 5 s"
    assert time.now == pytest.approx(5.0)  # last sleep shortened to the deadline
    job_id = result.metadata["job_id"]
    assert toy.status(job_id).state is JobState.CANCELLED


def test_timeout_survives_a_cancel_that_raises() -> None:
    class NeverDone(Broken):
        def status(self, job_id: str) -> JobStatus:
            return JobStatus(JobState.RUNNING, cycles_done=3)

    evaluator = NeverDone("cancel")
    result = run(evaluator, timeout_s=1.0)
    assert result.reason == "timeout after 1 s"
    assert evaluator.cancelled == [result.metadata["job_id"]]


def test_evaluate_rejects_partial_result_after_terminal_status() -> None:
    class Liar(Broken):
        def fetch(self, job_id: str) -> EvaluationResult:
            return EvaluationResult(JobState.RUNNING, partial=True)

    result = run(Liar("none"))
    assert result.state is JobState.FAILED
    assert result.reason == "fetch returned state 'running' after status 'succeeded'"


def test_evaluate_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="poll_interval_s=0"):
        run(ToyEvaluator(score), poll_interval_s=0)
    with pytest.raises(ProtocolError, match=r"design\['x'\]"):
        evaluate(ToyEvaluator(score), {"x": object()}, trial_id="t1")


# --- the toy's protocol guarantees -----------------------------------------------------------


def test_submit_is_idempotent_per_trial() -> None:
    toy = ToyEvaluator(score)
    job = toy.submit(DESIGN, trial_id="t1")
    assert toy.submit(dict(DESIGN), trial_id="t1") == job
    assert toy.submit(DESIGN, trial_id="t2") != job
    with pytest.raises(EvaluationError, match="different design"):
        toy.submit({**DESIGN, "thickness_um": 3.0}, trial_id="t1")
    with pytest.raises(EvaluationError, match="unknown job id 'nope'"):
        toy.status("nope")


def test_fetch_partial_then_stable_and_cancel_after_finish_is_noop() -> None:
    toy = ToyEvaluator(score, polls_to_finish=2)
    job = toy.submit(DESIGN, trial_id="t1")
    assert toy.status(job).state is JobState.RUNNING
    partial = toy.fetch(job)
    assert partial.partial is True and partial.state is JobState.RUNNING
    assert toy.status(job).state is JobState.SUCCEEDED
    final = toy.fetch(job)
    toy.cancel(job)
    assert toy.status(job).state is JobState.SUCCEEDED
    assert toy.fetch(job) == final


# --- states, statuses, results ---------------------------------------------------------------


def test_terminal_states() -> None:
    assert {s for s in JobState if s.is_terminal} == TERMINAL_STATES
    assert TERMINAL_STATES == {"succeeded", "failed", "lost", "cancelled"}
    assert not JobState.QUEUED.is_terminal and not JobState.RUNNING.is_terminal


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.LOST])
def test_failed_and_lost_need_a_reason(state: JobState) -> None:
    with pytest.raises(ProtocolError, match="needs a reason"):
        JobStatus(state)
    with pytest.raises(ProtocolError, match="needs a reason"):
        EvaluationResult(state, reason="  ")
    assert JobStatus(state, reason="channel 4 dead").reason == "channel 4 dead"


def test_result_rules() -> None:
    with pytest.raises(ProtocolError, match="must have partial=True"):
        EvaluationResult(JobState.RUNNING)
    with pytest.raises(ProtocolError, match="cannot be partial"):
        EvaluationResult(JobState.SUCCEEDED, partial=True)
    with pytest.raises(ProtocolError, match=r"metrics\['cycle_life'\] = nan"):
        EvaluationResult(JobState.SUCCEEDED, metrics={"cycle_life": math.nan})
    with pytest.raises(ProtocolError, match="not in metrics"):
        EvaluationResult(JobState.SUCCEEDED, censored={"cycle_life": True})
    with pytest.raises(ProtocolError, match="state='done' is unknown"):
        JobStatus("done")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="progress=1.5"):
        JobStatus(JobState.RUNNING, progress=1.5)


def test_result_round_trip_through_json() -> None:
    result = EvaluationResult(
        JobState.SUCCEEDED,
        metrics={"cycle_life": 412, "discharge_capacity_Ah": 0.0031},
        censored={"cycle_life": True},
        bdf_path="runs/c1/t1.bdf.parquet",
        metadata={"job_id": "pybamm-1", "solver": {"rtol": 1e-6}},
    )
    assert result.metrics["cycle_life"] == 412.0
    back = EvaluationResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert back == result
    with pytest.raises(ProtocolError, match=r"unknown key\(s\) \['extra'\]"):
        EvaluationResult.from_dict({**result.to_dict(), "extra": 1})


def test_result_metadata_must_be_json() -> None:
    with pytest.raises(ProtocolError, match=r"metadata\['started'\]"):
        EvaluationResult(JobState.SUCCEEDED, metadata={"started": object()})


# --- check_json_serialisable ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"cells": {"a", "b"}}, r"metadata\['cells'\] is .* of type set"),
        ({"runs": [1, {"t": math.inf}]}, r"metadata\['runs'\]\[1\]\['t'\] is inf"),
        ({"by_cycle": {1: 0.9}}, r"metadata\['by_cycle'\] has the key 1 of type int"),
    ],
)
def test_json_check_rejects_with_path(value: Any, expected: str) -> None:
    with pytest.raises(ProtocolError, match=expected) as info:
        check_json_serialisable(value, "metadata")
    assert isinstance(info.value, OptloopError)


def test_json_check_accepts_plain_json() -> None:
    check_json_serialisable({"a": [1, 2.5, None, True, "x", (1, 2)], "b": {}}, "metadata")


def test_package_imports_only_base() -> None:
    assert set(evaluators_pkg.__all__) <= set(dir(evaluators_pkg))
    assert "ToyEvaluator" not in evaluators_pkg.__all__
