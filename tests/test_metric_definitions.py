"""One definition of cycle life, first-cycle efficiency, formation and the metrics protocol.

The campaign's numbers and ``optloop data metrics`` on the file the campaign wrote agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pybamm_designs import SI, alloy, design
from test_data_cli import cycling

from optloop.cli import cli
from optloop.data import (
    MetricsError,
    MetricsProtocol,
    compute_metrics,
    end_of_life_cycle,
    file_protocol,
    read_bdf,
    write_bdf,
)
from optloop.data.metrics import METRICS_PROTOCOL_KEY
from optloop.evaluators.base import JobState, evaluate
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.measured import measured_metrics
from optloop.evaluators.pybamm import PybammEvaluator, PybammOptions

# Two slow formation cycles (1.2 Ah in, 0.9 out: CE 0.75), then cycles at CE 0.98 fading.
Q_IN = [1.2, 1.0] + [1.0] * 6
Q_OUT = [0.9, 0.95] + [0.98, 0.96, 0.9, 0.85, 0.77, 0.7]
RATES = [0.05, 0.05] + [0.5] * 6
DESIGN = design(alloy(SI, 1.0), 40.0)


def _cli_metrics(path: str | Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["data", "metrics", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_end_of_life_is_the_first_cycle_strictly_below_the_threshold() -> None:
    assert end_of_life_cycle([1.0, 0.9, 0.8, 0.79]) == 4  # 0.8 exactly is not end of life
    assert end_of_life_cycle([1.0, 0.9], threshold=0.95) == 2
    assert end_of_life_cycle([1.0, 0.9, 0.85]) is None  # censored
    assert end_of_life_cycle([1.0, 0.9], reference_capacity_Ah=1.2) == 2
    assert end_of_life_cycle([]) is None


def test_first_cycle_efficiency_is_the_cells_first_cycle() -> None:
    frame = cycling(Q_IN, Q_OUT, current_A=RATES)
    plain = compute_metrics(frame)
    formed = compute_metrics(frame, formation_cycles=2)
    assert plain.first_cycle_efficiency == pytest.approx(0.75)
    # Formation excluded: still the cell's first cycle, not cycle 1 as numbered.
    assert formed.first_cycle_efficiency == pytest.approx(0.75)
    assert formed.coulombic_efficiency[0] == pytest.approx(0.98)
    assert formed.cycle_life == 5 and plain.cycle_life == 8
    # Data starting after a formation charge they lack: the protocol gives that charge.
    given = compute_metrics(frame, first_charge_capacity_Ah=1.8)
    assert given.first_cycle_efficiency == pytest.approx(0.9 / 1.8)
    with pytest.raises(MetricsError, match=r"formation_cycles=2, limit: 0"):
        compute_metrics(frame, formation_cycles=2, first_charge_capacity_Ah=1.8)
    with pytest.raises(MetricsError, match=r"first_charge_capacity_Ah=-1.0; limit: a number > 0"):
        compute_metrics(frame, first_charge_capacity_Ah=-1.0)


def test_protocol_round_trips_through_metadata_and_refuses_bad_fields() -> None:
    p = MetricsProtocol(formation_cycles=1, threshold=0.7, planned_cycles=30)
    meta = {METRICS_PROTOCOL_KEY: p.to_metadata()}
    assert MetricsProtocol.from_metadata(json.loads(json.dumps(meta))) == p
    assert file_protocol(meta) == (p, "file metadata")
    assert file_protocol({"cell_configuration": "half"}) == (
        MetricsProtocol(cell="half"), "defaults"
    )
    assert MetricsProtocol.from_metadata({}) is None
    with pytest.raises(MetricsError, match=r"x.bdf.csv.*threshold=1.5; limit: 0 < threshold <= 1"):
        MetricsProtocol.from_metadata(
            {METRICS_PROTOCOL_KEY: {"threshold": 1.5}}, source="x.bdf.csv"
        )
    with pytest.raises(MetricsError, match=r"unknown field\(s\) \['colour'\]"):
        MetricsProtocol.from_metadata({METRICS_PROTOCOL_KEY: {"colour": "red"}})


def test_measured_metrics_record_their_protocol_and_the_cli_reads_it(tmp_path: Path) -> None:
    """A file-exchange style campaign drops one formation cycle; the file says so."""
    frame = cycling(Q_IN, Q_OUT, current_A=RATES)
    m = measured_metrics(DESIGN, frame, electrode_area_cm2=1.5, formation_cycles=1,
                         planned_cycles=10)
    assert m.protocol == MetricsProtocol(formation_cycles=1, planned_cycles=10)
    assert m.info()[METRICS_PROTOCOL_KEY] == m.protocol.to_metadata()
    path = write_bdf(frame, tmp_path / "cell.bdf.csv", {METRICS_PROTOCOL_KEY: m.info()[
        METRICS_PROTOCOL_KEY]})
    shown = _cli_metrics(path)
    assert shown["protocol_source"] == "file metadata"
    assert shown["metrics"]["cycle_life"] == m.metrics["cycle_life"]
    assert shown["metrics"]["first_cycle_efficiency"] == pytest.approx(
        m.metrics["first_cycle_efficiency"], rel=1e-12
    )
    assert shown["metrics"]["formation_cycle_counts"] == [1]
    # An option still overrides one choice of the recorded protocol.
    plain = _cli_metrics(path, "--formation", "0")
    assert plain["protocol_source"] == "file metadata with options"
    assert plain["metrics"]["formation_cycle_counts"] == []


def test_cli_text_names_the_basis_of_the_first_cycle_efficiency(tmp_path: Path) -> None:
    frame = cycling(Q_IN, Q_OUT, current_A=RATES)
    path = write_bdf(frame, tmp_path / "c.bdf.csv", {
        METRICS_PROTOCOL_KEY: MetricsProtocol(first_charge_capacity_Ah=1.8).to_metadata()
    })
    out = CliRunner().invoke(cli, ["data", "metrics", str(path)]).stdout
    assert "metrics protocol: file metadata" in out
    assert "first-cycle efficiency: 0.5 (cycle 1 delivered over the first charge 1.8 Ah" in out
    bad = CliRunner().invoke(cli, ["data", "metrics", str(path), "--threshold", "2"])
    assert bad.exit_code == 2
    assert "threshold=2.0; limit: 0 < threshold <= 1" in bad.output


def test_cli_on_a_pybamm_file_shows_what_the_campaign_recorded(tmp_path: Path) -> None:
    """The evaluator's recorded cycle life and first-cycle efficiency, read back from its file.

    Before one definition, the file showed cycle 1's coulombic efficiency (about 0.998)
    where the campaign recorded delivered over the formation charge (about 0.84).
    """
    opts = PybammOptions(screen_cycles=2, chunk_cycles=2, cycle_cap=2, output_dir=str(tmp_path))
    context = EvaluatorContext(run_dir=tmp_path, executor={"kind": "local", "workers": 1})
    with PybammEvaluator(opts, context=context) as ev:
        result = evaluate(ev, DESIGN, trial_id="t1", fidelity="screen", poll_interval_s=0.2,
                          timeout_s=300)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert result.bdf_path is not None
    _, meta = read_bdf(result.bdf_path)
    assert meta[METRICS_PROTOCOL_KEY]["first_charge_capacity_Ah"] > 0
    shown = _cli_metrics(result.bdf_path)["metrics"]
    assert shown["cycle_life"] == result.metrics["cycle_life"]
    assert shown["cycle_life_censored"] is result.censored["cycle_life"] is True
    assert shown["first_cycle_efficiency"] == pytest.approx(
        result.metrics["first_cycle_efficiency"], rel=1e-12
    )
    assert 0.5 < shown["first_cycle_efficiency"] < 0.95  # not cycle 1's CE (~0.998)
    assert shown["coulombic_efficiency"][0] > 0.99
    assert result.metadata[METRICS_PROTOCOL_KEY] == meta[METRICS_PROTOCOL_KEY]


def test_a_file_without_a_protocol_reads_with_the_campaign_defaults(tmp_path: Path) -> None:
    """Files of the simulated cycler (full cell, cycle 1, 80 %, no formation) match as is."""
    frame = cycling(Q_IN, Q_OUT, current_A=RATES)
    path = write_bdf(frame, tmp_path / "old.bdf.csv", {})
    m = measured_metrics(DESIGN, frame, electrode_area_cm2=1.5)
    shown = _cli_metrics(path)
    assert shown["protocol_source"] == "defaults"
    assert shown["metrics"]["cycle_life"] == m.metrics["cycle_life"]
    assert shown["metrics"]["first_cycle_efficiency"] == pytest.approx(
        m.metrics["first_cycle_efficiency"], rel=1e-12
    )
    assert isinstance(frame, pd.DataFrame) and np.isfinite(m.metrics["cycle_life"])


def test_the_report_reads_a_file_with_its_recorded_protocol(tmp_path: Path) -> None:
    from optloop.reports.cycling import load_cycling

    frame = cycling(Q_IN, Q_OUT, current_A=RATES)
    protocol = MetricsProtocol(formation_cycles=2)
    path = write_bdf(frame, tmp_path / "r.bdf.csv", {METRICS_PROTOCOL_KEY:
                                                     protocol.to_metadata()})
    data = load_cycling(path)
    assert data.metrics == protocol.compute(frame, source=str(path))
    assert data.metrics.formation_cycle_counts == (1, 2)
    assert data.metrics.cycle_life == 5


def test_cli_on_a_simulated_cycler_file_shows_what_the_campaign_recorded(
    tmp_path: Path,
) -> None:
    from test_simulated_cycler import DESIGNS, FakeClock, lab

    clock = FakeClock()
    ev = lab(tmp_path, clock, build_lead_time_h=0.0, pybamm={"cycle_cap": 300})
    jobs = [ev.submit(d, trial_id=f"s{i}") for i, d in enumerate(DESIGNS[:2])]
    clock.days(400)
    for job in jobs:
        result = ev.fetch(job)
        assert result.state is JobState.SUCCEEDED and result.bdf_path is not None
        shown = _cli_metrics(result.bdf_path)["metrics"]
        assert shown["cycle_life"] == result.metrics["cycle_life"]
        assert shown["cycle_life_censored"] is result.censored["cycle_life"]
        assert shown["first_cycle_efficiency"] == result.metrics["first_cycle_efficiency"]
