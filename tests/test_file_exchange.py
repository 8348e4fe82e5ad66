"""The file-exchange lab plugin: tickets out, BDF files in, quarantine, and a whole campaign.

A stand-in lab answers the tickets: it reads ``outbox/<trial>.ticket.json`` and writes a BDF
file whose capacity fades by a simple law of the design's alloy thickness, then its metadata
sentinel (last, as the lab's instructions say).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from helpers import background
from loop_settings import FAST

from optloop.campaign import Campaign
from optloop.cli import cli
from optloop.config import config_from_dict
from optloop.data import BDFError, build_bdf_frame, compute_metrics, read_bdf, write_bdf
from optloop.data.bdf import CYCLE
from optloop.evaluators.base import Evaluator, JobState
from optloop.evaluators.file_exchange import (
    LOGGER_NAME,
    FileExchangeEvaluator,
    build_recipe,
    composition_wt_percent,
)
from optloop.evaluators.measured import measured_metrics
from optloop.exceptions import ConfigError, EvaluationError
from optloop.optimiser import Optimiser
from optloop.space import Design, DesignSpace, derive
from optloop.store import TrialStatus
from optloop.testing import EvaluatorConformance

ROOT = Path(__file__).resolve().parents[1]

#: A design with all three layers: Si0.8Cu0.2 (at.) 500 nm sputtered on 40 um graphite, 2 um Li.
KNOWN: dict[str, Any] = {
    "alloy_layer": {
        "composition": {"Si": 0.8, "Cu": 0.2},
        "oxygen_ratio": 0.0,
        "thickness_um": 0.5,
        "structure": "amorphous",
        "method": "sputtering",
        "conditions": {
            "substrate_temperature_C": 100.0,
            "power_density_W_cm2": 4.0,
            "pressure_Pa": 0.5,
        },
    },
    "carbon_layer": {"thickness_um": 40.0, "porosity": 0.35},
    "lithium_layer": {"thickness_um": 2.0},
    "cell": {"positive_electrode": "NMC811", "np_ratio": 1.15},
}


def thinner(design: dict[str, Any], thickness_um: float) -> dict[str, Any]:
    """Return a copy of ``design`` with another alloy thickness."""
    out = json.loads(json.dumps(design))
    out["alloy_layer"]["thickness_um"] = thickness_um
    return out


# --- the stand-in lab -----------------------------------------------------------------------


def fade_frame(ticket: dict[str, Any], *, cycles: int | None = None, scale: float = 1.0,
               running: bool = False) -> pd.DataFrame:
    """Return a cell's BDF data for a ticket: formation, then linear fade with thickness.

    Delivered capacity ``Q_n = Q_nom * (1 - k (n - 1))`` with ``k = 0.004 + 0.03 * t_alloy``
    per cycle, until the protocol's cycles or 75 % of ``Q_nom``. Each cycle charges ``Q/CE``
    then discharges ``Q`` at constant current; ``running`` adds a cut-off charge step.
    """
    q_nom_Ah = ticket["recipe"]["cell"]["nominal_capacity_mAh"] / 1000.0 * scale
    alloy = ticket["design"]["alloy_layer"]
    k = 0.004 + 0.03 * (alloy["thickness_um"] if alloy else 0.0)
    protocol = ticket["protocol"]
    n_form = protocol["formation"]["cycles"]
    plan = [(1.05 * q_nom_Ah, 0.85 if i == 0 else 0.99) for i in range(n_form)]
    for n in range(1, protocol["cycles"] + 1):
        q = q_nom_Ah * (1.0 - k * (n - 1))
        plan.append((q, 0.85 if not plan else 0.995))
        if q < 0.75 * q_nom_Ah:
            break
    if cycles is not None:
        plan = plan[:cycles]
    return frame_from_plan(plan, q_nom_Ah, running=running)


def frame_from_plan(plan: list[tuple[float, float]], q_nom_Ah: float, *,
                    running: bool = False) -> pd.DataFrame:
    """Return BDF data for cycles of (delivered Ah, CE): charge ``Q/CE``, discharge ``Q`` at 0.5C.

    ``running`` adds a cut-off charge step (a cell still on test).
    """
    current_A = 0.5 * q_nom_Ah
    t, v, i, c = [0.0], [3.0], [0.0], [1]
    now = 0.0
    for n, (q_out, ce) in enumerate(plan, start=1):
        for sign, q in ((1.0, q_out / ce), (-1.0, q_out)):
            dur = q / current_A * 3600.0
            t += [now, now + dur]
            v += [3.7, 3.7]
            i += [sign * current_A, sign * current_A]
            c += [n, n]
            now += dur
    if running:
        t += [now, now + 600.0]
        v += [3.6, 3.7]
        i += [current_A, current_A]
        c += [len(plan) + 1, len(plan) + 1]
    return build_bdf_frame(t, v, i, c)


class StandInLab:
    """Answers tickets in ``outbox/`` by writing BDF files into ``inbox/`` (data first)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inbox = root / "inbox"
        self.staging = root.parent / f"{root.name}-lab-staging"
        self.staging.mkdir(exist_ok=True)

    def ticket(self, trial_id: str) -> dict[str, Any]:
        """Return the ticket optloop wrote for a trial (open, or retired after a cancel)."""
        path = self.root / "outbox" / f"{trial_id}.ticket.json"
        if not path.exists():
            path = self.root / "outbox" / "retired" / path.name
        return dict(json.loads(path.read_text()))

    def tickets(self) -> list[str]:
        outbox = self.root / "outbox"
        return sorted(p.name.removesuffix(".ticket.json") for p in outbox.glob("*.ticket.json"))

    def cancelled(self, trial_id: str) -> bool:
        return (self.root / "outbox" / f"{trial_id}.cancel.json").exists()

    def send(self, stem: str, meta: dict[str, Any], frame: pd.DataFrame | None = None,
             *, raw_csv: str | None = None, suffix: str = ".bdf.csv") -> None:
        """Drop a data file (if any), then its metadata sentinel, each by atomic rename."""
        staged = self.staging / f"{stem}{suffix}"
        if frame is not None:
            write_bdf(frame, staged, meta)
            os.replace(staged, self.inbox / staged.name)
        elif raw_csv is not None:
            staged.write_text(raw_csv)
            os.replace(staged, self.inbox / staged.name)
        sentinel = self.staging / f"{stem}.bdf.metadata.json"
        sentinel.write_text(json.dumps(meta))
        os.replace(sentinel, self.inbox / sentinel.name)

    def answer(self, trial_id: str, *, scale: float = 1.0, stem: str | None = None) -> Path:
        """Send the final result of a ticket; return the data file's inbox path."""
        ticket = self.ticket(trial_id)
        stem = stem or f"{trial_id}__cell"
        self.send(stem, {"trial_id": ticket["trial_id"], "cell_id": f"C-{trial_id}",
                         "final": True},
                  fade_frame(ticket, scale=scale))
        return self.inbox / f"{stem}.bdf.csv"

    def empty(self) -> bool:
        """Return whether optloop has taken every file from the inbox."""
        return not any(self.inbox.iterdir())


