"""The suite's own guards: a per-test deadline, and helper threads whose death fails their test.

Each guard is proved on an inner pytest run (``pytester``, in a subprocess bounded in time):
a scripted lab that dies mid-campaign fails its test at once with the lab's message instead of
leaving ``Campaign.run`` waiting forever, a lab that silently stops answering is failed by the
deadline, and the suite goes on to the next test either way.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers import background

pytestmark = pytest.mark.integration  # an inner pytest run in a subprocess

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

#: The inner deadline for the test whose lab hangs (the one pytest-timeout must stop).
HANG_DEADLINE_S = 20

INNER = '''
import sys
import threading
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, {tests!r})
from helpers import background
from loop_settings import FAST
from test_file_exchange import StandInLab, options

from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace


def campaign(tmp_path):
    data = yaml.safe_load(Path({root!r}, "configs", "quick.yaml").read_text())
    data["store"] = {{"url": f"sqlite:///{{tmp_path / 'campaign.db'}}"}}
    data["evaluator"] = {{"name": "file_exchange", "options": options(tmp_path / "exchange")}}
    data["optimiser"].update(budget=2, initial_designs=2, batch_size=2)
    cfg = config_from_dict(data)
    opt = Optimiser(DesignSpace.from_campaign(cfg), list(cfg.objectives),
                    list(cfg.outcome_constraints), initial_designs=2, seed=cfg.seed,
                    settings=FAST)
    return Campaign(cfg, optimiser=opt), StandInLab(tmp_path / "exchange")


def lab_until_first_ticket(lab, stop, then):
    def run():
        while not stop.wait(0.01):
            if lab.tickets():
                then()
                return
    return run


# Generous on purpose: this test must fail at once from the lab's error, not by the deadline.
@pytest.mark.timeout(300)
def test_lab_dies_mid_campaign(tmp_path, monkeypatch):
    camp, lab = campaign(tmp_path)
    stop = threading.Event()

    def jam():
        raise RuntimeError("lab robot jammed at slot 3")

    with background(lab_until_first_ticket(lab, stop, jam), name="scripted lab", stop=stop.set):
        with camp:
            camp.run(poll_interval_s=0.05)  # would wait forever: nobody answers the tickets
    pytest.fail("Campaign.run returned although the lab died")


@pytest.mark.timeout({hang})
def test_lab_stops_answering(tmp_path, monkeypatch):
    camp, lab = campaign(tmp_path)
    stop = threading.Event()
    with background(lab_until_first_ticket(lab, stop, lambda: None), name="silent lab",
                    stop=stop.set):
        with camp:
            camp.run(poll_interval_s=0.05)  # hangs: only the deadline ends it


def test_the_suite_goes_on():
    assert True
'''


def test_a_lab_that_dies_or_hangs_fails_its_test_and_the_suite_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner=INNER.format(tests=str(TESTS), root=str(ROOT),
                                                hang=HANG_DEADLINE_S))
    # Bounded: pytester kills the inner run if it outlives this (a hang the guards missed).
    result = pytester.runpytest_subprocess(
        "-p", "timeout", "--timeout-method=signal", "-p", "no:cacheprovider",
        "-W", "error::pytest.PytestUnhandledThreadExceptionWarning", "--durations=0",
        timeout=240,
    )
    result.assert_outcomes(failed=2, passed=1)
    out = result.stdout.str()
    print(out[out.index("slowest"):])  # how long each inner test took, for the log
    died = section(out, "test_lab_dies_mid_campaign")
    hung = section(out, "test_lab_stops_answering")
    # The lab's error, in the helper's message, ended the test at once (not the deadline).
    assert "helper thread 'scripted lab' died: RuntimeError('lab robot jammed at slot 3')" in died
    assert "in jam" in died  # the lab thread's traceback is shown
    assert "Timeout" not in died
    # The silent lab was stopped by the deadline, with pytest-timeout's message.
    assert f"Failed: Timeout (>{HANG_DEADLINE_S}.0s) from pytest-timeout" in hung
    assert "helper thread" not in hung


def section(output: str, test: str) -> str:
    """Return the failure section of ``test`` in a pytest report."""
    start = output.index(f" {test} _")
    following = output.find("\n____", start + 1)
    end = output.find("short test summary", start) if following < 0 else following
    return output[start:end]


def test_a_helper_error_is_raised_when_the_block_ends() -> None:
    """Even a thread that dies just before the block ends has its error reported."""
    go = threading.Event()

    def fail_when_told() -> None:
        go.wait(30)
        raise ValueError("fake server crashed")

    with pytest.raises(pytest.fail.Exception, match="fake server crashed"):
        with background(fail_when_told, name="fake server", stop=go.set):
            pass


def test_a_helper_that_does_not_stop_fails_its_test() -> None:
    never = threading.Event()
    with pytest.raises(pytest.fail.Exception, match="did not end within 0.1 s"):
        with background(lambda: never.wait(30), name="stuck", join_timeout_s=0.1):
            pass
    never.set()


def test_an_unhandled_thread_exception_fails_the_test(
    pytester: pytest.Pytester, pytestconfig: pytest.Config
) -> None:
    """A plain thread (not from tests/helpers.py) that raises is an error, not a warning."""
    filters = "\n    ".join(pytestconfig.getini("filterwarnings"))
    pytester.makeini(f"[pytest]\nfilterwarnings =\n    {filters}\n")
    pytester.makepyfile(test_raw_thread='''
import threading

def test_thread_raises():
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    # Without the filter this test passes with a warning.
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ZeroDivisionError*", "*PytestUnhandledThreadExceptionWarning*"])
