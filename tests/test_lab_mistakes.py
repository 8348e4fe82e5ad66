"""A lab's mistakes replayed against the file exchange: each is caught, with a reason to act on.

Each test drops what a real lab dropped (a file labelled with another real trial id, a file for
a cancelled trial, files copied with old timestamps, a European CSV, bad metadata, partial then
final data, a lost cell and its rebuild) and checks the outcome and the reason text, and that
nothing is lost (every file is in ``accepted/`` or ``quarantine/``) or recorded wrongly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from test_file_exchange import (
    KNOWN,
    FakeClock,
    StandInLab,
    frame_from_plan,
    options,
    quarantined,
    tid,
)

from optloop.campaign import Campaign
from optloop.cli import cli
from optloop.config import config_from_dict
from optloop.data import read_bdf, write_bdf
from optloop.evaluators.base import JobState
from optloop.evaluators.file_exchange import FileExchangeEvaluator
from optloop.evaluators.file_exchange.ids import is_valid_id, make_id
from optloop.evaluators.file_exchange.inbox import FIRST_SEEN_FILE
from optloop.evaluators.file_exchange.precheck import precheck_file
from optloop.evaluators.measured import measured_metrics
from optloop.store import TrialStatus

ROOT = Path(__file__).resolve().parents[1]

#: A thin film on 5 um graphite, no lithium: nominal 0.535 mAh on 1.54 cm2, where KNOWN
#: has 3.36 mAh; KNOWN's data on this ticket deliver 6.3 x its nominal.
SMALL: dict[str, Any] = json.loads(json.dumps(KNOWN))
SMALL["carbon_layer"]["thickness_um"] = 5.0
SMALL["alloy_layer"]["thickness_um"] = 0.2
SMALL["lithium_layer"] = None

#: Words that must never reach a technician: parser jargon, Python types, "None".
JARGON = ("Error tokenizing", "C error", "Traceback", "(trial None)", "ParserError",
          "pandas", "ValueError")


def cell_frame(ticket: dict[str, Any], *, ce: float = 0.995, cycles: int | None = None,
               scale: float = 1.0, fade: float = 0.02, running: bool = False) -> pd.DataFrame:
    """Return a cell's BDF data for a ticket: one formation cycle (CE 0.85), then ``ce``.

    Cycle n after formation delivers ``Q_nom * scale * (1 - fade (n - 1))``, until the
    protocol's cycles or 75 % of the first; ``cycles`` cuts the list (formation included).
    """
    q_nom = ticket["recipe"]["cell"]["nominal_capacity_mAh"] / 1000.0 * scale
    plan = [(1.05 * q_nom, 0.85)]
    for n in range(1, ticket["protocol"]["cycles"] + 1):
        q = q_nom * (1.0 - fade * (n - 1))
        plan.append((q, ce))
        if q < 0.75 * q_nom:
            break
    plan = plan[:cycles] if cycles is not None else plan
    return frame_from_plan(plan, q_nom, running=running)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "exchange"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ev(root: Path, clock: FakeClock) -> FileExchangeEvaluator:
    return FileExchangeEvaluator(options(root), clock=clock)


def accounted(root: Path, sent: set[str]) -> None:
    """Assert every file the lab sent is in accepted/ or quarantine/, and the inbox is empty."""
    assert not any((root / "inbox").iterdir()), sorted(os.listdir(root / "inbox"))
    kept = {p.name.split("_", 1)[1] for p in (root / "accepted").rglob("*") if p.is_file()}
    held = set(quarantined(root))
    assert sent <= kept | held, sorted(sent - kept - held)


def no_jargon(text: str, root: Path) -> None:
    for word in JARGON:
        assert word not in text, (word, text)
    assert str(root) not in text, text


# --- trial ids ---------------------------------------------------------------------------------


def test_ticket_ids_are_checked_and_unrelated_for_neighbouring_trials(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    ids = []
    for n in range(1, 41):
        ev.submit(KNOWN, trial_id=f"c.trial-{n:04d}")
        ids.append(tid(root, f"c.trial-{n:04d}"))
    assert len(set(ids)) == 40 and all(is_valid_id(i, kind="T") for i in ids)
    # Not sequential: neighbouring trials share at most chance characters in their bodies.
    shared = [sum(a == b for a, b in zip(x[2:], y[2:], strict=True))
              for x, y in zip(ids, ids[1:], strict=False)]
    assert max(shared) <= 3, shared
    # Every single-character typo and every swap of two characters of every id is invalid.
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXY"
    for i in ids:
        for p in range(2, len(i)):
            for ch in alphabet:
                if ch != i[p]:
                    assert not is_valid_id(i[:p] + ch + i[p + 1:]), (i, p, ch)
            for q in range(p + 1, len(i)):
                if i[p] != i[q]:
                    s = list(i)
                    s[p], s[q] = s[q], s[p]
                    assert not is_valid_id("".join(s)), (i, p, q)
    # A trial id is never a valid cell id, and the same key always gives the same id.
    assert not is_valid_id("C" + ids[0][1:]) and make_id("fx-c.trial-0001") == ids[0]
    ticket_md = (root / "outbox" / "c.trial-0001.ticket.md").read_text()
    assert f"# Job ticket {ids[0]}" in ticket_md


def test_wrong_but_real_trial_id_is_held_and_the_right_one_suggested(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    big = ev.submit(KNOWN, trial_id="c.trial-0007")
    small = ev.submit(SMALL, trial_id="c.trial-0008")
    lab = StandInLab(root)
    id7, id8 = tid(root, "c.trial-0007"), tid(root, "c.trial-0008")
    data7 = cell_frame(lab.ticket("c.trial-0007"))
    # Trial 7's cell, labelled with trial 8's (real) id.
    lab.send("mixup", {"trial_id": id8, "cell_id": "K-7", "final": True}, data7)
    ev.scan()
    reason = quarantined(root)["mixup.bdf.csv"]
    assert reason.startswith("held for review, check the trial id: the data do not fit "
                             f"the ticket of {id8}: delivered capacity")
    assert "x the ticket's nominal 0.5352 mAh (allowed: 0.1 to 1.2 x)" in reason
    assert f"the capacity fits the ticket of {id7} (nominal 3.356 mAh)" in reason
    assert '"reviewed"' in reason  # how to have it accepted after all
    no_jargon(reason, root)
    for job in (big, small):  # nothing recorded for either trial
        assert ev.status(job).state is JobState.QUEUED
    assert not (root / "accepted").exists() or not any((root / "accepted").iterdir())

    # A one-character typo and a swap of two characters: unknown, with the nearest id.
    typo = id7[:4] + ("0" if id7[4] != "0" else "1") + id7[5:]
    swap = id7[:3] + id7[4] + id7[3] + id7[5:]
    lab.send("typo", {"trial_id": typo, "cell_id": "K-7", "final": True}, data7)
    lab.send("swap", {"trial_id": swap, "cell_id": "K-7", "final": True}, data7)
    ev.scan()
    reasons = quarantined(root)
    for stem, written in (("typo", typo), ("swap", swap)):
        text = reasons[f"{stem}.bdf.metadata.json"]
        assert text.startswith(f"unknown trial: trial_id {written!r} is not a ticket of this "
                               f"exchange ({written!r} fails its check character")
        assert text.split("\n")[0].endswith(f"; check the trial id on the ticket; did you "
                                            f"mean {id7}?")
    # The ticket's file name is not its trial id (a typo in it would name a neighbour).
    lab.send("byname", {"trial_id": "c.trial-0007", "cell_id": "K-7", "final": True}, data7)
    ev.scan()
    assert f"has trial id {id7}" in quarantined(root)["byname.bdf.metadata.json"]

    # The right id, in lower case with a confusable O for 0: accepted for trial 7 only.
    written = id7.lower().replace("0", "o")
    lab.send("right", {"trial_id": written, "cell_id": "K-7", "final": True}, data7)
    result = ev.fetch(big)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert ev.status(small).state is JobState.QUEUED
    frame, _ = read_bdf(result.bdf_path or "")
    assert result.metrics["discharge_capacity_Ah"] == pytest.approx(
        measured_metrics(KNOWN, frame, electrode_area_cm2=1.54, formation_cycles=1,
                         planned_cycles=30).metrics["discharge_capacity_Ah"], rel=1e-12)
    accounted(root, {f"{s}.bdf.csv" for s in ("mixup", "typo", "swap", "byname", "right")})


def test_full_cell_efficiency_above_one_is_held_unless_reviewed(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    t1 = tid(root, "c.trial-0001")
    high = cell_frame(lab.ticket("c.trial-0001"), ce=1.015)
    lab.send("ce", {"trial_id": t1, "cell_id": "A", "final": True}, high)
    assert ev.status(job).state is JobState.QUEUED
    reason = quarantined(root)["ce.bdf.csv"]
    assert "coulombic efficiency 1.0150 (median after formation) is above 1 + " \
           "ce_tolerance=0.005" in reason
    # A person checked it (say a calibration offset) and drops it again, marked reviewed.
    lab.send("ce2", {"trial_id": t1, "cell_id": "A", "final": True,
                     "reviewed": "AB: cycler offset confirmed"}, high)
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["reviewed"] == "AB: cycler offset confirmed"
    assert "coulombic efficiency 1.0150" in result.metadata["plausibility_warnings"][0]


def test_cycle_count_against_the_protocol(ev: FileExchangeEvaluator, root: Path) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    t1 = tid(root, "c.trial-0001")
    ticket = lab.ticket("c.trial-0001")
    long_ticket = {**ticket, "protocol": {**ticket["protocol"], "cycles": 60}}
    lab.send("long", {"trial_id": t1, "cell_id": "A", "final": True},
             cell_frame(long_ticket, fade=0.001))
    ev.scan()
    assert "60 cycles after formation; the ticket's protocol asks for 30" in (
        quarantined(root)["long.bdf.csv"])
    assert ev.status(job).state is JobState.QUEUED


# --- cancelled trials, through every path ------------------------------------------------------


def test_cancel_through_the_evaluator_writes_the_reason_and_quarantines_late_files(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("c.trial-0001")
    ev.cancel(job, reason="substrate cracked")
    note = json.loads((root / "outbox" / "c.trial-0001.cancel.json").read_text())
    assert note["reason"] == "substrate cracked" and note["trial_id"] == ticket["trial_id"]
    assert not (root / "outbox" / "c.trial-0001.ticket.json").exists()
    lab.send("late", {"trial_id": ticket["trial_id"], "cell_id": "A", "final": True},
             cell_frame(ticket))
    ev.scan()
    reason = quarantined(root)["late.bdf.csv"]
    assert reason.startswith(f"cancelled trial: {ticket['trial_id']} was cancelled "
                             "(substrate cracked) and its ticket retired; nothing is recorded")
    notices = [n for n in ev.notices() if n["file"] == "late.bdf.csv"]
    assert notices and notices[0]["trial_id"] == "c.trial-0001"
    assert ev.fetch(job).state is JobState.CANCELLED
    accounted(root, {"late.bdf.csv"})


def quick_config(tmp_path: Path, root: Path) -> Path:
    """Write a small campaign config on the file exchange; return its path."""
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {"name": "file_exchange", "options": options(root)}
    data["optimiser"].update(budget=8, initial_designs=4, batch_size=4)
    config_from_dict(data)  # valid
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cancel_and_abandon_from_the_api_and_the_cli_always_tell_the_lab(
    tmp_path: Path, root: Path
) -> None:
    cfg_path = quick_config(tmp_path, root)
    cfg = config_from_dict(yaml.safe_load(cfg_path.read_text()))
    with Campaign(cfg) as camp:
        camp.tick()  # four tickets out
        running = {t.id: t for t in camp.store.trials([TrialStatus.RUNNING])}
    assert sorted(running) == [1, 2, 3, 4]
    lab = StandInLab(root)
    tickets = {n: lab.ticket(f"quick.trial-{n:04d}") for n in running}

    # 1. The Python API, the evaluator not loaded yet (a fresh campaign object).
    with Campaign(cfg) as camp:
        assert camp._evaluator is None
        camp.abandon(1, "wrong cathode batch")
    # 2. `optloop abandon` by trial name; 3. `optloop cancel` by the ticket's trial id.
    runner = CliRunner()
    out = runner.invoke(cli, ["abandon", str(cfg_path), "trial-0002", "--reason", "glovebox O2"])
    assert out.exit_code == 0, out.output
    assert "trial 2 (trial-0002): running -> abandoned; job fx-quick.trial-0002 cancelled" in (
        out.output)
    out = runner.invoke(cli, ["cancel", str(cfg_path), tickets[3]["trial_id"].lower(),
                              "--reason", "channel needed"])
    assert out.exit_code == 0, out.output
    # 4. A trial abandoned straight in the store (as before the fix): abandoning it again
    #    through the CLI repairs it.
    with Campaign(cfg) as camp:
        camp.store.transition(4, TrialStatus.ABANDONED, "old way", reason="old way")
    out = runner.invoke(cli, ["abandon", str(cfg_path), "4", "--reason", "old way"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["abandon", str(cfg_path), "T-0000000", "--reason", "x"])
    assert out.exit_code == 2 and "not found in campaign 'quick'" in out.output

    reasons = {1: "wrong cathode batch", 2: "glovebox O2", 3: "channel needed", 4: "old way"}
    for n, why in reasons.items():
        note = json.loads((root / "outbox" / f"quick.trial-{n:04d}.cancel.json").read_text())
        assert note["reason"] == why and note["trial_id"] == tickets[n]["trial_id"], n
        assert not (root / "outbox" / f"quick.trial-{n:04d}.ticket.json").exists()
    # The lab, not having seen the notes, sends final files for all four.
    sent = set()
    for n, ticket in tickets.items():
        lab.send(f"late{n}", {"trial_id": ticket["trial_id"], "cell_id": f"K{n}",
                              "final": True}, cell_frame(ticket))
        sent.add(f"late{n}.bdf.csv")
    with Campaign(cfg) as camp:
        assert isinstance(camp.evaluator, FileExchangeEvaluator)
        camp.evaluator.scan()
        trials = {t.id: t for t in camp.store.trials()}
        shown = camp.status()["evaluator_notices"]
    held = quarantined(root)
    for n, why in reasons.items():
        assert trials[n].status is TrialStatus.ABANDONED and trials[n].reason == why
        assert trials[n].outcomes == {}
        assert held[f"late{n}.bdf.csv"].startswith(
            f"cancelled trial: {tickets[n]['trial_id']} was cancelled ({why})")
    assert {n["file"] for n in shown} >= sent  # every late file is a notice in the status
    accounted(root, sent)
    assert not (root / "accepted").exists() or not any((root / "accepted").iterdir())


# --- timestamps, CSV dialects, metadata --------------------------------------------------------


def test_files_copied_with_old_timestamps_wait_from_first_sight_across_restarts(
    ev: FileExchangeEvaluator, root: Path, clock: FakeClock
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("c.trial-0001")
    inbox = root / "inbox"
    write_bdf(cell_frame(ticket), inbox / "copied.bdf.csv")  # rsync -t: data first...
    (inbox / "copied.bdf.metadata.json").unlink()  # ...its sentinel later
    two_days_ago = clock.now - 2 * 86400
    os.utime(inbox / "copied.bdf.csv", (two_days_ago, two_days_ago))
    assert ev.scan().waiting == ["copied.bdf.csv"]
    seen = json.loads((root / "state" / FIRST_SEEN_FILE).read_text())
    assert seen == {"copied.bdf.csv": clock.now}
    clock.advance_h(0.9)
    restarted = FileExchangeEvaluator(options(root), clock=clock)  # a cron tick, say
    assert restarted.scan().waiting == ["copied.bdf.csv"]  # 54 min since first seen
    meta = {"trial_id": ticket["trial_id"], "cell_id": "A", "final": True}
    (inbox / "copied.bdf.metadata.json").write_text(json.dumps(meta))
    os.utime(inbox / "copied.bdf.metadata.json", (two_days_ago, two_days_ago))
    assert restarted.fetch(job).state is JobState.SUCCEEDED
    assert json.loads((root / "state" / FIRST_SEEN_FILE).read_text()) == {}

    # A lone old file is still quarantined, one grace period after optloop first saw it.
    write_bdf(cell_frame(ticket), inbox / "lone.bdf.csv")
    (inbox / "lone.bdf.metadata.json").unlink()
    os.utime(inbox / "lone.bdf.csv", (two_days_ago, two_days_ago))
    assert restarted.scan().waiting == ["lone.bdf.csv"]
    clock.advance_h(1.01)
    FileExchangeEvaluator(options(root), clock=clock).scan()
    assert "after incomplete_grace_s=3600 s (counted from when optloop first saw the data " \
           "file)" in quarantined(root)["lone.bdf.csv"]


def european_csv(frame: pd.DataFrame) -> str:
    """Return a frame as a European cycler export: ';' separator, decimal comma."""
    return str(frame.to_csv(index=False, sep=";", decimal=","))


def test_european_csv_is_read_and_a_mixed_one_named_as_the_cause(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("c.trial-0001")
    frame = cell_frame(ticket)
    meta = {"trial_id": ticket["trial_id"], "cell_id": "EU", "final": True}
    # A ','-separated file with decimal commas, as a cycler writes it (no quotes): every row
    # has more values than the header (pandas alone would take them as an index, silently).
    header = ",".join(frame.columns)
    rows = [",".join(str(float(x)).replace(".", ",") if isinstance(x, float) else str(x)
                     for x in row) for row in frame.itertuples(index=False)]
    lab.send("mixed", meta, raw_csv="\n".join([header, *rows]) + "\n")
    # The same, quoted (as pandas writes it): the values are text with a decimal comma.
    lab.send("quoted", meta, raw_csv=frame.to_csv(index=False, decimal=","))
    ev.scan()
    reasons = quarantined(root)
    reason = reasons["mixed.bdf.csv"]
    assert reason.startswith("malformed data: mixed.bdf.csv: ")
    assert f"values but the header has {len(frame.columns)}: probably a decimal comma in a " \
           "','-separated file (use ';' as the separator)" in reason
    assert "accepted: ',' separator with decimal point (1.5); ';' separator with decimal " \
           "comma (1,5) or point" in reason
    no_jargon(reason, root)
    quoted = reasons["quoted.bdf.csv"]
    assert "is '0,0'; limit: a finite number (a decimal comma: use ';' as the separator" in quoted
    no_jargon(quoted, root)
    lab.send("eu", meta, raw_csv=european_csv(frame))
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert result.metadata["ingest_report"]["csv_dialect"] == "';' separator, decimal comma"
    pre = precheck_file(ev.options, Path(result.bdf_path or ""))
    assert pre.metrics == result.metrics and pre.notes[0] == (
        "read as CSV with ';' separator, decimal comma")
    expected = measured_metrics(KNOWN, frame, electrode_area_cm2=1.54, formation_cycles=1,
                                planned_cycles=30)
    for name, value in expected.metrics.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-9), name


def test_bad_metadata_names_the_trial_from_the_file_name(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("c.trial-0001")
    stem = f"{ticket['trial_id']}__K1"
    lab.send(stem, {"cell_id": "K1", "final": "yes"}, cell_frame(ticket))
    ev.scan()
    reason = quarantined(root)[f"{stem}.bdf.metadata.json"]
    assert reason.startswith("malformed metadata: trial_id is missing; limit: the trial id "
                             "printed on the ticket")
    assert "final='yes'; limit: true or false" in reason
    assert reason.split("\n")[0].endswith(f"(the file name names trial {ticket['trial_id']})")
    no_jargon(reason, root)
    assert f"\ntrial id (on the ticket): {ticket['trial_id']}\nticket file: c.trial-0001\n" in (
        reason)
    notices = {n["file"]: n for n in ev.notices()}
    assert notices[f"{stem}.bdf.csv"]["trial_id"] == "c.trial-0001"
    assert notices[f"{stem}.bdf.csv"]["ticket_id"] == ticket["trial_id"]
    accounted(root, {f"{stem}.bdf.csv"})


# --- partial then final; lost cell and rebuild -------------------------------------------------


def test_partial_then_an_early_final_then_the_real_final(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("c.trial-0001")
    t1 = ticket["trial_id"]
    lab.send("p", {"trial_id": t1, "cell_id": "A", "final": False},
             cell_frame(ticket, cycles=5, running=True))
    assert ev.status(job).state is JobState.RUNNING and ev.status(job).cycles_done == 5
    # The technician marks the next partial file final by mistake: held, nothing changes.
    lab.send("p2", {"trial_id": t1, "cell_id": "A", "final": True}, cell_frame(ticket, cycles=8))
    status = ev.status(job)
    assert status.state is JobState.RUNNING and status.cycles_done == 5
    assert "final=true but the test stopped after 7 of 30 cycles, before end of life" in (
        quarantined(root)["p2.bdf.csv"])
    lab.send("f", {"trial_id": t1, "cell_id": "A", "final": True}, cell_frame(ticket))
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED and not result.censored["cycle_life"]
    names = sorted(p.name for p in (root / "accepted" / "c.trial-0001").glob("*.bdf.csv"))
    assert names == ["001_p.bdf.csv", "002_f.bdf.csv"]
    accounted(root, {"p.bdf.csv", "p2.bdf.csv", "f.bdf.csv"})


def test_lost_cell_and_its_rebuild(ev: FileExchangeEvaluator, root: Path) -> None:
    first = ev.submit(KNOWN, trial_id="c.trial-0003")
    lab = StandInLab(root)
    old = lab.ticket("c.trial-0003")
    lab.send("lost", {"trial_id": old["trial_id"], "cell_id": "K3", "final": True,
                      "status": "lost", "reason": "shorted in formation"})
    assert ev.status(first).state is JobState.LOST
    rebuild = ev.submit(KNOWN, trial_id="c.trial-0003-r1")  # what the campaign does
    new = lab.ticket("c.trial-0003-r1")
    assert new["trial_id"] != old["trial_id"] and is_valid_id(new["trial_id"])
    # Data of the rebuilt cell labelled with the lost cell's id: held, pointing at the rebuild.
    lab.send("old", {"trial_id": old["trial_id"], "cell_id": "K3b", "final": True},
             cell_frame(new))
    ev.scan()
    reason = quarantined(root)["old.bdf.csv"]
    assert reason.startswith(f"cell declared lost: trial {old['trial_id']} ended as lost "
                             "(lab reported lost: shorted in formation)")
    assert f"its rebuild has its own ticket and trial id {new['trial_id']}" in reason
    lab.send("new", {"trial_id": new["trial_id"], "cell_id": "K3b", "final": True},
             cell_frame(new))
    assert ev.fetch(rebuild).state is JobState.SUCCEEDED
    assert ev.fetch(first).state is JobState.LOST
    accounted(root, {"old.bdf.csv", "new.bdf.csv"})


# --- the pre-check matches what is recorded ----------------------------------------------------


def test_data_metrics_with_config_is_what_the_exchange_records(
    tmp_path: Path, root: Path, clock: FakeClock
) -> None:
    cfg_path = quick_config(tmp_path, root)
    ev = FileExchangeEvaluator(options(root), clock=clock)
    job = ev.submit(KNOWN, trial_id="quick.trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("quick.trial-0001")
    staged = tmp_path / "precheck" / "x.bdf.csv"
    staged.parent.mkdir()
    write_bdf(cell_frame(ticket), staged, {"trial_id": ticket["trial_id"], "cell_id": "A",
                                           "final": True})
    runner = CliRunner()
    out = runner.invoke(cli, ["data", "metrics", "--config", str(cfg_path), "--json",
                              str(staged)])
    assert out.exit_code == 0, out.output
    pre = json.loads(out.output)
    assert pre["verdict"] == "accepted" and pre["trial_id"] == ticket["trial_id"]
    text = runner.invoke(cli, ["data", "metrics", "--config", str(cfg_path), str(staged)])
    assert "intake: accepted" in text.output and "first-cycle efficiency: 0.85" in text.output
    os.replace(staged, root / "inbox" / staged.name)
    os.replace(staged.with_name("x.bdf.metadata.json"), root / "inbox" / "x.bdf.metadata.json")
    result = ev.fetch(job)
    assert pre["metrics"] == result.metrics and pre["censored"] == result.censored
    # Without --config the file's own defaults count no formation cycle: another FCE.
    plain = json.loads(runner.invoke(cli, ["data", "metrics", "--json",
                                           result.bdf_path or ""]).output)
    assert plain["metrics"]["cycles_completed"] == result.metrics["cycles_completed"] + 1
    # A file that would be held says so, with the reason.
    write_bdf(cell_frame(ticket, ce=1.02), staged)
    out = runner.invoke(cli, ["data", "metrics", "--config", str(cfg_path), "--trial",
                              ticket["trial_id"], str(staged)])
    assert out.exit_code == 0 and "intake: HELD FOR REVIEW" in out.output
    assert "coulombic efficiency 1.0200" in out.output
    # A trial id that names no ticket: the pre-check says the intake would refuse it.
    write_bdf(cell_frame(ticket), staged, {"trial_id": "T-0000000", "cell_id": "A",
                                           "final": True})
    pre = precheck_cli_json(cfg_path, staged)
    assert pre["verdict"] == "held for review" and pre["trial_id"] is None
    assert "unknown trial: trial_id 'T-0000000'" in pre["plausibility_problems"][0]
    assert set(pre["metrics"]) < set(result.metrics)  # only those that need no design


def precheck_cli_json(config: Path, data_file: Path) -> dict[str, Any]:
    out = CliRunner().invoke(cli, ["data", "metrics", "--config", str(config), "--json",
                                   str(data_file)])
    assert out.exit_code == 0, out.output
    return dict(json.loads(out.output))


def test_a_store_from_before_ticket_ids_keeps_working(
    ev: FileExchangeEvaluator, root: Path, clock: FakeClock
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    ticket = StandInLab(root).ticket("c.trial-0001")
    path = root / "state" / f"{job}.json"
    old = json.loads(path.read_text())
    for key in ("lab_id", "cancel_reason"):  # fields added with ticket ids
        old.pop(key)
    path.write_text(json.dumps(old))
    fresh = FileExchangeEvaluator(options(root), clock=clock)
    assert fresh.job_for_ticket("c.trial-0001") == job
    StandInLab(root).send("legacy", {"trial_id": "c.trial-0001", "cell_id": "A", "final": True},
                          cell_frame(ticket))
    result = fresh.fetch(job)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert json.loads(path.read_text())["lab_id"] is None