def tid(root: Path, key: str) -> str:
    """Return the trial id printed on the ticket of optloop's trial ``key`` (what a lab writes)."""
    return str(StandInLab(root).ticket(key)["trial_id"])


def precheck_cli(config: Path, data_file: str, *extra: str) -> dict[str, Any]:
    """Return ``optloop data metrics --config CONFIG --json FILE`` as data."""
    out = CliRunner().invoke(cli, ["data", "metrics", "--config", str(config), "--json",
                                   *extra, data_file])
    assert out.exit_code == 0, out.output
    return dict(json.loads(out.output))


def malformed_csv(ticket: dict[str, Any]) -> str:
    """Return the ticket's BDF data as CSV with one voltage that is not a number."""
    frame = fade_frame(ticket).astype({"Voltage / V": object})
    frame.loc[3, "Voltage / V"] = "abc"
    return str(frame.to_csv(index=False))


# --- fixtures -------------------------------------------------------------------------------


class FakeClock:
    """Wall-clock seconds that move only when the test says so (starts at the real time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance_h(self, hours: float) -> None:
        self.now += hours * 3600.0


def options(root: Path, **extra: Any) -> dict[str, Any]:
    """Return small options: 30 cycles after one formation cycle."""
    protocol = {"cycles": 30, "formation_cycles": 1, **extra.pop("protocol", {})}
    return {"root": str(root), "protocol": protocol, **extra}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "exchange"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ev(root: Path, clock: FakeClock) -> FileExchangeEvaluator:
    return FileExchangeEvaluator(options(root), clock=clock)


def quarantined(root: Path) -> dict[str, str]:
    """Return quarantined file name -> its reason text."""
    q = root / "quarantine"
    return {
        p.name: (q / f"{p.name}.reason.txt").read_text()
        for p in q.iterdir()
        if not p.name.endswith(".reason.txt") and p.name != "quarantine.jsonl"
    }


def recompute(design: dict[str, Any], bdf_path: str, *, formation: int = 1,
              area_cm2: float = 1.54, planned: int = 30, final: bool = True) -> dict[str, float]:
    """Recompute a result's metrics from its file, independently of the plugin's code."""
    frame, _ = read_bdf(bdf_path)
    whole = compute_metrics(frame, in_progress=not final)
    after = frame[frame[CYCLE] > whole.cycle_counts[formation - 1]].reset_index(drop=True)
    m = measured_metrics(design, after, electrode_area_cm2=area_cm2, planned_cycles=planned,
                         in_progress=not final)
    out = dict(m.metrics)
    assert whole.first_cycle_efficiency is not None
    out["first_cycle_efficiency"] = whole.first_cycle_efficiency
    return out


# --- 1. conformance -------------------------------------------------------------------------


class TestFileExchangeConformance(EvaluatorConformance):
    """The protocol's rules, with a stand-in lab answering in :meth:`advance`."""

    timeout_s = 30.0
    minimal_options = {"root": "exchange"}  # the one option without a default: the lab folder
    poll_interval_s = 0.01
    requires_bdf = True  # the core recomputes cycle life from the accepted file

    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
        root = tmp_path_factory.mktemp("conformance") / "exchange"
        # No formation cycles, so compute_metrics on the file defines cycle life as we do.
        yield FileExchangeEvaluator(options(root, protocol={"formation_cycles": 0}))

    def advance(self, evaluator: Evaluator, job_ids: Sequence[str]) -> None:
        assert isinstance(evaluator, FileExchangeEvaluator)
        lab = StandInLab(evaluator.folders.root)
        for job_id in job_ids:
            trial_id = job_id.removeprefix("fx-")
            answered = evaluator.folders.accepted / trial_id
            if not lab.cancelled(trial_id) and not answered.exists() and not any(
                lab.inbox.iterdir()
            ):
                lab.answer(trial_id)


