"""The simulated cycler: a seeded battery lab on top of a cell model, for rehearsals.

Channels, build times, cell-to-cell variation, noise, lost cells and channel faults, so a lab
can rehearse a campaign before spending real cells.

Public API: :class:`SimulatedCycler` (the evaluator), :class:`SimulatedCyclerOptions`,
:class:`CellProfile` / :func:`profile_from_bdf` (the cell model's answer) and
:func:`synthetic_profile` (a fast made-up cell model for tests and demonstrations);
:class:`RealityOptions` / :func:`true_outcome`: an optional hidden truth that differs from the
cell model (per-element bias, another fade law, more spread) for honest sim-to-real
benchmarks (:mod:`~optloop.evaluators.simulated_cycler.reality`).
"""

from optloop.evaluators.simulated_cycler.cell import EXTRAPOLATION_RULE
from optloop.evaluators.simulated_cycler.evaluator import ELECTRODE_AREA_CM2, SimulatedCycler
from optloop.evaluators.simulated_cycler.options import SimulatedCyclerOptions
from optloop.evaluators.simulated_cycler.profile import (
    CellProfile,
    ProfileCycles,
    profile_from_bdf,
    short_lived_profile,
    synthetic_profile,
)
from optloop.evaluators.simulated_cycler.reality import PRESETS, RealityOptions, true_outcome

__all__ = [
    "ELECTRODE_AREA_CM2",
    "PRESETS",
    "EXTRAPOLATION_RULE",
    "CellProfile",
    "ProfileCycles",
    "RealityOptions",
    "SimulatedCycler",
    "SimulatedCyclerOptions",
    "profile_from_bdf",
    "short_lived_profile",
    "synthetic_profile",
    "true_outcome",
]
