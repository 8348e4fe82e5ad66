"""Campaign reports: the HTML page, its PNG plots and tables, and the analysis behind them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from test_tracking_helpers import finished_campaign, one_torch_thread, score, synthetic_bdf

from optloop.cli.tracking_cmd import report
from optloop.config import CampaignConfig
from optloop.reports import PLOTS, build_report
from optloop.reports.cycling import load_cycling
from optloop.reports.figures import Calibration
from optloop.reports.surrogate import calibration, importance, unit_features
from optloop.space import DesignSpace
from optloop.store import CampaignStore, Trial, TrialStatus

_one_torch_thread = pytest.fixture(autouse=True)(one_torch_thread)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def done() -> tuple[Path, Path, CampaignConfig]:
    """A finished short campaign with BDF files: its folder, config file and config."""
    return finished_campaign()


def test_report_has_every_plot_and_table(done: tuple[Path, Path, CampaignConfig],
                                         tmp_path: Path) -> None:
    _, _, cfg = done
    store = CampaignStore(cfg.store.url or "", cfg.name)
    rep = build_report(store, cfg, tmp_path / "r")
    trials = store.trials()
    store.close()
    assert set(rep.plots) == set(PLOTS)
    for p in rep.plots.values():
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 5_000
    page = rep.html.read_text()
    # Self-contained: every plot embedded, and linked as the file beside it.
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(PLOTS)
    for name in PLOTS:
        assert f'href="plots/{name}.png"' in page
    for heading in ("Pareto front", "Pareto designs", "Hypervolume against evaluations",
                    "Capacity fade of the best designs", "Which inputs matter",
                    "Predicted against observed", "All trials"):
        assert f">{heading}</h2>" in page
    # The Pareto designs with compositions and layers.
    front = (tmp_path / "r" / "pareto_designs.csv").read_text()
    assert "composition" in front and "carbon layer" in front and "Si" in front
    table = (tmp_path / "r" / "trials.csv").read_text().splitlines()
    assert len(table) == len(trials) + 1
    assert "cycle_life predicted mean" in table[0]
    assert "no cycling data" not in page  # the best designs have BDF files


def test_importance_finds_the_inputs_that_drive_the_toy_physics(
    done: tuple[Path, Path, CampaignConfig]
) -> None:
    _, _, cfg = done
    # 24 designs spread over the space (6 campaign trials are too few to rank 20 inputs).
    space = DesignSpace.from_campaign(cfg)
    trials = []
    for i, d in enumerate(space.sample(24, 5)):
        if d.alloy_layer.thickness_um > 0.9:  # the toy film delaminates: no outcomes
            continue
        trials.append(Trial(id=i + 1, design=d, status=TrialStatus.COMPLETED, origin="sobol",
                            iteration=0, batch_index=i, outcomes=score(d.to_dict())))
    assert len(trials) >= 12
    imp = importance(trials, cfg)
    assert set(imp) == {o.name for o in cfg.objectives}
    for shares in imp.values():
        assert sum(v for _, v in shares) == pytest.approx(1.0)
        assert all(v >= 0 for _, v in shares)
    # cycle_life depends on the thickness (and structure) only.
    ranked = [k for k, _ in sorted(imp["cycle_life"], key=lambda kv: -kv[1])]
    assert "alloy.thickness_um" in ranked[:2], ranked


def test_unit_features_scale_to_the_cube(done: tuple[Path, Path, CampaignConfig]) -> None:
    _, _, cfg = done
    space = DesignSpace.from_campaign(cfg)
    X, kept, groups = unit_features(space, space.sample(20, 3))
    assert X.shape == (20, sum(len(v) for v in groups.values())) and kept == list(range(20))
    assert X.min() >= -1e-9 and X.max() <= 1 + 1e-9
    assert "alloy.thickness_um" in groups


def test_calibration_pairs_predictions_with_outcomes(
    done: tuple[Path, Path, CampaignConfig]
) -> None:
    _, _, cfg = done
    store = CampaignStore(cfg.store.url or "", cfg.name)
    trials = store.trials()
    store.close()
    cals = {c.metric: c for c in calibration(trials, cfg)}
    predicted = [t for t in trials if t.status is TrialStatus.COMPLETED and t.predictions]
    assert predicted, "the BO trials carry predictions"
    assert len(cals["cycle_life"].trial_ids) == len(predicted)
    c = Calibration("x", [1, 2, 3, 4], np.array([0.0, 0, 0, 0]), np.array([1.0, 1, 1, 1]),
                    np.array([0.5, -1.5, 2.5, 9.0]), np.array([False, False, False, True]))
    assert c.coverage(1.0) == pytest.approx(1 / 3)
    assert c.coverage(2.0) == pytest.approx(2 / 3)
    assert c.rmse() == pytest.approx(np.sqrt((0.25 + 2.25 + 6.25) / 3))


def test_cycling_data_from_a_bdf_file(tmp_path: Path) -> None:
    path = synthetic_bdf(tmp_path / "cell.bdf.csv", capacity_Ah=0.05, fade_per_cycle=0.021,
                         cycles=20)
    data = load_cycling(path)
    assert data.metrics.cycles_completed == 20
    assert data.metrics.cycle_life == 11 and not data.metrics.cycle_life_censored
    assert list(data.cycles_table().columns)[:2] == ["cycle", "cycle_count"]


def test_cli_report_writes_and_logs_to_the_parent_run(
    done: tuple[Path, Path, CampaignConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, path, cfg = done
    for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    out = CliRunner().invoke(report, [str(path), "--out", str(tmp_path / "cli")],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert (tmp_path / "cli" / "report.html").is_file()
    assert "logged to MLflow run" in out.stdout
    client = MlflowClient(cfg.tracking.uri)
    exp = client.get_experiment_by_name(cfg.name)
    assert exp is not None
    parent = client.search_runs([exp.experiment_id], "tags.`optloop.kind` = 'campaign'")[0]
    files = {a.path for a in client.list_artifacts(parent.info.run_id, "report/plots")}
    assert files == {f"report/plots/{name}.png" for name in PLOTS}