# --- 2. a whole campaign through the folders ----------------------------------------------



class ScriptedLab:
    """A lab that answers each new ticket, with the mishaps of a real lab, in step with optloop.

    trial-0001: partial data, the final file, then a duplicate final (a different cell).
    trial-0002: a malformed file first, then a good one.
    trial-0003: the cell is lost (reported with no data); its rebuild is answered normally.
    trial-0004: a symlink in the inbox pointing outside it, then the real file.
    Also, once: a result for a trial nobody asked for.

    The lab runs in a helper thread (tests/helpers.py) but moves only on optloop's polls: each
    poll hands the lab one turn and waits until the turn is done. In a turn the lab takes its
    next scripted step once optloop has taken the previous step's files, so the run does not
    depend on how fast the machine is; a step whose files optloop has not taken within
    ``patience_polls`` polls fails the lab, and so the test, with a message.
    """

    def __init__(self, root: Path, outside_file: Path, *, patience_polls: int = 500) -> None:
        self.lab = StandInLab(root)
        self.outside_file = outside_file
        self.patience_polls = patience_polls
        self.stop = threading.Event()
        self.done: set[str] = set()
        self.log: list[str] = []
        self.polls = 0
        self._steps: list[tuple[str, Callable[[], object], bool]] = []
        self._waiting: tuple[str, int] | None = None  # (step, polls since) until the inbox empties
        self._turn = threading.Semaphore(0)
        self._turn_done = threading.Semaphore(0)

    def run(self) -> None:
        """Take one turn per poll until stopped (the helper thread's body)."""
        while not self.stop.is_set():
            if self._turn.acquire(timeout=0.05):
                try:
                    self.turn()
                finally:
                    self._turn_done.release()

    def poll(self) -> None:
        """Give the lab one turn and wait for it (called by optloop's status polls)."""
        self.polls += 1
        self._turn.release()
        # Bounded; if the lab thread dies, tests/helpers.py fails the test before this ends.
        assert self._turn_done.acquire(timeout=120), "the scripted lab did not take its turn"

    def turn(self) -> None:
        """Queue new tickets' scripts; take the next step once the last one's files are gone."""
        for trial_id in self.lab.tickets():
            if trial_id not in self.done and not self.lab.cancelled(trial_id):
                self.done.add(trial_id)
                self._steps.extend(self.script(trial_id))
        if self._waiting is not None:
            what, polls = self._waiting
            if not self.lab.empty():
                assert polls < self.patience_polls, (
                    f"optloop did not take the files of {what!r} in {polls} polls")
                self._waiting = (what, polls + 1)
                return
            self._waiting = None
        if self._steps:
            what, action, wait = self._steps.pop(0)
            action()
            self.log.append(what)
            if wait:
                self._waiting = (what, 0)

    def script(self, trial_id: str) -> list[tuple[str, Callable[[], object], bool]]:
        """Return the steps (name, action, wait for optloop to take the files) of a ticket."""
        lab, ticket = self.lab, self.lab.ticket(trial_id)
        meta = {"trial_id": ticket["trial_id"], "cell_id": f"C-{trial_id}", "final": True}
        short = trial_id.split(".", 1)[-1]  # the campaign keys trials as <campaign>.<uid>
        if short == "trial-0001":
            return [
                ("unknown trial", lambda: lab.send(
                    "trial-9999__x", {**meta, "trial_id": "trial-9999"}, fade_frame(ticket)),
                 True),
                ("partial", lambda: lab.send(
                    "trial-0001__partial", {**meta, "final": False},
                    fade_frame(ticket, cycles=4, running=True)), True),
                ("final", lambda: lab.answer(trial_id), True),
                ("duplicate", lambda: lab.send(
                    "trial-0001__dup", {**meta, "cell_id": "C-other"},
                    fade_frame(ticket, scale=0.5)), False),
            ]
        if short == "trial-0002":
            return [
                ("malformed", lambda: lab.send(
                    "trial-0002__bad", meta, raw_csv=malformed_csv(ticket)), True),
                ("final", lambda: lab.answer(trial_id), True),
            ]
        if short == "trial-0003":
            return [("lost", lambda: lab.send(
                "trial-0003__lost",
                {**meta, "status": "lost", "reason": "cell shorted during formation"}), True)]
        if short == "trial-0004":
            def trick() -> None:
                os.symlink(self.outside_file, lab.inbox / "trick.bdf.csv")
                lab.send("trick", meta)  # the sentinel of the link
            return [("symlink", trick, True), ("final", lambda: lab.answer(trial_id), True)]
        return [("final", lambda: lab.answer(trial_id), True)]


