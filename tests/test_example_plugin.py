"""The example plugin, installed like a lab's package, is found through its entry point.

It is installed with pip into a temporary folder (never into the venv), and every check runs in
a subprocess with that folder on ``PYTHONPATH``: the plugin's package lives under ``src/``, so
nothing but the installed distribution can provide it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration  # pip installs the example plugin; checks run in subprocesses

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "experiments" / "example_plugin"
PROJECT = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text())["project"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Install the plugin into a temporary target; return the environment that sees it."""
    root = tmp_path_factory.mktemp("example-plugin")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = root / "source"
    shutil.copytree(
        PLUGIN_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    target = root / "site"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    outer = env.pop("PYTHONPATH", None)  # a checkout shadowing the installed optloop, if any
    run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        env, root,
    )
    path = os.pathsep.join(p for p in (str(target), outer) if p)
    return {**env, "PYTHONPATH": path, "TARGET": str(target)}


def test_plugin_is_not_importable_without_installing() -> None:
    assert importlib.util.find_spec("optloop_example_cycler") is None
    assert (PLUGIN_DIR / "src" / "optloop_example_cycler" / "__init__.py").is_file()


def test_optloop_plugins_lists_the_installed_plugin(installed: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("optloop")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from optloop.cli import main; main()"
    ]
    proc = run([*command, "plugins", "--json"], installed, PLUGIN_DIR.parent)
    records = {r["name"]: r for r in json.loads(proc.stdout)}
    plugin = records["example_cycler"]
    assert plugin == {
        "name": "example_cycler",
        "target": "optloop_example_cycler:BenchCycler",
        "source": "entry point",
        "distribution": PROJECT["name"],
        "version": PROJECT["version"],
        "error": None,
        "ok": True,
    }
    assert records["pybamm"]["source"] == "builtin" and records["pybamm"]["ok"]


CREATE = """
import json
import optloop_example_cycler as pkg
from optloop.evaluators import JobState, evaluate
from optloop.evaluators.registry import create_evaluator
from optloop.testing import sample_designs
ev = create_evaluator("example_cycler", {"cycle_cap": 50})
result = evaluate(ev, sample_designs(1)[0], trial_id="t1", poll_interval_s=0.01)
print(json.dumps({"cls": type(ev).__name__, "file": pkg.__file__, "state": result.state.value,
                  "bdf": result.bdf_path, "cycle_life": result.metrics.get("cycle_life")}))
"""


def test_create_evaluator_builds_it_by_name(installed: dict[str, str], tmp_path: Path) -> None:
    proc = run([sys.executable, "-c", CREATE], installed, tmp_path)
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["cls"] == "BenchCycler" and out["state"] == "succeeded"
    assert Path(out["file"]).is_relative_to(installed["TARGET"])
    # No output_dir and no context: the ad-hoc context's run folder, below the cwd.
    assert Path(out["bdf"]).parent == Path("runs", "adhoc", "bdf")
    assert (tmp_path / out["bdf"]).is_file() and 1 <= out["cycle_life"] <= 50


def test_the_plugins_own_conformance_tests_pass(installed: dict[str, str]) -> None:
    proc = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(PLUGIN_DIR), str(PLUGIN_DIR / "tests")],
        installed, PLUGIN_DIR,
    )
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert int(summary.split()[0]) >= 21, summary  # the suite's 21 tests at least
