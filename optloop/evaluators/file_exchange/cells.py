"""The cell id a lab writes back: checked against the ticket when it is a checked id.

Every ticket prints a checked cell id (:func:`.ids.make_cell_id`); the lab labels the cell with
it and writes it as ``cell_id``. A ``cell_id`` written as a checked id, or close to one
(:func:`.ids.looks_checked`), is checked here: a malformed one, one that belongs to another
trial's ticket, or one no ticket has is held for review with a reason a technician can act on.
Labs that keep their own labels (free text such as ``CC-0042``) are not refused; their results
are recorded with ``cell_id_checked: false``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from optloop.evaluators.file_exchange.ids import (
    check_id,
    looks_checked,
    normalise_id,
    suggest_ids,
)
from optloop.evaluators.file_exchange.state import JobRecord

__all__ = ["CellCheck", "check_cell_id"]


@dataclass(frozen=True)
class CellCheck:
    """What the intake found about a file's ``cell_id``.

    Attributes:
        checked: True when the cell id is the checked id on the file's ticket.
        problem: Why the file must be held for review; None when it may be recorded.
    """

    checked: bool
    problem: str | None = None


def _limit(record: JobRecord) -> str:
    return f"limit: the cell id on the ticket of {record.ticket_id}, {record.lab_cell_id}"


def check_cell_id(written: object, record: JobRecord, records: Iterable[JobRecord]) -> CellCheck:
    """Check a file's ``cell_id`` against the ticket of the trial it names.

    Args:
        written: The metadata's ``cell_id`` as written (text or a number).
        record: The job of the trial the file names (already resolved and open).
        records: Every job of the exchange (whose tickets' cell ids may be meant).

    Returns:
        ``checked`` True when it is the ticket's cell id (case, spaces and O/I/L for 0/1/1
        forgiven); False for a lab's own label or a ticket that printed no cell id. A
        ``problem`` (naming the field, the value and the limit) when it is written as a checked
        id but is malformed, is a trial id, belongs to another trial's ticket, or belongs to no
        ticket.
    """
    if not looks_checked(written):
        return CellCheck(checked=False)
    assert isinstance(written, str)  # looks_checked is False for anything else
    others = [r for r in records if r.job_id != record.job_id and r.lab_cell_id]
    t = normalise_id(written)
    mine = record.lab_cell_id
    if mine is not None and t == normalise_id(mine):
        return CellCheck(checked=True)
    owner = next((r for r in others if normalise_id(r.lab_cell_id or "") == t), None)
    if owner is not None:
        return CellCheck(
            checked=False,
            problem=(
                f"cell id {t} belongs to trial {owner.ticket_id}, the file says trial "
                f"{record.ticket_id}: check which cell this is (cell_id={written!r}"
                + (f"; {_limit(record)})" if mine is not None else ")")
            ),
        )
    if mine is None:
        return CellCheck(checked=False)  # the ticket printed no cell id: the lab's own label
    if t.startswith("T-"):
        return CellCheck(
            checked=False,
            problem=f"cell_id={written!r} is a trial id, not a cell id; {_limit(record)}",
        )
    problem = check_id(written, kind="C")
    if problem is None:
        return CellCheck(
            checked=False,
            problem=(
                f"cell_id={written!r} is no ticket's cell id (a cell of another exchange "
                f"folder?); {_limit(record)}"
            ),
        )
    open_cells = {
        normalise_id(r.lab_cell_id): r.ticket_id
        for r in [record, *others]
        if r.lab_cell_id and not r.state.is_terminal
    }
    near = suggest_ids(written, open_cells)
    hint = (
        "; did you mean "
        + " or ".join(f"{c} (trial {open_cells[normalise_id(c)]})" for c in near)
        + "?"
        if near
        else ""
    )
    return CellCheck(
        checked=False,
        problem=f"cell_id={written!r} is not a valid cell id ({problem}); {_limit(record)}{hint}",
    )
