"""The host cell fades like a real one (issue 13, item 3).

Anchors, each with its source and tolerance:

* Calibration: the graphite host of the LG M50 size (:data:`host.HOST_DESIGN`) on the default
  protocol (0.5C CC-CV / 1C, 25 C) follows the LG M50 retention of :data:`host.ANCHOR_RETENTION`:
  NREL BLAST-Lite 1.1.1's LG M50 model (fitted to the measured ageing data of Truong Bui et al.
  2021) evaluated at that protocol, i.e. the fitted model's values, not raw measurements (see
  ``host.ANCHOR_SOURCE`` and ``experiments/results/host_calibration.md``).
* A graphite + Si composite keeps fading after its alloy's capacity is gone: 40 um graphite +
  1 um a-Si (the issue's cell, which was immortal: >= 500 cycles) fades, once the alloy is
  dead, at the rate of the graphite host alone (same graphite, same protocol).
* Retention is consistent with the product of the coulombic efficiencies: once the lithium
  reservoir left by the positive's first-cycle loss is used up, the capacity lost per cycle is
  the charge not returned, so Q_n / Q_m = prod_{k=m+1..n} CE_k (a full cell whose fade is loss
  of lithium; e.g. Smith et al., JES 157 (2010) A196 on high-precision coulometry).
* SEI grows with time (a model property, not an anchor): the host loses about the same capacity
  per hour on two protocols whose cycles last 4.5 h and 3.2 h, so per cycle it fades more on
  the slower one.

Slow (about 5 min on one core in total).
"""

from __future__ import annotations

import numpy as np
import pytest
from pybamm_designs import SI, alloy, design

from optloop.evaluators.pybamm import assumptions as A
from optloop.evaluators.pybamm import host
from optloop.evaluators.pybamm.options import CCCVProtocol

pytestmark = pytest.mark.slow

#: A slower protocol than the default (0.3C charge) for the per-hour property.
SLOW_PROTOCOL = CCCVProtocol(charge_c_rate=0.3, discharge_c_rate=1.0, cv_cutoff_c_rate=0.02)


@pytest.fixture(scope="module")
def host_default() -> host.RetentionCurve:
    # 1000 cycles of the default protocol: the anchor points at 100-1000 cycles.
    last = max(c for c, _ in host.ANCHOR_RETENTION)
    return host.retention_curve(host.HOST_DESIGN, last, protocol=host.ANCHOR_PROTOCOL)


@pytest.fixture(scope="module")
def host_slow() -> host.RetentionCurve:
    return host.retention_curve(host.HOST_DESIGN, 500, protocol=SLOW_PROTOCOL)


def test_host_constants_are_calibrations_citing_the_anchor() -> None:
    for name in ("graphite_sei_solvent_diffusivity", "graphite_lam_rate_per_fraction",
                 "host_sei_factor", "host_lam_factor"):
        a = A.ASSUMPTIONS[name]
        assert a.kind == "calibration"
        assert "BLAST-Lite" in a.source and "Truong Bui" in a.source, name
    assert host.ANCHOR_PROTOCOL == CCCVProtocol()  # the reference is at the default protocol


def test_calibrated_host_reproduces_the_anchor(host_default: host.RetentionCurve) -> None:
    # Tolerance: 3.5 percentage points at each point and 2.0 pp RMS. The two knobs cannot do
    # better: the fit's own error is 1.84 pp RMS, max 3.1 pp (too little fade at 100 cycles,
    # too much at 1000: the simulated cell's lithium reservoir delays its early fade, the
    # reference fades fastest first; experiments/results/host_calibration.md).
    errors = [host_default.retention_at(c) - r for c, r in host.ANCHOR_RETENTION]
    for (cycle, _), err in zip(host.ANCHOR_RETENTION, errors, strict=True):
        assert abs(err) < 0.035, (cycle, err)
    assert float(np.sqrt(np.mean(np.square(errors)))) < 0.020, errors
    # Not just a level: 100 -> 1000 cycles the simulated host loses 11-20 pp (reference 13).
    assert 0.11 < host_default.retention_at(100) - host_default.retention_at(1000) < 0.20


def test_sei_fade_scales_with_hours_not_cycles(
    host_slow: host.RetentionCurve, host_default: host.RetentionCurve
) -> None:
    # Cycles 100-500: fade per hour within 35 % across protocols (LAM, which goes per cycle,
    # is the rest), while per cycle the slower protocol fades more.
    def rates(c: host.RetentionCurve) -> tuple[float, float]:
        drop = c.retention_at(100) - c.retention_at(500)
        return drop / 400.0, drop / float(c.hours[499] - c.hours[99])

    per_cycle_s, per_hour_s = rates(host_slow)
    per_cycle_d, per_hour_d = rates(host_default)
    assert host_slow.hours[0] > 1.3 * host_default.hours[0]  # 0.3C vs 0.5C charge
    assert per_hour_d == pytest.approx(per_hour_s, rel=0.35)
    assert per_cycle_s > per_cycle_d


def test_retention_is_the_product_of_coulombic_efficiencies(
    host_default: host.RetentionCurve,
) -> None:
    ce = host_default.coulombic_efficiency
    q = host_default.capacity_Ah
    # Cycle 1's charge starts from the initial state, not from the end of a 2.5 V discharge
    # (simulated charge 4.947 Ah against 4.989 Ah in cycle 2), so its ratio is no coulombic
    # efficiency: from cycle 2 on every CE is below 1 and above 0.99.
    assert np.all(ce[1:] < 1.0) and np.all(ce[1:] > 0.99)
    # Q_500 / Q_200 against prod CE_201..500, and Q_500 / Q_1 against prod CE_2..500 (the
    # reservoir phase included), each within 0.5 percentage point of retention (simulated:
    # 0.03 and 0.26 pp).
    assert q[499] / q[199] == pytest.approx(float(np.prod(ce[200:500])), abs=0.005)
    assert q[499] / q[0] == pytest.approx(float(np.prod(ce[1:500])), abs=0.005)
    # Not vacuous: over those cycles the cell loses several percent.
    assert q[499] / q[199] < 0.97


def test_composite_keeps_fading_after_its_alloy_is_gone() -> None:
    # The cell: 40 um graphite + 1 um a-Si, default protocol (0.5C CC-CV / 1C). It
    # lived >= 500 cycles with the uncalibrated host (0.6 % per 100 cycles after the alloy).
    composite = host.retention_curve(design(alloy(SI, 1.0), 40.0), 400)
    graphite = host.retention_curve(design(carbon_um=40.0), 400)
    alloy_left = composite.alloy_capacity_Ah / composite.alloy_capacity_Ah[0]
    # Most of the alloy's capacity is gone by cycle 400 ...
    assert alloy_left[399] < 0.6
    # ... and the cell keeps fading like the graphite host: relative fade over cycles
    # 200-400 at least 0.8x the graphite-only cell's over the same cycles (the alloy's residual
    # loss may add to it: at most 3x; simulated 5.4 % against 5.2 %), and it heads for end of
    # life (simulated 0.812 at cycle 400, 80 % at cycle 472; was >= 500 and flat).
    def fade(c: host.RetentionCurve) -> float:
        return 1.0 - c.retention_at(400) / c.retention_at(200)

    assert fade(graphite) > 0.02  # the host itself fades > 1 % per 100 cycles
    assert 0.8 * fade(graphite) < fade(composite) < 3.0 * fade(graphite)
    assert composite.retention_at(400) < 0.85
