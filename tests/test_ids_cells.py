"""Checked cell ids: every ticket prints one, and the intake holds a cell id that is not its own.

Each ticket carries a checked cell id (kind ``C``, from the job key and the cell's attempt). A
``cell_id`` written as a checked id is checked against the ticket of the trial the file names:
a swap between two tickets, a typo or a trial id in its place is held for review with a reason
(nothing recorded); the ticket's own id is recorded with ``cell_id_checked: true``; a lab's own
label is recorded with ``cell_id_checked: false``. Deterministic: fixed keys, a fake clock.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_file_exchange import KNOWN, FakeClock, StandInLab, options, quarantined
from test_lab_mistakes import accounted, cell_frame, no_jargon

from optloop.data import write_bdf
from optloop.evaluators.base import JobState
from optloop.evaluators.file_exchange import FileExchangeEvaluator
from optloop.evaluators.file_exchange.ids import (
    is_valid_id,
    looks_checked,
    make_cell_id,
)
from optloop.evaluators.file_exchange.precheck import precheck_file
from optloop.evaluators.file_exchange.recipe import CELL_ID_INSTRUCTION


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "exchange"


@pytest.fixture
def ev(root: Path) -> FileExchangeEvaluator:
    return FileExchangeEvaluator(options(root), clock=FakeClock())


def _record(root: Path, key: str) -> dict[str, object]:
    return dict(json.loads((root / "state" / f"fx-{key}.json").read_text()))


def _typo(cell: str, at: int = 4) -> str:
    """Return ``cell`` with one character changed (to another character of the alphabet)."""
    return cell[:at] + ("0" if cell[at] != "0" else "1") + cell[at + 1:]


def test_a_ticket_shows_its_checked_cell_id_and_a_rebuild_a_new_one(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    ev.submit(KNOWN, trial_id="c.trial-0001")
    ev.submit(KNOWN, trial_id="c.trial-0002")
    lab = StandInLab(root)
    t1, t2 = lab.ticket("c.trial-0001"), lab.ticket("c.trial-0002")
    c1 = t1["cell_id"]
    assert c1 == make_cell_id("fx-c.trial-0001", 1) and is_valid_id(c1, kind="C")
    assert not is_valid_id(c1, kind="T") and c1 != t2["cell_id"]
    assert t1["cell_id_instruction"] == CELL_ID_INSTRUCTION == (
        "label the cell with this id and write it as cell_id")
    assert t1["send_back"]["example_metadata"]["cell_id"] == c1
    md = (root / "outbox" / "c.trial-0001.ticket.md").read_text()
    assert (f"**Cell id: `{c1}`**. Label the cell with this id and write it as cell_id in the "
            "metadata file.") in md
    assert _record(root, "c.trial-0001")["lab_cell_id"] == c1

    # A lost cell's rebuild is a new cell: attempt 2, a new cell id on its ticket.
    lab.send("lost", {"trial_id": t1["trial_id"], "cell_id": c1, "final": True,
                      "status": "lost", "reason": "shorted in formation"})
    ev.scan()
    ev.submit(KNOWN, trial_id="c.trial-0001-r1")
    new = lab.ticket("c.trial-0001-r1")
    assert new["rebuild"]["attempt"] == 2
    assert new["cell_id"] == make_cell_id("fx-c.trial-0001-r1", 2) != c1
    new_md = (root / "outbox" / "c.trial-0001-r1.ticket.md").read_text()
    assert f"**Cell id: `{new['cell_id']}`**" in new_md and "nor its label" in new_md
    # The rebuilt cell's data under the lost cell's label: held, naming both trials.
    lab.send("relabel", {"trial_id": new["trial_id"], "cell_id": c1, "final": True},
             cell_frame(new))
    ev.scan()
    reason = quarantined(root)["relabel.bdf.csv"]
    assert reason.startswith(
        f"held for review, check the cell id: cell id {c1} belongs to trial {t1['trial_id']}, "
        f"the file says trial {new['trial_id']}: check which cell this is")


def test_a_swapped_pair_of_cell_ids_is_held_and_nothing_recorded(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    # Two trials of one design: the data fit either ticket, so only the cell id tells.
    a = ev.submit(KNOWN, trial_id="c.trial-0001")
    b = ev.submit(KNOWN, trial_id="c.trial-0002")
    lab = StandInLab(root)
    ta, tb = lab.ticket("c.trial-0001"), lab.ticket("c.trial-0002")
    lab.send("a", {"trial_id": ta["trial_id"], "cell_id": tb["cell_id"], "final": True},
             cell_frame(ta))
    lab.send("b", {"trial_id": tb["trial_id"], "cell_id": ta["cell_id"], "final": True},
             cell_frame(tb))
    ev.scan()
    reasons = quarantined(root)
    for stem, mine, other in (("a", ta, tb), ("b", tb, ta)):
        for name in (f"{stem}.bdf.csv", f"{stem}.bdf.metadata.json"):  # held as a pair
            text = reasons[name]
            assert text.startswith(
                f"held for review, check the cell id: cell id {other['cell_id']} belongs to "
                f"trial {other['trial_id']}, the file says trial {mine['trial_id']}: check "
                f"which cell this is (cell_id={other['cell_id']!r}; limit: the cell id on the "
                f"ticket of {mine['trial_id']}, {mine['cell_id']}). Nothing was recorded.")
            assert f"trial id (on the ticket): {mine['trial_id']}" in text
            no_jargon(text, root)
    for job in (a, b):
        assert ev.status(job).state is JobState.QUEUED
        assert _record(root, job.removeprefix("fx-"))["accepted"] == []
    notices = {n["file"]: n for n in ev.notices()}
    assert notices["a.bdf.csv"]["ticket_id"] == ta["trial_id"]

    # Sent again with the labels the tickets print: each recorded, checked.
    lab.send("a2", {"trial_id": ta["trial_id"], "cell_id": ta["cell_id"], "final": True},
             cell_frame(ta))
    lab.send("b2", {"trial_id": tb["trial_id"], "cell_id": tb["cell_id"], "final": True},
             cell_frame(tb))
    for job, ticket in ((a, ta), (b, tb)):
        result = ev.fetch(job)
        assert result.state is JobState.SUCCEEDED, result.reason
        assert result.metadata["cell_id"] == ticket["cell_id"]
        assert result.metadata["cell_id_checked"] is True
    accounted(root, {"a.bdf.csv", "b.bdf.csv", "a2.bdf.csv", "b2.bdf.csv"})


def test_a_mistyped_cell_id_is_held_with_the_nearest_suggested(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    ev.submit(KNOWN, trial_id="c.trial-0002")
    lab = StandInLab(root)
    ticket = lab.ticket("c.trial-0001")
    tid, cid = ticket["trial_id"], ticket["cell_id"]
    typo = _typo(cid)
    short = cid[:-1]  # the check character left off: the wrong length
    data = cell_frame(ticket)
    lab.send("typo", {"trial_id": tid, "cell_id": typo, "final": True}, data)
    lab.send("short", {"trial_id": tid, "cell_id": short, "final": True}, data)
    lab.send("trial", {"trial_id": tid, "cell_id": tid, "final": True}, data)
    ev.scan()
    reasons = quarantined(root)
    text = reasons["typo.bdf.csv"].split("\n")[0]
    assert text.startswith(
        f"held for review, check the cell id: cell_id={typo!r} is not a valid cell id "
        f"({typo!r} fails its check character: a character is mistyped or two swapped); "
        f"limit: the cell id on the ticket of {tid}, {cid}; did you mean {cid} (trial {tid})? "
        "Nothing was recorded.")
    text = reasons["short.bdf.csv"].split("\n")[0]
    assert text.startswith(f"held for review, check the cell id: cell_id={short!r} is not a "
                           f"valid cell id ({short!r} is not in the form <letter>-<7 characters>")
    assert f"did you mean {cid} (trial {tid})?" in text
    assert reasons["trial.bdf.csv"].startswith(
        f"held for review, check the cell id: cell_id={tid!r} is a trial id, not a cell id; "
        f"limit: the cell id on the ticket of {tid}, {cid}")
    for t in reasons.values():
        no_jargon(t, root)
    assert ev.status(job).state is JobState.QUEUED

    # The right id, in lower case with a confusable O for 0 if it has a 0: recorded, checked.
    written = cid.lower().replace("0", "o")
    lab.send("right", {"trial_id": tid, "cell_id": written, "final": True}, data)
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert result.metadata["cell_id"] == written and result.metadata["cell_id_checked"] is True
    entry = _record(root, "c.trial-0001")["accepted"][-1]  # type: ignore[index]
    assert entry["cell_id"] == written and entry["cell_id_checked"] is True
    accounted(root, {f"{s}.bdf.csv" for s in ("typo", "short", "trial", "right")})


def test_a_lab_label_is_accepted_unchecked_and_a_reviewed_hold_recorded(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    jobs = [ev.submit(KNOWN, trial_id=f"c.trial-000{n}") for n in (1, 2, 3)]
    lab = StandInLab(root)
    tickets = [lab.ticket(f"c.trial-000{n}") for n in (1, 2, 3)]
    # The lab's own labels: free text (and a number) are recorded, marked unchecked.
    for n, (label, ticket) in enumerate(zip(("CC-0042", 42), tickets, strict=False)):
        lab.send(f"own{n}", {"trial_id": ticket["trial_id"], "cell_id": label, "final": True},
                 cell_frame(ticket))
    for job, label in zip(jobs, ("CC-0042", "42"), strict=False):
        result = ev.fetch(job)
        assert result.state is JobState.SUCCEEDED, result.reason
        assert result.metadata["cell_id"] == label
        assert result.metadata["cell_id_checked"] is False
    entry = _record(root, "c.trial-0001")["accepted"][-1]  # type: ignore[index]
    assert entry["cell_id_checked"] is False
    # A held cell id a person checked ("reviewed"): recorded, unchecked, the problem kept.
    third = tickets[2]
    lab.send("rev", {"trial_id": third["trial_id"], "cell_id": tickets[0]["cell_id"],
                     "final": True, "reviewed": "AB: label misprinted, cell checked by channel"},
             cell_frame(third))
    result = ev.fetch(jobs[2])
    assert result.state is JobState.SUCCEEDED, result.reason
    assert result.metadata["cell_id_checked"] is False
    assert result.metadata["cell_id_warnings"] == [
        f"cell id {tickets[0]['cell_id']} belongs to trial {tickets[0]['trial_id']}, the file "
        f"says trial {third['trial_id']}: check which cell this is "
        f"(cell_id={tickets[0]['cell_id']!r}; limit: the cell id on the ticket of "
        f"{third['trial_id']}, {third['cell_id']})"]
    accounted(root, {"own0.bdf.csv", "own1.bdf.csv", "rev.bdf.csv"})


def test_a_ticket_from_before_cell_ids_takes_any_label_unchecked(
    ev: FileExchangeEvaluator, root: Path
) -> None:
    job = ev.submit(KNOWN, trial_id="c.trial-0001")
    path = root / "state" / f"{job}.json"
    data = json.loads(path.read_text())
    data.pop("lab_cell_id")  # a record written before cell ids existed
    path.write_text(json.dumps(data))
    ticket = StandInLab(root).ticket("c.trial-0001")
    label = make_cell_id("somewhere-else", 1)  # a well-formed id its ticket never printed
    StandInLab(root).send("old", {"trial_id": ticket["trial_id"], "cell_id": label,
                                  "final": True}, cell_frame(ticket))
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED, result.reason
    assert result.metadata["cell_id_checked"] is False


def test_the_pre_check_says_a_cell_id_would_be_held(
    ev: FileExchangeEvaluator, root: Path, tmp_path: Path
) -> None:
    ev.submit(KNOWN, trial_id="c.trial-0001")
    ev.submit(KNOWN, trial_id="c.trial-0002")
    lab = StandInLab(root)
    ta, tb = lab.ticket("c.trial-0001"), lab.ticket("c.trial-0002")
    staged = tmp_path / "pre" / "x.bdf.csv"
    staged.parent.mkdir()
    for cell, verdict, checked in ((tb["cell_id"], "held for review", False),
                                   (ta["cell_id"], "accepted", True),
                                   ("CC-0042", "accepted", False)):
        write_bdf(cell_frame(ta), staged, {"trial_id": ta["trial_id"], "cell_id": cell,
                                           "final": True})
        pre = precheck_file(ev.options, staged).to_dict()
        assert (pre["verdict"], pre["cell_id_checked"]) == (verdict, checked), pre
    write_bdf(cell_frame(ta), staged, {"trial_id": ta["trial_id"], "cell_id": tb["cell_id"],
                                       "final": True})
    assert precheck_file(ev.options, staged).problems == [
        f"check the cell id: cell id {tb['cell_id']} belongs to trial {tb['trial_id']}, the "
        f"file says trial {ta['trial_id']}: check which cell this is "
        f"(cell_id={tb['cell_id']!r}; limit: the cell id on the ticket of {ta['trial_id']}, "
        f"{ta['cell_id']})"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (make_cell_id("k", 1), True),
        (make_cell_id("k", 1).lower(), True),
        (make_cell_id("k", 1)[:-2], True),  # two characters short: a mistyped id
        (make_cell_id("k", 1) + "AB", True),  # two too many
        ("C-12", False),
        ("CC-0042", False),
        ("C-trial-0001", False),
        ("cell 7", False),
        (make_cell_id("k", 1)[:-3], False),  # three short: a lab's own label
        ("T-13XENV8", True),  # a valid trial id where a cell id belongs
        ("T-13XENV9", False),  # not a trial id: a label
        (42, False),
    ],
)
def test_what_counts_as_a_checked_cell_id(text: object, expected: bool) -> None:
    assert looks_checked(text) is expected
