"""Typed evaluator options: each plugin's options model, one context, one way to build it.

`optloop validate` checks the evaluator and its options; a campaign refuses a bad evaluator
before it creates any file; `optloop run` and `optloop evaluate` build the same evaluator
from one YAML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from toy_plugin import ToyPlugin

import optloop.cli.evaluate_cmd as evaluate_cmd
from optloop.campaign import Campaign
from optloop.cli import cli
from optloop.config import config_from_dict, load_config
from optloop.evaluators._toy import ToyOptions
from optloop.evaluators.base import EvaluationResult
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.pybamm import PybammEvaluator, PybammOptions
from optloop.evaluators.registry import (
    check_evaluator_config,
    create_evaluator,
    evaluator_for_config,
    options_model_for,
    validate_options,
)
from optloop.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "quick.yaml"


def quick_data(evaluator: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(QUICK.read_text())
    data["evaluator"] = evaluator
    data.update(extra)
    return data


def write(tmp_path: Path, data: dict[str, Any], name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


# --- the registry -----------------------------------------------------------------------------


def test_options_are_validated_into_the_plugins_model() -> None:
    assert options_model_for("pybamm") is PybammOptions
    opts = validate_options("pybamm", {"cycle_cap": 60})
    assert isinstance(opts, PybammOptions) and opts.cycle_cap == 60
    assert validate_options("pybamm", opts) is opts  # an instance passes through
    assert validate_options("pybamm", None) == PybammOptions()


def test_bad_options_name_the_evaluator_field_value_and_limit() -> None:
    with pytest.raises(ConfigError) as info:
        validate_options("pybamm", {"cycle_cap": 20000, "chunk_cycles": 0})
    lines = info.value.messages
    assert len(lines) == 2, lines
    cap = next(m for m in lines if "cycle_cap" in m)
    assert cap.startswith("evaluator.options.cycle_cap: ")
    assert "less than or equal to 10000" in cap and "20000" in cap
    assert "[evaluator 'pybamm']" in cap
    with pytest.raises(ConfigError, match="evaluator.options: a mapping is required"):
        validate_options("toy_plugin:ToyPlugin", "polls=2")  # type: ignore[arg-type]


def test_create_evaluator_hands_over_the_validated_options_and_the_context() -> None:
    context = EvaluatorContext(campaign="c1", run_dir=Path("somewhere"), seed=5)
    ev = create_evaluator("toy_plugin:ToyPlugin", {"polls": 4}, context=context)
    assert isinstance(ev, ToyPlugin)
    assert ev.options == ToyOptions(polls=4) and ev.context is context
    adhoc = create_evaluator("toy_plugin:ToyPlugin")
    assert isinstance(adhoc, ToyPlugin) and adhoc.context == EvaluatorContext()
    with pytest.raises(ConfigError, match=r"evaluator.options.polls: .*got 0"):
        create_evaluator("toy_plugin:ToyPlugin", {"polls": 0})


def test_the_context_of_a_config() -> None:
    cfg = config_from_dict(
        quick_data({"name": "pybamm"}, seed=11, executor={"kind": "local", "workers": 3})
    )
    assert EvaluatorContext.for_config(cfg) == EvaluatorContext(
        campaign="quick",
        run_dir=Path("runs") / "quick",
        seed=11,
        executor={"kind": "local", "address": None, "workers": 3, "connect_timeout_s": 10.0},
    )


def test_config_options_must_be_json(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    text = QUICK.read_text().replace("options: {}", "options: {started: 2024-01-01}")
    path.write_text(text)
    with pytest.raises(ConfigError, match="evaluator.options.started"):
        load_config(path)


# --- the PyBaMM evaluator takes the campaign's side from the context --------------------------


def test_pybamm_runs_on_the_contexts_executor_and_writes_below_its_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    context = EvaluatorContext(
        campaign="c", run_dir=Path("runs/c"), executor={"kind": "local", "workers": 3}
    )
    ev = PybammEvaluator({"cycle_cap": 60}, context=context)
    caps = ev.capabilities()  # the pool is not started for this
    assert caps["max_concurrency"] == 3 and caps["executor"] == "local"
    assert ev._bdf_dir == Path("runs/c/bdf")
    assert not (tmp_path / "runs").exists()  # building an evaluator writes nothing
    own = PybammEvaluator({"output_dir": str(tmp_path / "elsewhere")}, context=context)
    assert own._bdf_dir == tmp_path / "elsewhere"


# --- optloop validate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evaluator", "fragments"),
    [
        (
            {"name": "pybam"},
            ["evaluator.name", "'pybam' is not installed", "did you mean 'pybamm'"],
        ),
        ({"name": "nosuchmod:Cls"}, ["evaluator.name", "cannot import module 'nosuchmod'"]),
        (
            {"name": "pybamm", "options": {"cycle_cap": 20000}},
            ["evaluator.options.cycle_cap", "less than or equal to 10000", "20000", "'pybamm'"],
        ),
        (
            {"name": "pybamm", "options": {"workers": 2}},
            ["evaluator.options.workers: unknown key (value 2)", "top-level 'executor' section"],
        ),
        (
            {"name": "pybamm", "options": {"cycle_caps": 60}},
            ["evaluator.options.cycle_caps: unknown key", "did you mean 'cycle_cap'?"],
        ),
        (
            {"name": "toy_plugin:ToyPlugin", "options": {"polls": 0}},
            ["evaluator.options.polls", "greater than or equal to 1", "got 0"],
        ),
    ],
)
def test_validate_refuses_a_bad_evaluator(
    tmp_path: Path, evaluator: dict[str, Any], fragments: list[str]
) -> None:
    path = write(tmp_path, quick_data(evaluator))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 2, out.output
    assert "valid campaign" not in out.output
    assert f"invalid config {path}" in out.output
    for fragment in fragments:
        assert fragment in out.output, (fragment, out.output)


def test_validate_shows_the_checked_options(tmp_path: Path) -> None:
    path = write(tmp_path, quick_data({"name": "pybamm", "options": {"cycle_cap": 60}}))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 0, out.output
    assert "evaluator pybamm, options valid (cycle_cap=60)" in out.output


def test_a_bad_evaluator_is_refused_before_any_file_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTLOOP_STORE_URL", raising=False)
    data = quick_data({"name": "pybam"})  # default store: runs/quick/campaign.db
    with pytest.raises(ConfigError, match="did you mean 'pybamm'"):
        Campaign(config_from_dict(data))
    path = write(tmp_path, quick_data({"name": "pybamm", "options": {"cycle_cap": 0}}))
    out = CliRunner().invoke(cli, ["run", str(path)])
    assert out.exit_code == 2 and "evaluator.options.cycle_cap" in out.output, out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # no store, no lock
    with pytest.raises(ConfigError, match="evaluator.options.cycle_cap"):
        check_evaluator_config(load_config(path))


# --- one evaluator for run and evaluate -------------------------------------------------------


@pytest.mark.parametrize(
    "evaluator",
    [
        {"name": "pybamm", "options": {"cycle_cap": 40, "screen_cycles": 4}},
        {"name": "toy_plugin:ToyPlugin", "options": {"polls": 2}},
    ],
)
def test_run_and_evaluate_build_the_same_evaluator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluator: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = quick_data(
        evaluator,
        executor={"kind": "local", "workers": 1},
        store={"url": f"sqlite:///{tmp_path / 'c.db'}"},
    )
    path = write(tmp_path, data)
    runner = CliRunner()
    design = tmp_path / "d.json"
    sample = runner.invoke(cli, ["space", "sample", str(path), "-n", "1", "--json"])
    design.write_text(sample.output)
    built: list[Any] = []

    def no_evaluation(ev: Any, *args: Any, **kwargs: Any) -> EvaluationResult:
        built.append(ev)  # what `optloop evaluate` built; nothing is simulated
        return EvaluationResult.failed("not evaluated in this test")

    monkeypatch.setattr(evaluate_cmd, "evaluate_sync", no_evaluation)
    out = runner.invoke(cli, ["evaluate", str(path), "--design", str(design), "--json"])
    assert out.exit_code == 1, out.output
    assert json.loads(out.output)["reason"] == "not evaluated in this test"
    (from_evaluate,) = built
    cfg = load_config(path)
    with Campaign(cfg) as camp:
        from_run: Any = camp.evaluator
        assert type(from_run) is type(from_evaluate)
        assert from_run.options == from_evaluate.options
        assert from_run.context == from_evaluate.context == EvaluatorContext.for_config(cfg)
        assert from_run.capabilities() == from_evaluate.capabilities()
    rebuilt: Any = evaluator_for_config(cfg)
    assert (rebuilt.options, rebuilt.context) == (from_run.options, from_run.context)
