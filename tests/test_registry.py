"""Evaluator discovery: built-ins, entry points and module:Class; broken plugins of each kind."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import optloop.evaluators.registry as registry
from optloop import __version__
from optloop.cli import cli
from optloop.evaluators import Evaluator, JobState, evaluate
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.registry import (
    BUILTIN_EVALUATORS,
    ENTRY_POINT_GROUP,
    PluginInfo,
    available_evaluators,
    create_evaluator,
    list_plugins,
)
from optloop.exceptions import EvaluationError

GOOD = '''
from optloop.evaluators._toy import ToyEvaluator

BUILT = []

def score(design):
    return {"cycle_life": 100.0 + design["x"]}

class Good(ToyEvaluator):
    def __init__(self, options, *, context=None):
        BUILT.append((options.model_dump(), context))
        super().__init__(score, polls_to_finish=options.polls, name="good")
'''

#: A class with every protocol method but the plain-mapping constructor of old: no options model.
NO_MODEL = GOOD.replace("ToyEvaluator):", "ToyEvaluator):\n    options_model = None")

MODULES = {
    "plug_good": GOOD,
    "plug_import_error": "import vendor_sdk_that_is_not_installed_xyz\n",
    "plug_runtime_error": "raise RuntimeError('licence server unreachable')\n",
    "plug_no_attr": "class Other:\n    pass\n",
    "plug_not_class": "Cycler = 42\n",
    "plug_not_protocol": textwrap.dedent(
        """
        class HalfDone:
            name = "half"
            def submit(self, design, *, trial_id, fidelity="full"):
                return "j1"
        """
    ),
    "plug_ctor_error": GOOD.replace(
        "        BUILT.append((options.model_dump(), context))",
        "        raise ValueError(f\"option 'port' is required; got {options.model_dump()}\")",
    ),
    "plug_no_model": NO_MODEL,
}

ENTRY_POINTS = {
    "good": "plug_good:Good",
    "import_error": "plug_import_error:Cycler",
    "runtime_error": "plug_runtime_error:Cycler",
    "no_attr": "plug_no_attr:Cycler",
    "not_class": "plug_not_class:Cycler",
    "not_protocol": "plug_not_protocol:HalfDone",
    "ctor_error": "plug_ctor_error:Good",
    "no_model": "plug_no_model:Good",
    "pybamm": "plug_good:Good",  # tries to take a built-in's name
}

#: What each broken plugin's error must say (beyond its name, distribution and version).
REASONS = {
    "import_error": "ModuleNotFoundError: No module named 'vendor_sdk_that_is_not_installed_xyz'",
    "runtime_error": "RuntimeError: licence server unreachable",
    "no_attr": "module 'plug_no_attr' has no attribute 'Cycler'",
    "not_class": "'plug_not_class:Cycler' is of type int, not a class",
    "not_protocol": "missing method(s) ['capabilities', 'status', 'fetch', 'cancel']",
    "no_model": "'plug_no_model:Good' declares no options model: options_model is nothing",
}


def _fake_distribution(root: Path, entry_points: dict[str, str]) -> PathDistribution:
    """Write an installed distribution ``labplugins 1.2.3`` with the given entry points."""
    info = root / "labplugins-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: labplugins\nVersion: 1.2.3\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return PathDistribution(info)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put the plugin modules on sys.path and make them the only entry points installed."""
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    dist = _fake_distribution(tmp_path, ENTRY_POINTS)

    def fake_entry_points(*, group: str) -> Any:
        return dist.entry_points.select(group=group)

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    yield tmp_path
    for name in MODULES:
        sys.modules.pop(name, None)


def by_name(infos: list[PluginInfo]) -> dict[str, PluginInfo]:
    return {i.name: i for i in infos if i.source != "builtin"}


def test_listing_survives_every_kind_of_broken_plugin(plugins: Path) -> None:
    infos = list_plugins()
    assert [i.name for i in infos[: len(BUILTIN_EVALUATORS)]] == list(BUILTIN_EVALUATORS)
    found = by_name(infos)
    assert set(found) == set(ENTRY_POINTS)
    for name, info in found.items():
        assert (info.distribution, info.version) == ("labplugins", "1.2.3")
        assert info.source == "entry point"
        assert info.target == ENTRY_POINTS[name]
    for name, reason in REASONS.items():
        assert not found[name].ok
        assert reason in (found[name].error or ""), (name, found[name].error)
    # Loadable: listing imports the class but never constructs it.
    assert found["good"].ok and found["ctor_error"].ok
    assert sys.modules["plug_good"].BUILT == []
    clash = found["pybamm"]
    assert not clash.ok and "already taken by optloop.evaluators.pybamm:PybammEvaluator" in (
        clash.error or ""
    )
    assert available_evaluators()["pybamm"] == BUILTIN_EVALUATORS["pybamm"]


