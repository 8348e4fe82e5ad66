"""A stale compile lock of BoTorch's C++ kernel never hangs a campaign (issue 11, item 1).

No test compiles the kernel (about 40 s): the end-to-end test replaces torch's build and
import steps, which come after the lock, by stand-ins.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from filelock import FileLock

from optloop.optimiser import kernel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "_status", None)
    from botorch.acquisition.multi_objective import logei

    monkeypatch.setattr(logei, "_load_attempted", logei._load_attempted)
    monkeypatch.setattr(logei, "_C", logei._C)


class Clock:
    """A fake clock: ``sleep`` advances both the monotonic and the wall time."""

    def __init__(self, wall: float) -> None:
        self.mono = 0.0
        self.wall_s = wall

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.wall_s

    def sleep(self, s: float) -> None:
        self.mono += s
        self.wall_s += s


def _plant(folder: Path, age_s: float, clock: Clock) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    baton = folder / "lock"
    baton.write_bytes(b"")
    os.utime(baton, (clock.wall_s - age_s, clock.wall_s - age_s))
    return baton


def test_a_stale_lock_is_removed_and_the_kernel_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(wall=1_000_000.0)
    baton = _plant(tmp_path / kernel.EXTENSION, age_s=3600, clock=clock)
    loads: list[bool] = []
    status = kernel.ensure_fused_kernel(
        build_dir=tmp_path / kernel.EXTENSION,
        load=lambda: loads.append(baton.exists()) or True,
        compilers=lambda _: [],
        monotonic=clock.monotonic,
        wall=clock.wall,
        sleep=clock.sleep,
    )
    assert status == "loaded" and loads == [False]  # loaded once, after the lock was gone
    assert "removed a stale compile lock" in caplog.text and "3600 s old" in caplog.text


def test_a_young_lock_is_given_time_to_start_compiling(tmp_path: Path) -> None:
    clock = Clock(wall=1_000_000.0)
    baton = _plant(tmp_path / kernel.EXTENSION, age_s=1, clock=clock)
    status = kernel.ensure_fused_kernel(
        build_dir=tmp_path / kernel.EXTENSION,
        load=lambda: True,
        compilers=lambda _: [],
        monotonic=clock.monotonic,
        wall=clock.wall,
        sleep=clock.sleep,
    )
    assert status == "loaded" and not baton.exists()
    assert clock.mono >= kernel.MIN_STALE_AGE_S - 1  # waited until it was old enough


def test_a_live_compile_is_waited_for_then_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from botorch.acquisition.multi_objective import logei

    clock = Clock(wall=1_000_000.0)
    baton = _plant(tmp_path / kernel.EXTENSION, age_s=3600, clock=clock)
    status = kernel.ensure_fused_kernel(
        wait_s=120,
        build_dir=tmp_path / kernel.EXTENSION,
        load=lambda: pytest.fail("must not load while another compile runs"),
        compilers=lambda _: [4242],
        monotonic=clock.monotonic,
        wall=clock.wall,
        sleep=clock.sleep,
    )
    assert status == "fallback" and baton.exists()  # someone else's live lock: untouched
    assert 120 <= clock.mono <= 121
    assert logei._load_attempted and logei._C is None  # BoTorch will not wait either
    assert "pure-PyTorch path" in caplog.text and "processes [4242]" in caplog.text


def test_another_optloop_compile_is_waited_for_a_bounded_time(tmp_path: Path) -> None:
    folder = tmp_path / kernel.EXTENSION
    folder.mkdir()
    clock = Clock(wall=1_000_000.0)
    holder = FileLock(folder / "optloop.lock")  # another optloop process compiling
    holder.acquire()
    try:
        status = kernel.ensure_fused_kernel(
            wait_s=60,
            build_dir=folder,
            load=lambda: pytest.fail("must not load"),
            monotonic=clock.monotonic,
            wall=clock.wall,
            sleep=clock.sleep,
        )
    finally:
        holder.release()
    assert status == "fallback" and 60 <= clock.mono <= 61


def test_processes_working_in_the_build_folder_are_found(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             cwd=tmp_path, stdin=subprocess.PIPE)
    try:
        assert child.pid in kernel._working_in(tmp_path)
    finally:
        child.communicate(b"", timeout=30)
    assert child.pid not in kernel._working_in(tmp_path)


SCRIPT = textwrap.dedent(
    """
    import torch.utils.cpp_extension as ce

    # Stand-ins for the steps after the lock: no real compile (40 s) in the suite.
    ce._write_ninja_file_and_build_library = lambda **kw: None
    def _no_module(*a, **k):
        raise ImportError("stand-in: no compiled kernel in this test")
    ce._import_module_from_library = _no_module

    import yaml
    from loop_settings import FAST
    from optloop.config import config_from_dict
    from optloop.optimiser import Observation, Optimiser
    from optloop.space import DesignSpace

    cfg = config_from_dict(yaml.safe_load(open({quick!r})))
    opt = Optimiser(DesignSpace.from_campaign(cfg), list(cfg.objectives),
                    list(cfg.outcome_constraints), initial_designs=4, seed=3, settings=FAST)
    first, _ = opt.propose([], [], 6)
    obs = [Observation(p.design, {{"cycle_life": 50.0 + 30 * i,
                                  "areal_capacity_mAh_cm2": 1.0 + 0.1 * i}})
           for i, p in enumerate(first)]
    proposals, _ = opt.propose(obs, [], 1, iteration=1)
    print("proposed", proposals[0].origin)
    """
)


def test_a_campaign_proposes_despite_a_lock_left_by_a_killed_compile(tmp_path: Path) -> None:
    """The reproduction: a lock file planted where torch compiles BoTorch's kernel."""
    ext = tmp_path / "torch_extensions"
    baton = ext / kernel.EXTENSION / "lock"
    baton.parent.mkdir(parents=True)
    baton.write_bytes(b"")
    os.utime(baton, (0, 0))  # left by a compile killed long ago
    env = {
        **os.environ,
        "TORCH_EXTENSIONS_DIR": str(ext),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(quick=str(ROOT / "configs" / "quick.yaml"))],
            env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the campaign hung on the stale compile lock {baton}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "proposed botorch" in done.stdout
    assert "removed a stale compile lock" in done.stderr
    assert not baton.exists()


def test_an_unusable_build_folder_falls_back_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    status = kernel.ensure_fused_kernel(
        build_dir=blocker / kernel.EXTENSION, load=lambda: pytest.fail("must not load")
    )
    assert status == "fallback" and "build folder is not usable" in caplog.text
