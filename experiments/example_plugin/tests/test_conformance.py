"""The plugin's own tests: optloop's evaluator conformance suite, plus its fade law."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from optloop_example_cycler import BenchCycler

from optloop.evaluators import JobState, evaluate
from optloop.exceptions import EvaluationError
from optloop.testing import EvaluatorConformance, sample_designs


class TestBenchCyclerConformance(EvaluatorConformance):
    requires_bdf = True  # a cycler's objectives come from its files
    failing_design = {"alloy_layer": {"composition": {"Xx": 1.0}}}  # not a design

    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchCycler]:
        ev = BenchCycler({"output_dir": str(tmp_path_factory.mktemp("bdf")), "cycle_cap": 400})
        yield ev
        ev.close()


def test_thinner_alloy_lives_longer_but_stores_less(tmp_path) -> None:
    ev = BenchCycler({"output_dir": str(tmp_path), "cycle_cap": 2000})
    base = sample_designs(1, seed=3)[0]
    results = {}
    for t in (0.2, 1.0):
        d = {**base, "alloy_layer": {**base["alloy_layer"], "thickness_um": t}}
        results[t] = evaluate(ev, d, trial_id=f"t{t}", poll_interval_s=0.01)
        assert results[t].state is JobState.SUCCEEDED
        assert results[t].censored == {"cycle_life": False}
    assert results[0.2].metrics["cycle_life"] > results[1.0].metrics["cycle_life"]
    thin, thick = (results[t].metrics["areal_capacity_mAh_cm2"] for t in (0.2, 1.0))
    assert thin < thick


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"cycles\n.*Extra inputs are not permitted"):
        BenchCycler({"cycles": 3})
    with pytest.raises(ValueError, match=r"cycle_cap\n.*greater than or equal to 1"):
        BenchCycler({"cycle_cap": 0})
    with pytest.raises(EvaluationError, match="fidelity='fast'"):
        BenchCycler().submit(sample_designs(1)[0], trial_id="t", fidelity="fast")