def test_builtins_are_listed_whether_or_not_their_packages_exist(plugins: Path) -> None:
    builtins = [i for i in list_plugins() if i.source == "builtin"]
    assert [(i.name, i.target) for i in builtins] == list(BUILTIN_EVALUATORS.items())
    assert {"pybamm", "simulated_cycler", "file_exchange"} <= set(BUILTIN_EVALUATORS)
    for info in builtins:
        assert (info.distribution, info.version) == ("optloop", __version__)
        module = info.target.partition(":")[0]
        assert info.ok or module in (info.error or ""), info
    assert next(i for i in builtins if i.name == "pybamm").ok


@pytest.mark.parametrize("name", [*REASONS, "ctor_error"])
def test_create_evaluator_of_a_broken_plugin_names_it_and_the_reason(
    plugins: Path, name: str
) -> None:
    with pytest.raises(EvaluationError) as info:
        create_evaluator(name, {"polls": 1})
    message = str(info.value)
    assert f"evaluator {name!r}" in message and "labplugins 1.2.3" in message
    reason = REASONS.get(name, "ValueError: option 'port' is required; got {'polls': 1}")
    assert reason in message, message


def test_create_evaluator_loads_only_the_plugin_asked_for(plugins: Path) -> None:
    ev = create_evaluator("good", {"polls": 2})
    assert isinstance(ev, Evaluator) and ev.name == "good"
    assert sys.modules["plug_good"].BUILT == [({"polls": 2}, EvaluatorContext())]
    assert "plug_import_error" not in sys.modules and "plug_runtime_error" not in sys.modules
    result = evaluate(ev, {"x": 5.0}, trial_id="t1", sleep=lambda s: None)
    assert result.state is JobState.SUCCEEDED and result.metrics == {"cycle_life": 105.0}


def test_unknown_name_lists_the_available_ones(plugins: Path) -> None:
    with pytest.raises(EvaluationError) as info:
        create_evaluator("neware")
    message = str(info.value)
    assert "evaluator 'neware' is not installed" in message
    listed = json.loads(message.split("available: ")[1].split(" (or give")[0].replace("'", '"'))
    assert listed == sorted(set(BUILTIN_EVALUATORS) | set(ENTRY_POINTS))


def test_module_class_names_work_without_registration() -> None:
    ev = create_evaluator("toy_plugin:ToyPlugin", {"polls": 1})
    assert ev.name == "toy" and type(ev).__name__ == "ToyPlugin"
    with pytest.raises(EvaluationError, match="cannot import module 'no_such_mod_xyz'"):
        create_evaluator("no_such_mod_xyz:Thing")
    with pytest.raises(EvaluationError, match="module 'toy_plugin' has no attribute 'Nope'"):
        create_evaluator("toy_plugin:Nope")
    with pytest.raises(EvaluationError, match="not of the form 'module:Class'"):
        registry.load_evaluator_class("toy_plugin:")


def test_a_failing_entry_point_scan_still_lists_the_builtins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*, group: str) -> Any:
        raise OSError("unreadable site-packages")

    monkeypatch.setattr(registry, "entry_points", broken)
    assert [i.name for i in list_plugins()] == list(BUILTIN_EVALUATORS)


def test_entry_point_without_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint("toy", "toy_plugin:ToyPlugin", ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [ep])
    info = by_name(list_plugins())["toy"]
    assert info.ok and info.distribution is None and info.version is None
    assert info.provider == "unknown distribution"
    assert info.to_dict() == {
        "name": "toy",
        "target": "toy_plugin:ToyPlugin",
        "source": "entry point",
        "distribution": None,
        "version": None,
        "error": None,
        "ok": True,
    }


def test_plugins_command_lists_ok_and_broken(plugins: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["plugins", "--json"])
    assert out.exit_code == 0, out.output
    records = {r["name"]: r for r in json.loads(out.output) if r["source"] != "builtin"}
    assert records["good"]["ok"] is True and records["good"]["version"] == "1.2.3"
    assert records["import_error"]["ok"] is False
    assert REASONS["import_error"] in records["import_error"]["error"]
    text = runner.invoke(cli, ["plugins"])
    assert text.exit_code == 0
    line = next(x for x in text.output.splitlines() if x.startswith("runtime_error "))
    assert "labplugins" in line and "1.2.3" in line and "entry point" in line
    assert "error: cannot import module 'plug_runtime_error': " + REASONS["runtime_error"] in line
    assert f"{len(BUILTIN_EVALUATORS) + len(ENTRY_POINTS)} plugin(s)" in text.output
