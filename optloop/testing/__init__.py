"""Tests a third-party evaluator runs against itself: the evaluator conformance suite.

:class:`EvaluatorConformance` holds the protocol's rules (see :mod:`optloop.evaluators.base`)
as pytest tests. A plugin's test file subclasses it and gives a **class-scoped** ``evaluator``
fixture (a classmethod, as pytest 9 wants for class-scoped fixtures of a class); if needed
also designs, a fidelity, an :meth:`~EvaluatorConformance.advance` hook and documented extra
metrics. The tests of a class share one completed job, so the suite costs about two
evaluations, one of them cancelled. Example
(``tests/test_conformance.py`` of a plugin)::

    import pytest
    from optloop.testing import EvaluatorConformance
    from my_lab_plugin import NewareEvaluator

    class TestNewareConformance(EvaluatorConformance):
        fidelity = "fast"                   # default: first of capabilities()["fidelities"]
        requires_bdf = True                 # results must come with a BDF file
        @pytest.fixture(scope="class")      # class scope: the tests share one finished job
        @classmethod
        def evaluator(cls, tmp_path_factory):
            ev = NewareEvaluator({"output_dir": str(tmp_path_factory.mktemp("bdf"))})
            yield ev
            ev.close()

The suite also checks the plugin's options model (``options_model``: declared, a pydantic
model, built from ``minimal_options`` (default ``{}``), refusing unknown keys, surviving a JSON
round trip); set the class attribute ``minimal_options`` when some option has no default.

Designs default to :func:`sample_designs` ``(2, seed=0)`` from a small built-in space (no
config files needed, so it works with optloop installed from a wheel); override the class-
scoped ``designs`` fixture to give others. Run it with ``pytest`` as any other test file.
"""

from __future__ import annotations

from optloop.testing.conformance import CORE_METRICS, EvaluatorConformance, SubmittedJob
from optloop.testing.designs import SMALL_SPACE, sample_designs

__all__ = [
    "CORE_METRICS",
    "SMALL_SPACE",
    "EvaluatorConformance",
    "SubmittedJob",
    "sample_designs",
]
