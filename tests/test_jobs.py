"""The evaluators' job store, the atomic-write helper, and the typed options of the two
evaluators that keep jobs (the file exchange and the simulated cycler)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from optloop.data.atomic import atomic_write_files, atomic_write_json, write_once
from optloop.evaluators.base import design_json
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.file_exchange import FileExchangeEvaluator, LabMetadata
from optloop.evaluators.file_exchange.metadata import Rejected, parse_metadata
from optloop.evaluators.jobs import JobStore
from optloop.evaluators.simulated_cycler import SimulatedCycler, SimulatedCyclerOptions
from optloop.exceptions import ConfigError, EvaluationError
from optloop.testing import sample_designs

DESIGNS = sample_designs(2, seed=3)
SYNTHETIC = "optloop.evaluators.simulated_cycler.profile:synthetic_profile"
DAY = 86400.0


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def _submit(store: JobStore, trial: str, design: str = '{"a": 1}', campaign: str = "c",
            fidelity: str = "full") -> tuple[dict[str, Any], bool]:
    return store.submit(job_id=f"j-{trial}", trial_id=trial, campaign=campaign,
                        design_json=design, fidelity=fidelity, create=lambda: {"extra": 1})


# --- the job store -----------------------------------------------------------------------------


def test_submitting_a_trial_twice_gives_the_same_job_from_any_instance(tmp_path: Path) -> None:
    first, created = _submit(JobStore(tmp_path, "ev", prefix="j-"), "t1")
    assert created and first["seq"] == 1 and first["extra"] == 1
    again, created = _submit(JobStore(tmp_path, "ev", prefix="j-"), "t1")  # another process
    assert not created and again == first
    second, created = _submit(JobStore(tmp_path, "ev", prefix="j-"), "t2")
    assert created and second["seq"] == 2
    assert [r["trial_id"] for r in JobStore(tmp_path, "ev", prefix="j-").records()] == [
        "t1", "t2"]


def test_another_design_fidelity_or_campaign_is_refused(tmp_path: Path) -> None:
    store = JobStore(tmp_path, "ev")
    _submit(store, "t1")
    with pytest.raises(EvaluationError, match="different design or fidelity"):
        _submit(store, "t1", design='{"a": 2}')
    with pytest.raises(EvaluationError, match="different design or fidelity"):
        _submit(store, "t1", fidelity="screen")
    with pytest.raises(EvaluationError, match="campaign 'c' .* this is campaign 'd'"):
        _submit(store, "t1", campaign="d")


def test_an_unreadable_record_names_its_file(tmp_path: Path) -> None:
    store = JobStore(tmp_path, "ev")
    (tmp_path / "j-x.json").write_text("[1, 2]")
    with pytest.raises(EvaluationError, match=r"j-x\.json is unreadable"):
        store.load("j-x")


def test_the_lock_holds_off_another_instance_until_released(tmp_path: Path) -> None:
    # Two instances hold two file descriptors, as two processes would.
    holder, other = JobStore(tmp_path, "ev"), JobStore(tmp_path, "ev")
    entered = threading.Event()

    def contend() -> None:
        with other.lock():
            entered.set()

    with holder.lock(), holder.lock():  # reentrant for its holder
        thread = threading.Thread(target=contend, daemon=True)
        thread.start()
        assert not entered.wait(0.3)
    assert entered.wait(30.0)
    thread.join(30.0)


# --- atomic writes -----------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_files_and_no_temporary_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.csv"
    atomic_write_json(a, {"old": True})
    b.write_text("old")

    def fail(_: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_files([(a, lambda p: p.write_text("new")), (b, fail)])
    assert json.loads(a.read_text()) == {"old": True} and b.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.csv"]
    write_once(tmp_path / "c", "first")
    with pytest.raises(FileExistsError):
        write_once(tmp_path / "c", "second")
    assert (tmp_path / "c").read_text() == "first"


# --- lab metadata as a model -------------------------------------------------------------------


def test_metadata_errors_name_the_trial_field_value_and_limit() -> None:
    with pytest.raises(Rejected) as err:
        parse_metadata({"trial_id": "trial-0001", "cell_id": "X", "final": "yes",
                        "electrode_area_cm2": 0})
    message = str(err.value)
    assert message.startswith("malformed metadata (trial 'trial-0001'): ")
    assert "final='yes'; limit: true or false" in message
    assert "electrode_area_cm2=0; limit: a number > 0" in message
    with pytest.raises(Rejected) as err:
        parse_metadata({"cell_id": True, "final": True})
    assert str(err.value) == (
        "malformed metadata: trial_id is missing; limit: the trial id printed on the ticket "
        "(e.g. T-7N35BQ0); "
        "cell_id=True; limit: a non-empty string"
    )
    meta = parse_metadata({"trial_id": "t", "cell_id": 7, "status": "lost", "reason": "short",
                           "operator": "AB"})
    assert isinstance(meta, LabMetadata) and meta.status == "lost"


def test_a_quarantine_without_a_trial_logs_no_trial_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ev = FileExchangeEvaluator({"root": str(tmp_path)}, clock=FakeClock())
    ev.submit(DESIGNS[0], trial_id="trial-0001")
    (tmp_path / "inbox" / "odd.txt").write_text("?")
    with caplog.at_level(logging.WARNING):
        report = ev.scan()
    assert report.quarantined == ["odd.txt"]
    assert "quarantined odd.txt: unexpected file name" in caplog.text
    assert "trial None" not in caplog.text
    assert "trial_id: None" not in (tmp_path / "quarantine" / "odd.txt.reason.txt").read_text()


# --- typed options and the context -------------------------------------------------------------


def test_file_exchange_jobs_carry_the_campaign(tmp_path: Path) -> None:
    assert FileExchangeEvaluator.options_model.__name__ == "FileExchangeOptions"
    ours = FileExchangeEvaluator({"root": str(tmp_path)},
                                 context=EvaluatorContext(campaign="alpha"), clock=FakeClock())
    job = ours.submit(DESIGNS[0], trial_id="alpha.trial-0001")
    record = json.loads((tmp_path / "state" / f"{job}.json").read_text())
    assert record["campaign"] == "alpha" and record["seq"] == 1
    theirs = FileExchangeEvaluator({"root": str(tmp_path)},
                                   context=EvaluatorContext(campaign="beta"), clock=FakeClock())
    with pytest.raises(EvaluationError, match="campaign 'alpha'.*this is campaign 'beta'"):
        theirs.submit(DESIGNS[0], trial_id="alpha.trial-0001")
    # The old registry builds it from a plain mapping: context None is EvaluatorContext().
    assert FileExchangeEvaluator({"root": str(tmp_path)}).context == EvaluatorContext()


def test_cycler_seed_and_executor_come_from_the_context(tmp_path: Path) -> None:
    assert SimulatedCycler.options_model is SimulatedCyclerOptions
    with pytest.raises(ConfigError, match=r"evaluator\.options\.seed: unknown key"):
        SimulatedCycler({"state_dir": str(tmp_path), "seed": 3})
    with pytest.raises(ConfigError, match=r"pybamm\.workers=2 is not an option here"):
        SimulatedCycler({"state_dir": str(tmp_path), "pybamm": {"workers": 2}})
    with pytest.raises(ConfigError, match=r"pybamm\.executor=.* is not an option here"):
        SimulatedCycler({"state_dir": str(tmp_path), "pybamm": {"executor": {"kind": "local"}}})
    context = EvaluatorContext(campaign="r", run_dir=tmp_path / "runs" / "r", seed=4,
                               executor={"kind": "local", "workers": 1})
    ev = SimulatedCycler({"cell_model": SYNTHETIC}, context=context, clock=FakeClock())
    assert ev.state_dir == tmp_path / "runs" / "r" / "cycler"
    assert ev.seed == 4
    inner = ev._pybamm_evaluator()  # built lazily, on the campaign's executor
    assert inner.executor_config.workers == 1 and inner.context.seed == 4
    epoch = json.loads((ev.state_dir / "epoch.json").read_text())
    assert epoch["options"]["seed"] == 4
    with pytest.raises(ConfigError, match=r"seed \(the campaign seed\): 5 differs from 4"):
        SimulatedCycler({"cell_model": SYNTHETIC}, clock=FakeClock(),
                        context=EvaluatorContext(run_dir=context.run_dir, seed=5))


def _cycler_states(folder: Path, seed: int, order: list[int]) -> dict[str, Any]:
    clock = FakeClock()
    ev = SimulatedCycler(
        {"state_dir": str(folder), "time_scale": DAY, "cell_model": SYNTHETIC,
         "pybamm": {"cycle_cap": 60, "screen_cycles": 10}, "lost_cell_probability": 0.5,
         "channel_fault_rate_per_day": 0.0},
        context=EvaluatorContext(seed=seed), clock=clock,
    )
    jobs = {i: ev.submit(DESIGNS[i % 2], trial_id=f"t{i}", fidelity="screen") for i in order}
    clock.t += 40.0  # forty simulated days
    return {f"t{i}": ev.status(jobs[i]).state.value for i in sorted(order)}


def test_cycler_draws_follow_the_context_seed(tmp_path: Path) -> None:
    a = _cycler_states(tmp_path / "a", 7, list(range(12)))
    assert a == _cycler_states(tmp_path / "b", 7, list(reversed(range(12))))
    assert a != _cycler_states(tmp_path / "c", 8, list(range(12)))


def test_a_cycler_folder_of_an_older_version_is_imported(tmp_path: Path) -> None:
    design = DESIGNS[0]
    job = "cell-" + hashlib.sha256(b"t1").hexdigest()[:12]  # as the older version named it
    events = [
        {"type": "submit", "job_id": job, "trial_id": "t1", "design": design,
         "fidelity": "screen", "key": "k1", "submitted_s": 0.0},
        {"type": "cancel", "job_id": job, "at_s": 0.0},
    ]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    ev = SimulatedCycler({"state_dir": str(tmp_path), "cell_model": SYNTHETIC,
                          "pybamm": {"cycle_cap": 60, "screen_cycles": 10}}, clock=FakeClock())
    assert ev.status(job).state.value == "cancelled"
    assert not (tmp_path / "events.jsonl").exists()
    assert (tmp_path / "events.jsonl.imported").exists()
    # The imported job is idempotent like any other.
    assert ev.submit(design, trial_id="t1", fidelity="screen") == job
    assert design_json(design) == json.loads((tmp_path / "jobs" / f"{job}.json").read_text())[
        "design_json"]


def test_records_follow_saves_of_another_instance(tmp_path: Path) -> None:
    reader, writer = JobStore(tmp_path, "ev", prefix="j-"), JobStore(tmp_path, "ev", prefix="j-")
    assert reader.records() == []
    _submit(writer, "t1")
    _submit(writer, "t2")
    first = reader.records()
    assert [r["trial_id"] for r in first] == ["t1", "t2"]
    assert reader.records() is first  # nothing saved since: not read again
    loaded = writer.load("j-t1")
    assert loaded is not None
    writer.save({**loaded, "cancelled_s": 5.0})
    assert [r.get("cancelled_s") for r in reader.records()] == [5.0, None]