def poll_driven(evaluator: Evaluator, lab: ScriptedLab) -> None:
    """Make every status poll of ``evaluator`` give ``lab`` a turn first."""
    status = evaluator.status

    def status_after_lab(job_id: str) -> Any:
        lab.poll()
        return status(job_id)

    evaluator.status = status_after_lab  # type: ignore[method-assign]


def test_campaign_through_the_exchange_folder(tmp_path: Path) -> None:
    root = tmp_path / "exchange"
    outside = tmp_path / "elsewhere" / "secret.bdf.csv"
    outside.parent.mkdir()
    outside.write_text("Test Time / s,Voltage / V,Current / A\n0,3.7,0\n")
    outside_digest = hashlib.sha256(outside.read_bytes()).hexdigest()

    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {"name": "file_exchange", "options": options(root)}
    data["optimiser"].update(budget=6, initial_designs=4, batch_size=2)
    cfg = config_from_dict(data)
    opt = Optimiser(
        DesignSpace.from_campaign(cfg), list(cfg.objectives), list(cfg.outcome_constraints),
        initial_designs=4, seed=cfg.seed, settings=FAST,
    )
    lab = ScriptedLab(root, outside)
    with background(lab.run, name="scripted lab", stop=lab.stop.set):
        with Campaign(cfg, optimiser=opt) as camp:  # the evaluator comes from the registry
            evaluator = camp.evaluator
            assert isinstance(evaluator, FileExchangeEvaluator)
            poll_driven(evaluator, lab)
            # The campaign's sleeps between polls do not matter: the lab moves on polls.
            final = camp.run(poll_interval_s=0.0)
            trials = {t.uid: t for t in camp.store.trials()}
            # Anything still in the inbox is taken by a scan (what a cron tick does).
            assert lab.lab.empty() or evaluator.scan().quarantined
            shown = camp.status()["evaluator_notices"]
    assert lab.log[:3] == ["unknown trial", "partial", "final"], lab.log

    # Every trial completed: the lost cell was rebuilt under a new key and answered.
    assert final.counts["completed"] == 6 and final.counts["failed"] == 0, final.counts
    assert sorted(trials) == [f"trial-{i:04d}" for i in range(1, 7)]
    for uid, trial in trials.items():
        assert trial.status is TrialStatus.COMPLETED, (uid, trial.status, trial.reason)
        assert trial.bdf_path is not None
        path = Path(trial.bdf_path)
        assert path.parent == root / "accepted" / path.parent.name and path.is_file()
        expected = recompute(trial.design.to_dict(), trial.bdf_path)
        assert set(trial.outcomes) == set(expected)
        for name, value in expected.items():
            assert trial.outcomes[name] == pytest.approx(value, rel=1e-12), (uid, name)
    # `optloop data metrics --config` shows, for every accepted final file, what was recorded.
    cfg_file = tmp_path / "campaign.yaml"
    cfg_file.write_text(yaml.safe_dump(data))
    for uid, trial in trials.items():
        pre = precheck_cli(cfg_file, trial.bdf_path or "")
        assert pre["verdict"] == "accepted" and pre["metrics"] == trial.outcomes, uid
        assert pre["censored"] == {k: trial.censored.get(k, False) for k in pre["censored"]}
    lost_reasons = " ".join(trials["trial-0003"].metadata["lost_reasons"])
    assert "lab reported lost: cell shorted during formation" in lost_reasons
    assert Path(trials["trial-0003"].bdf_path or "").parent.name == "quick.trial-0003-r1"

    # trial-0001: partial, then final accepted; the duplicate (half the capacity) changed nothing.
    accepted_1 = sorted(p.name for p in (root / "accepted" / "quick.trial-0001").glob("*.bdf.csv"))
    assert accepted_1 == ["001_trial-0001__partial.bdf.csv", "002_quick.trial-0001__cell.bdf.csv"]
    assert str(trials["trial-0001"].bdf_path).endswith("002_quick.trial-0001__cell.bdf.csv")

    reasons = quarantined(root)
    assert "duplicate result" in reasons["trial-0001__dup.bdf.csv"]
    assert "unknown trial" in reasons["trial-9999__x.bdf.csv"]
    # The reason keeps the core reader's exact message, the file named without its path.
    bad_file = root / "quarantine" / "trial-0002__bad.bdf.csv"
    with pytest.raises(BDFError) as bdf_error:
        read_bdf(bad_file)
    core_message = str(bdf_error.value).replace(str(bad_file), bad_file.name)
    bad = reasons["trial-0002__bad.bdf.csv"]
    assert bad.startswith(f"malformed data: {core_message}\n") and "'Voltage / V'" in bad
    assert str(root) not in bad and str(tmp_path) not in bad
    assert "malformed data" in reasons["trial-0002__bad.bdf.metadata.json"]
    assert "symbolic link" in reasons["trick.bdf.csv"]
    assert "companion 'trick.bdf.csv'" in reasons["trick.bdf.metadata.json"]
    assert (root / "quarantine" / "trick.bdf.csv").is_symlink()
    assert hashlib.sha256(outside.read_bytes()).hexdigest() == outside_digest
    assert len(reasons) == 8, sorted(reasons)
    notices = evaluator.notices()
    assert {n["file"] for n in notices} == set(reasons)
    assert shown == notices  # what `optloop status` shows
    named = {n["trial_id"] for n in notices if n["file"].startswith("trial-0002")}
    assert named == {"quick.trial-0002"}


