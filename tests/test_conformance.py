"""The conformance suite run on the built-in evaluators: PyBaMM (small options) and the toy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pybamm_designs import SI, alloy, design
from toy_plugin import ToyPlugin

from optloop.data import build_bdf_frame, compute_metrics
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.pybamm import PybammEvaluator
from optloop.space import Design
from optloop.testing import CORE_METRICS, EvaluatorConformance, sample_designs


class TestPybammConformance(EvaluatorConformance):
    # Its extra metrics are declared in capabilities()["extra_metrics"].
    fidelity = "screen"
    timeout_s = 120.0

    requires_bdf = True
    failing_design = {"cell": {}}

    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PybammEvaluator]:
        out = tmp_path_factory.mktemp("pybamm-bdf")
        options = {"screen_cycles": 3, "cycle_cap": 5, "output_dir": str(out)}
        context = EvaluatorContext(executor={"kind": "local", "workers": 1})
        with PybammEvaluator(options, context=context) as ev:
            yield ev

    @pytest.fixture(scope="class")
    @classmethod
    def designs(cls) -> list[dict[str, Any]]:
        # Thin a-Si on graphite: each simulates 3 cycles in well under a second.
        return [design(alloy(SI, 0.5), carbon_um=40.0), design(alloy(SI, 1.0), carbon_um=40.0)]


class TestToyConformance(EvaluatorConformance):
    failing_design = {"alloy_layer": None}  # the toy's score function raises on it

    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls) -> Iterator[ToyPlugin]:
        yield ToyPlugin({"polls": 3})  # three status calls per job: live jobs stay live a bit


def test_sample_designs_are_feasible_different_and_reproducible() -> None:
    first = sample_designs(3, seed=7)
    assert first == sample_designs(3, seed=7)
    assert first != sample_designs(3, seed=8)
    assert len({repr(d) for d in first}) == 3
    for d in first:
        Design.from_dict(d)  # raises if malformed
    with pytest.raises(ValueError, match="n=0"):
        sample_designs(0)


def test_core_metrics_are_the_scalars_the_core_computes() -> None:
    t = np.arange(8, dtype=float) * 1800.0
    current = np.array([1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    frame = build_bdf_frame(t, np.full(8, 3.7), current, np.repeat([1, 2], 4))
    assert set(compute_metrics(frame).scalar_metrics()) == CORE_METRICS


def _suite_tests() -> set[str]:
    return {n for n in dir(EvaluatorConformance) if n.startswith("test_")}


def test_suite_covers_the_protocol_rules() -> None:
    # Guard against a rename silently dropping a rule from every plugin's suite.
    assert len(_suite_tests()) == 21
    assert Path(__file__).name == "test_conformance.py"


SLOPPY_PLUGIN_TESTS = '''
import itertools
import pytest
from toy_plugin import ToyPlugin
from pydantic import BaseModel, ConfigDict
from optloop.evaluators import EvaluationResult, JobState, JobStatus
from optloop.testing import EvaluatorConformance

class LaxOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")  # rule: unknown option keys are refused
    polls: int = 1

class Sloppy(ToyPlugin):
    """Breaks six rules; the rest of the protocol it inherits intact from the toy."""

    options_model = LaxOptions
    _count = itertools.count()

    def capabilities(self):
        caps = super().capabilities()
        del caps["est_duration_s"]  # rule: every CAPABILITY_KEYS key
        return caps

    def submit(self, design, *, trial_id, fidelity="full"):
        # rule: idempotent per trial_id (and a reused trial_id with another design raises)
        fresh = f"{trial_id}-{next(self._count)}"
        return super().submit(design, trial_id=fresh, fidelity=fidelity)

    def status(self, job_id):
        if job_id.startswith("never-issued"):
            return JobStatus(JobState.QUEUED)  # rule: unknown ids raise EvaluationError
        return super().status(job_id)

    def fetch(self, job_id):
        result = super().fetch(job_id)
        if result.state is JobState.SUCCEEDED:  # rule: terminal fetch is stable
            metrics = {**result.metrics, "bogus_metric": 1.0}  # rule: known metric names
            return EvaluationResult(result.state, metrics=metrics,
                                    metadata={"n": next(self._count)})
        return result

class TestSloppy(EvaluatorConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls):
        yield Sloppy({"polls": 2})
'''

EXPECTED_FAILURES = {
    "test_capabilities_are_json_with_the_documented_keys",
    "test_resubmitting_a_trial_returns_the_same_job",
    "test_same_trial_with_another_design_raises",
    "test_unknown_job_id_raises",
    "test_terminal_fetch_is_stable",
    "test_succeeded_result_has_finite_known_metrics",
    "test_cancel_of_a_terminal_job_changes_nothing",
    "test_options_model_refuses_unknown_keys",
}


@pytest.mark.integration  # a subprocess
def test_suite_catches_a_broken_evaluator(tmp_path: Path) -> None:
    """The suite's tests can fail: an evaluator breaking five rules fails exactly those tests."""
    (tmp_path / "test_sloppy.py").write_text(SLOPPY_PLUGIN_TESTS)
    tests_dir = Path(__file__).parent
    # Keep an outer PYTHONPATH (a checkout that shadows the installed optloop) after tests/.
    path = os.pathsep.join(p for p in (str(tests_dir), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-o", "addopts=", str(tmp_path / "test_sloppy.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    failed = set(re.findall(r"^FAILED \S+::TestSloppy::(\w+)", proc.stdout, re.MULTILINE))
    assert failed == EXPECTED_FAILURES, proc.stdout[-4000:]
    assert f"{len(EXPECTED_FAILURES)} failed, {21 - len(EXPECTED_FAILURES)} passed" in proc.stdout
