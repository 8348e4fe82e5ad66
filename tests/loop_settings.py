"""Optimiser settings shared by the tests that drive whole campaigns (plain module, not a test)."""

from __future__ import annotations

from optloop.optimiser import OptimiserSettings

#: Small candidate pools and few MC samples: those tests check the loop, not the optimiser.
FAST = OptimiserSettings(
    mc_samples=32,
    static_pool=128,
    fresh_pool=64,
    incumbents=4,
    mutations_per_incumbent=16,
    local_search_rounds=1,
    fit_maxiter=50,
    shortlist=64,
)