# --- 3. idempotency, cancel, stale, recipe --------------------------------------------------


def outbox_snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / "outbox").iterdir()}


def test_resubmitting_from_a_fresh_instance_writes_nothing(
    ev: FileExchangeEvaluator, root: Path, clock: FakeClock
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    assert job == "fx-trial-0001"
    before = outbox_snapshot(root)
    assert sorted(before) == ["trial-0001.ticket.json", "trial-0001.ticket.md"]
    clock.advance_h(1.0)
    fresh = FileExchangeEvaluator(options(root), clock=clock)
    reordered = dict(reversed(list(KNOWN.items())))  # same design, other key order
    assert fresh.submit(reordered, trial_id="trial-0001") == job
    assert outbox_snapshot(root) == before
    queued = fresh.status(job)
    assert queued.state is JobState.QUEUED and "waiting for the lab" in (queued.message or "")
    with pytest.raises(EvaluationError, match="different design"):
        fresh.submit(thinner(KNOWN, 0.2), trial_id="trial-0001")
    with pytest.raises(EvaluationError, match="fidelity='screen' unknown"):
        fresh.submit(KNOWN, trial_id="trial-0002", fidelity="screen")
    with pytest.raises(EvaluationError, match="cannot name a file"):
        fresh.submit(KNOWN, trial_id="../etc")
    for call in (fresh.status, fresh.fetch, fresh.cancel):
        with pytest.raises(EvaluationError, match="unknown job id"):
            call("fx-trial-0099")


def test_ticket_carries_what_the_lab_needs(ev: FileExchangeEvaluator, root: Path) -> None:
    ev.submit(KNOWN, trial_id="trial-0001")
    ticket = json.loads((root / "outbox" / "trial-0001.ticket.json").read_text())
    assert ticket["format_version"] == 2 and ticket["job_id"] == "fx-trial-0001"
    assert ticket["design"] == KNOWN and ticket["created_utc"].endswith("+00:00")
    assert ticket["send_back"]["required_metadata"].keys() == {"trial_id", "cell_id", "final"}
    assert "positive current charges" in ticket["send_back"]["sign_convention"]
    md = (root / "outbox" / "trial-0001.ticket.md").read_text()
    for text in ("500 nm", "40 µm", "2 µm", "sputtering", "at.% Si 80, Cu 20", "NMC811"):
        assert text in md, text


def test_recipe_units_on_a_known_design() -> None:
    from optloop.evaluators.file_exchange import FileExchangeOptions

    opts = FileExchangeOptions.from_dict({"root": "/unused"})
    recipe = build_recipe(KNOWN, opts)
    carbon, film, lithium = recipe["layers"]
    assert [x["layer"] for x in recipe["layers"]] == ["carbon", "alloy", "lithium"]
    assert [x["position_from_collector"] for x in recipe["layers"]] == [1, 2, 3]
    # Hand numbers: atomic masses Si 28.0855, Cu 63.546 g/mol (IUPAC); tolerance 1e-4 rel.
    si, cu = 0.8 * 28.0855, 0.2 * 63.546
    assert film["composition_at_percent"] == {"Si": 80.0, "Cu": 20.0}
    assert film["composition_wt_percent"]["Si"] == pytest.approx(100 * si / (si + cu), rel=1e-4)
    assert sum(composition_wt_percent({"Sn": 0.5, "Cu": 0.5}, 2.0).values()) == pytest.approx(100)
    assert film["thickness_nm"] == 500.0 and film["thickness_um"] == 0.5
    units = {c["name"]: c["unit"] for c in film["deposition"]["conditions"]}
    assert units == {"substrate_temperature_C": "°C", "power_density_W_cm2": "W/cm²",
                     "pressure_Pa": "Pa"}
    assert carbon["thickness_um"] == 40.0 and carbon["porosity_percent"] == 35.0
    # Graphite 2.26 g/cm3 at 65 % solid over 40 um: ~5.9 mg/cm2 (density from pymatgen, 2 %).
    assert carbon["expected_areal_mass_mg_cm2"] == pytest.approx(2.26 * 0.65 * 40e-4 * 1e3,
                                                                 rel=0.02)
    # Lithium: 0.534 g/cm3 x 2 um = 0.107 mg/cm2; ~0.206 mAh/cm2 per um (1 %).
    assert lithium["expected_areal_mass_mg_cm2"] == pytest.approx(0.534 * 2e-4 * 1e3, rel=0.01)
    assert lithium["expected_capacity_mAh_cm2"] == pytest.approx(2 * 0.206, rel=0.01)
    d = derive(Design.from_dict(KNOWN))
    layer_mass = carbon["expected_areal_mass_mg_cm2"] + film["expected_areal_mass_mg_cm2"]
    assert layer_mass == pytest.approx(d.anode_mass_mg_cm2, rel=1e-5)
    cap = carbon["expected_capacity_mAh_cm2"] + film["expected_capacity_mAh_cm2"]
    assert cap == pytest.approx(d.negative_areal_capacity_mAh_cm2, rel=1e-5)
    cell = recipe["cell"]
    assert cell["np_ratio"] == pytest.approx(1.15)
    assert cell["nominal_capacity_mAh"] == pytest.approx(d.positive_loading_mAh_cm2 * 1.54,
                                                         rel=1e-5)
    half = build_recipe(KNOWN, FileExchangeOptions.from_dict({"root": "/x", "cell": "half"}))
    assert half["cell"]["counter_electrode"] == "lithium metal foil"
    assert half["cell"]["nominal_capacity_mAh"] == pytest.approx(
        d.negative_areal_capacity_mAh_cm2 * 1.54, rel=1e-5)


def test_protocol_currents_follow_the_nominal_capacity(ev: FileExchangeEvaluator,
                                                       root: Path) -> None:
    ev.submit(KNOWN, trial_id="trial-0001")
    ticket = json.loads((root / "outbox" / "trial-0001.ticket.json").read_text())
    p, q = ticket["protocol"], ticket["recipe"]["cell"]["nominal_capacity_mAh"]
    assert p["charge_current_mA"] == pytest.approx(0.5 * q, rel=1e-5)
    assert p["formation"]["current_mA"] == pytest.approx(0.1 * q, rel=1e-5)
    assert p["cv_hold"]["until_current_mA"] == pytest.approx(0.05 * q, rel=1e-5)
    assert (p["voltage_min_V"], p["voltage_max_V"]) == (2.5, 4.2)
    assert p["cycles"] == 30 and p["temperature_C"] == 25.0
    caps = ev.capabilities()
    assert caps["persistent_jobs"] is True and caps["max_concurrency"] == 8
    # 30 cycles of 2 h + 1 formation cycle of 20 h, plus 20 min rest per cycle.
    assert caps["est_duration_s"] == pytest.approx((30 * (4 + 1 / 3) + 20 + 1 / 3) * 3600)


def test_partial_then_final_result_and_a_fresh_instance_agrees(
    ev: FileExchangeEvaluator, root: Path, clock: FakeClock
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("trial-0001")
    assert ev.fetch(job).partial and ev.fetch(job).metrics == {}
    lab.send("p", {"trial_id": tid(root, "trial-0001"), "cell_id": "A1", "final": False},
             fade_frame(ticket, cycles=5, running=True))
    status = ev.status(job)
    assert status.state is JobState.RUNNING and status.cycles_done == 5
    assert status.progress == pytest.approx(5 / 31)
    partial = ev.fetch(job)
    assert partial.partial and partial.metadata["cycles_done"] == 5
    assert partial.metrics == recompute(KNOWN, partial.bdf_path or "", final=False)
    cfg_file = root.parent / "campaign.yaml"
    cfg = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    cfg["evaluator"] = {"name": "file_exchange", "options": options(root)}
    cfg_file.write_text(yaml.safe_dump(cfg))
    pre = precheck_cli(cfg_file, partial.bdf_path or "")
    assert pre["final"] is False and pre["metrics"] == partial.metrics
    assert partial.censored == {"cycle_life": True}

    path = lab.answer("trial-0001")
    assert ev.status(job).state is JobState.SUCCEEDED
    result = ev.fetch(job)
    assert not path.exists() and result.bdf_path is not None
    assert result.metrics == recompute(KNOWN, result.bdf_path)
    assert precheck_cli(cfg_file, result.bdf_path)["metrics"] == result.metrics
    assert result.metadata["cell_id"] == "C-trial-0001"
    assert result.metadata["formation_cycle_counts"] == [1]
    fresh = FileExchangeEvaluator(options(root), clock=clock)
    assert fresh.fetch(job) == result and fresh.status(job) == ev.status(job)


def test_cancel_writes_a_note_and_later_files_are_quarantined(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    ev.cancel(job)
    note = json.loads((root / "outbox" / "trial-0001.cancel.json").read_text())
    assert note["trial_id"] == tid(root, "trial-0001") and note["job_id"] == job
    assert note["reason"] == "cancelled by optloop"
    # The ticket is retired: the lab's list of open tickets no longer shows it.
    assert not (root / "outbox" / "trial-0001.ticket.json").exists()
    assert (root / "outbox" / "retired" / "trial-0001.ticket.json").is_file()
    assert ev.status(job).state is JobState.CANCELLED
    bytes_before = (root / "outbox" / "trial-0001.cancel.json").read_bytes()
    ev.cancel(job)  # terminal: nothing happens
    assert (root / "outbox" / "trial-0001.cancel.json").read_bytes() == bytes_before
    StandInLab(root).answer("trial-0001")
    assert ev.fetch(job).state is JobState.CANCELLED
    assert "cancelled trial" in quarantined(root)["trial-0001__cell.bdf.csv"]

    done = ev.submit(KNOWN, trial_id="trial-0002")
    StandInLab(root).answer("trial-0002")
    result = ev.fetch(done)
    ev.cancel(done)
    assert ev.fetch(done) == result and not (root / "outbox" / "trial-0002.cancel.json").exists()


def test_no_news_for_stale_after_h_is_lost(
    ev: FileExchangeEvaluator, root: Path, clock: FakeClock
) -> None:
    a = ev.submit(KNOWN, trial_id="trial-0001")
    b = ev.submit(thinner(KNOWN, 0.2), trial_id="trial-0002")
    lab = StandInLab(root)
    clock.advance_h(10 * 24)
    lab.send("p", {"trial_id": tid(root, "trial-0002"), "cell_id": "B", "final": False},
             fade_frame(lab.ticket("trial-0002"), cycles=3, running=True))
    assert ev.status(b).state is JobState.RUNNING
    clock.advance_h(4 * 24 - 1)
    assert ev.status(a).state is JobState.QUEUED  # 13 d 23 h: not yet
    clock.advance_h(2)
    report = ev.scan()
    assert report.lost == [a]
    fresh = FileExchangeEvaluator(options(root), clock=clock)
    status = fresh.status(a)
    assert status.state is JobState.LOST and "stale_after_h=336" in (status.reason or "")
    assert "since submission" in (status.reason or "")
    assert fresh.status(b).state is JobState.RUNNING  # its partial file reset the timer
    clock.advance_h(11 * 24)
    lost_b = fresh.fetch(b)
    assert lost_b.state is JobState.LOST and "since the last partial file" in (lost_b.reason or "")
    assert lost_b.bdf_path is not None  # the data so far stay linked
    assert (root / "outbox" / "trial-0002.cancel.json").exists()


# --- quarantine rules, one by one -----------------------------------------------------------


def test_lab_reported_failure_needs_no_data(ev: FileExchangeEvaluator, root: Path) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    StandInLab(root).send("f", {"trial_id": tid(root, "trial-0001"), "cell_id": "X", "final": True,
                                "status": "failed", "reason": "channel 4 tripped"})
    result = ev.fetch(job)
    assert result.state is JobState.FAILED
    assert result.reason == "lab reported failed: channel 4 tripped"
    assert ev.status(job).reason == result.reason


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"cell_id": "X", "final": True}, "trial_id is missing"),
        ({"trial_id": "trial-0001", "cell_id": "X"}, "final is missing; limit: true or false"),
        ({"trial_id": "trial-0001", "cell_id": "X", "final": True, "status": "lost"},
         "needs a reason"),
        ({"trial_id": "trial-0001", "cell_id": "X", "final": True, "electrode_area_cm2": -1},
         "electrode_area_cm2=-1; limit: a number > 0"),
        ({"trial_id": "trial-0001", "cell_id": "X", "final": True, "data_file": "/etc/passwd"},
         "path outside inbox/: data_file='/etc/passwd'"),
        ({"trial_id": "trial-0001", "cell_id": "X", "final": True,
          "data_file": "../outbox/x.bdf.csv"}, "path outside inbox/"),
    ],
)
def test_bad_metadata_is_quarantined_with_its_data(
    ev: FileExchangeEvaluator, root: Path, meta: dict[str, Any], expected: str
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    StandInLab(root).send("m", meta, fade_frame(StandInLab(root).ticket("trial-0001")))
    assert ev.status(job).state is JobState.QUEUED  # a bad file does not end the trial
    reasons = quarantined(root)
    assert sorted(reasons) == ["m.bdf.csv", "m.bdf.metadata.json"]
    assert expected in reasons["m.bdf.metadata.json"]
    assert not any((root / "inbox").iterdir())


def test_bad_json_and_odd_entries_are_quarantined(
    ev: FileExchangeEvaluator, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ev.submit(KNOWN, trial_id="trial-0001")
    inbox = root / "inbox"
    (inbox / "j.bdf.metadata.json").write_text("{'trial_id': nope")
    (inbox / "nan.bdf.metadata.json").write_text('{"trial_id": "trial-0001", "final": NaN}')
    (inbox / "folder.bdf.csv").mkdir()
    (inbox / "notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        report = ev.scan()
    reasons = quarantined(root)
    assert "not valid JSON" in reasons["j.bdf.metadata.json"]
    assert "NaN is not allowed" in reasons["nan.bdf.metadata.json"]
    assert "a folder" in reasons["folder.bdf.csv"]
    assert "unexpected file name 'notes.txt'" in reasons["notes.txt"]
    assert sorted(report.quarantined) == sorted(reasons)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 4


def test_incomplete_pairs_wait_for_the_grace_period(
    ev: FileExchangeEvaluator, root: Path, clock: FakeClock
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    lab = StandInLab(root)
    frame = fade_frame(lab.ticket("trial-0001"))
    write_bdf(frame, root / "inbox" / "lonely.bdf.csv")  # data, and its sentinel...
    (root / "inbox" / "lonely.bdf.metadata.json").unlink()  # ...never arrives
    sentinel = {"trial_id": tid(root, "trial-0001"), "cell_id": "X", "final": True}
    (root / "inbox" / "orphan.bdf.metadata.json").write_text(json.dumps(sentinel))
    (root / "inbox" / ".upload.tmp").write_text("half a file")
    report = ev.scan()
    assert sorted(report.waiting) == [".upload.tmp", "lonely.bdf.csv",
                                      "orphan.bdf.metadata.json"]
    assert ev.status(job).state is JobState.QUEUED
    clock.advance_h(1.01)  # incomplete_grace_s = 3600
    ev.scan()
    reasons = quarantined(root)
    assert "no metadata file lonely.bdf.metadata.json" in reasons["lonely.bdf.csv"]
    assert "metadata file without its data file" in reasons["orphan.bdf.metadata.json"]
    assert "hidden temporary file" in reasons[".upload.tmp"]


def test_parquet_with_a_named_data_file_and_its_own_area(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    lab = StandInLab(root)
    frame = fade_frame(lab.ticket("trial-0001"))
    write_bdf(frame, lab.staging / "run42.bdf.parquet")
    os.replace(lab.staging / "run42.bdf.parquet", root / "inbox" / "run42.bdf.parquet")
    meta = {"trial_id": tid(root, "trial-0001"), "cell_id": "P", "final": True,
            "data_file": "run42.bdf.parquet", "electrode_area_cm2": 2.0}
    (root / "inbox" / "sentinel.bdf.metadata.json").write_text(json.dumps(meta))
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED
    assert Path(result.bdf_path or "").name == "001_run42.bdf.parquet"
    assert (root / "accepted" / "trial-0001" / "001_run42.bdf.metadata.json").is_file()
    assert result.metrics == recompute(KNOWN, result.bdf_path or "", area_cm2=2.0)
    assert result.metadata["electrode_area_cm2"] == 2.0


def test_gzip_file_in_milliamps_is_converted_and_recorded(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    frame = fade_frame(StandInLab(root).ticket("trial-0001"))
    frame = frame.rename(columns={"Current / A": "Current / mA"})
    frame["Current / mA"] *= 1000.0
    packed = gzip.compress(frame.to_csv(index=False).encode())
    (root / "inbox" / "z.bdf.csv.gz").write_bytes(packed)
    meta = {"trial_id": tid(root, "trial-0001"), "cell_id": "Z", "final": True}
    (root / "inbox" / "z.bdf.metadata.json").write_text(json.dumps(meta))
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert Path(result.bdf_path or "").name == "001_z.bdf.csv.gz"
    assert result.metrics == recompute(KNOWN, result.bdf_path or "")
    conversions = result.metadata["ingest_report"]["conversions"]
    assert [(c["column"], c["scale"]) for c in conversions] == [("Current / mA", 0.001)]


def test_a_crash_mid_ingestion_is_recovered(ev: FileExchangeEvaluator, root: Path) -> None:
    job = ev.submit(KNOWN, trial_id="trial-0001")
    lab = StandInLab(root)
    lab.answer("trial-0001")
    for name in os.listdir(root / "inbox"):  # as if a reader died after its first move
        os.rename(root / "inbox" / name, root / "state" / "processing" / name)
    assert ev.status(job).state is JobState.SUCCEEDED
    assert not any((root / "state" / "processing").iterdir())
    # A crash after the state was saved but before the files moved: they are filed, not re-read.
    kept = sorted((root / "accepted" / "trial-0001").iterdir())
    for path in kept:
        os.rename(path, root / "state" / "processing" / path.name.removeprefix("001_"))
    assert ev.status(job).state is JobState.SUCCEEDED
    assert sorted((root / "accepted" / "trial-0001").iterdir()) == kept
    assert quarantined(root) == {}


def test_half_cell_metrics_invert_the_efficiency(root: Path, clock: FakeClock) -> None:
    ev = FileExchangeEvaluator(options(root, cell="half", protocol={"formation_cycles": 0}),
                               clock=clock)
    job = ev.submit(KNOWN, trial_id="trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("trial-0001")
    assert (ticket["protocol"]["voltage_min_V"], ticket["protocol"]["voltage_max_V"]) == (
        0.01, 1.5)
    lab.answer("trial-0001")
    result = ev.fetch(job)
    frame, _ = read_bdf(result.bdf_path or "")
    expected = measured_metrics(KNOWN, frame, electrode_area_cm2=1.54, cell="half",
                                planned_cycles=30)
    assert result.metrics == expected.metrics
    # Delivered = delithiation (cycler charge) in a half cell: CE above 1 for this data.
    assert result.metrics["first_cycle_efficiency"] == pytest.approx(1 / 0.85)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({}, "evaluator.options.root: required field is missing"),
        ({"root": "x", "channels": 0}, "evaluator.options.channels"),
        ({"root": "x", "cell": "coin"}, "evaluator.options.cell"),
        ({"root": "x", "protocol": {"charge_c_rate": 0.04}}, "cv_cutoff_c_rate=0.05 must be"),
        ({"root": "x", "protocol": {"voltage_min_V": 3.0, "voltage_max_V": 3.05}},
         "voltage_max_V - voltage_min_V >= 0.1 V"),
        ({"root": "x", "stale_after_h": 0}, "evaluator.options.stale_after_h"),
        ({"root": "x", "colour": "red"}, "evaluator.options.colour: unknown key"),
    ],
)
def test_bad_options_name_the_field(opts: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match="evaluator.options") as info:
        FileExchangeEvaluator(opts)
    assert expected in str(info.value)


def test_screen_fidelity_comes_from_the_protocol(root: Path) -> None:
    ev = FileExchangeEvaluator(options(root, protocol={"screen_cycles": 10}))
    assert ev.capabilities()["fidelities"] == ["full", "screen"]
    ev.submit(KNOWN, trial_id="trial-0001", fidelity="screen")
    ticket = StandInLab(root).ticket("trial-0001")
    assert ticket["fidelity"] == "screen" and ticket["protocol"]["cycles"] == 10
    assert np.isfinite(ev.capabilities()["est_duration_s"])
