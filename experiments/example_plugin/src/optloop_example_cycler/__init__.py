"""An example optloop evaluator plugin: a synchronous bench cycler that writes BDF files.

Registered in the entry-point group ``optloop.evaluators`` as ``example_cycler``; use it in a
campaign config as ``evaluator: {name: example_cycler, options: {cycle_cap: 300}}``.
"""

from optloop_example_cycler.cycler import BenchCycler, BenchOptions

__version__ = "0.1.0"

__all__ = ["BenchCycler", "BenchOptions", "__version__"]
