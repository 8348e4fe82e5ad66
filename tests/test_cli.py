"""The command line, as a user calls it: exit codes, messages, JSON that reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from optloop.cli import cli

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "configs" / "quick.yaml")
DEFAULT = str(ROOT / "configs" / "default.yaml")


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


COMMANDS = [
    [],
    ["validate"],
    ["space"],
    ["space", "describe"],
    ["space", "sample"],
    ["space", "check"],
    ["materials"],
    ["run"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) or "optloop" for c in COMMANDS])
def test_every_command_has_help(runner: CliRunner, cmd: list[str]) -> None:
    result = runner.invoke(cli, [*cmd, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_validate_ok(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", DEFAULT])
    assert result.exit_code == 0, result.output
    assert "valid campaign 'default-anode'" in result.output
    assert "maximize cycle_life" in result.output


def test_validate_reports_every_problem(runner: CliRunner, tmp_path: Path) -> None:
    text = Path(QUICK).read_text().replace("seed: 1", "seed: one\nsede: 2")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = runner.invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "seed" in result.output and "'one'" in result.output
    assert "sede: unknown key" in result.output


def test_describe_lists_parameters_and_rules(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["space", "describe", DEFAULT])
    assert result.exit_code == 0, result.output
    for fragment in [
        "alloy.thickness_um",
        "um",
        "[0.05, 3] (log)",
        "plating_elements",
        "alloy.sputtering.pressure_Pa",
        "alloy.method == sputtering",
    ]:
        assert fragment in result.output


def test_sample_json_reads_back_into_check(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["space", "sample", DEFAULT, "-n", "4", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema"] == "optloop.designs/v1" and len(doc["designs"]) == 4
    first = doc["designs"][0]
    assert set(first) >= {"design", "claims", "derived", "feasible"}
    assert first["derived"]["alloy_specific_capacity_mAh_g"] > 0
    path = tmp_path / "designs.json"
    path.write_text(result.output)
    checked = runner.invoke(cli, ["space", "check", DEFAULT, str(path)])
    assert checked.exit_code == 0, checked.output
    assert checked.output.count("feasible") == 4
    # A single design object works too.
    single = tmp_path / "one.json"
    single.write_text(json.dumps(first["design"]))
    assert runner.invoke(cli, ["space", "check", DEFAULT, str(single)]).exit_code == 0


def test_sample_is_reproducible(runner: CliRunner) -> None:
    a = runner.invoke(cli, ["space", "sample", QUICK, "-n", "3", "--json"]).output
    b = runner.invoke(cli, ["space", "sample", QUICK, "-n", "3", "--json"]).output
    assert a == b


def test_check_infeasible_names_rules(runner: CliRunner, tmp_path: Path) -> None:
    design = {
        "alloy_layer": {
            "composition": {"Si": 1.0},
            "thickness_um": 0.5,
            "structure": "crystalline",
            "method": "plating",
            "conditions": {"bath_temperature_C": 40, "current_density_mA_cm2": 5},
        },
        "carbon_layer": {"thickness_um": 40, "porosity": 0.3},
        "cell": {"positive_electrode": "NMC811", "np_ratio": 1.1},
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(design))
    result = runner.invoke(cli, ["space", "check", DEFAULT, str(path)])
    assert result.exit_code == 1
    assert "INFEASIBLE" in result.output and "[plating_elements]" in result.output


def test_check_malformed_design_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"alloy_layer": {"composition": {"Si": 0.5}}}))
    result = runner.invoke(cli, ["space", "check", DEFAULT, str(path)])
    assert result.exit_code == 2
    assert "alloy_layer.composition" in result.output and "sum to 0.5" in result.output


def test_materials_table_and_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["materials", "Si", "Si0.7Cu0.3", "SnO2", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["formula"] for r in rows][0] == "Si"
    assert rows[0]["specific_capacity_mAh_g"] == pytest.approx(3579, rel=0.01)
    assert rows[2]["irreversible_capacity_mAh_g"] == pytest.approx(711, rel=0.01)
    table = runner.invoke(cli, ["materials", "Sn"]).output
    assert "959" in table


def test_materials_bad_formula(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["materials", "Si", "Xx2"])
    assert result.exit_code == 2
    assert "Xx2" in result.output


def test_run_status_and_resume_with_a_plugin_evaluator(runner: CliRunner, tmp_path: Path) -> None:
    data = yaml.safe_load(Path(QUICK).read_text())
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin", "max_concurrency": 2}
    data["optimiser"].update(budget=5, initial_designs=4, batch_size=1)
    data["store"] = {"url": f"sqlite:///{tmp_path / 'c.db'}"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    result = runner.invoke(cli, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "5/5 done" in result.output and "Pareto set" in result.output
    again = runner.invoke(cli, ["run", str(cfg)])
    assert "resuming" in again.output and "5/5 done" in again.output
    st = json.loads(runner.invoke(cli, ["status", str(cfg), "--json"]).output)
    assert st["counts"]["completed"] == 5 and st["iterations"]


def test_evaluate_prints_metrics_and_writes_bdf_and_plot(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the evaluator keeps its own copy below runs/<name>/
    data = yaml.safe_load(Path(QUICK).read_text())
    data["evaluator"] = {"name": "pybamm", "options": {"screen_cycles": 4}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    sample = runner.invoke(cli, ["space", "sample", str(cfg), "-n", "1", "--json"])
    design = tmp_path / "d.json"
    design.write_text(sample.output)
    out = tmp_path / "out"
    result = runner.invoke(
        cli,
        [
            "evaluate",
            str(cfg),
            "--design",
            str(design),
            "--fidelity",
            "screen",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["status"] == "succeeded" and doc["censored"]["cycle_life"] is True
    assert doc["metrics"]["cycle_life"] == 4 and doc["metrics"]["discharge_capacity_Ah"] > 0
    assert Path(doc["bdf_path"]).is_file() and (out / "capacity_fade.png").is_file()
    assert Path(doc["bdf_path"]).parent == out
