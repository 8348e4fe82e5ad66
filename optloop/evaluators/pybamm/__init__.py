"""PyBaMM evaluator: a full-cell simulation of the anode design, cycled until it wears out.

Public API: :class:`PybammEvaluator` (the evaluator protocol, a pool of worker processes),
:class:`PybammOptions` / :class:`CCCVProtocol` (its options), :class:`CellSimulator` (one
built model, used in-process), :func:`cell_model_inputs` / :class:`CellModelInputs` (the
design -> physics mapping) and :mod:`~optloop.evaluators.pybamm.assumptions`.
"""

from optloop.evaluators.pybamm.assumptions import ASSUMPTIONS, Assumption, assumptions_table
from optloop.evaluators.pybamm.evaluator import PybammEvaluator
from optloop.evaluators.pybamm.mapping import CellModelInputs, cell_model_inputs
from optloop.evaluators.pybamm.options import FIDELITIES, CCCVProtocol, PybammOptions
from optloop.evaluators.pybamm.simulate import CellSimulator, SimulationOutcome

__all__ = [
    "ASSUMPTIONS",
    "FIDELITIES",
    "Assumption",
    "CCCVProtocol",
    "CellModelInputs",
    "CellSimulator",
    "PybammEvaluator",
    "PybammOptions",
    "SimulationOutcome",
    "assumptions_table",
    "cell_model_inputs",
]
