"""The lab's metadata sentinel (``<stem>.bdf.metadata.json``): read safely, checked by a model.

A problem makes a :class:`Rejected` whose message names the field, the value received, the
limit and, when the file names one, the trial; the file then goes to quarantine.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from optloop.evaluators.file_exchange.files import is_safe_id, split_result_name
from optloop.evaluators.file_exchange.recipe import DATA_SUFFIXES

__all__ = [
    "MAX_METADATA_BYTES",
    "LabMetadata",
    "Rejected",
    "data_file_name",
    "parse_metadata",
    "read_metadata",
]

MAX_METADATA_BYTES = 1_000_000

#: The limit stated for each field when the model refuses its value.
_LIMITS: dict[str, str] = {
    "trial_id": "limit: the trial id printed on the ticket (e.g. T-7N35BQ0)",
    "cell_id": "limit: a non-empty string",
    "final": "limit: true or false",
    "status": "allowed: ['failed', 'lost'] or absent",
    "reason": "limit: a non-empty string",
    "electrode_area_cm2": "limit: a number > 0",
    "stack_thickness_um": "limit: a number > 0",
}


class Rejected(Exception):  # noqa: N818 - a verdict, not an error of optloop's own
    """A file (group) that must go to quarantine; the message is the reason."""


class LabMetadata(BaseModel):
    """What the lab says about one data file (see ``docs/lab-file-exchange.md``, section 2).

    Attributes:
        trial_id: The ticket's trial id.
        cell_id: The lab's id of the cell.
        final: True when the test is over; required unless ``status`` is given.
        status: ``"failed"`` or ``"lost"``: the lab reports a failure instead of data.
        reason: Why, required with ``status``.
        electrode_area_cm2: This cell's electrode area, if not the campaign's.
        stack_thickness_um: Full-cell stack thickness, for the volumetric energy density.
        data_file: The data file's name, if its stem differs (checked by
            :func:`data_file_name`, which names a path trick as such).

    Other keys (``operator``, ``channel``, ``notes``, ...) are kept as they are.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    trial_id: str
    cell_id: str | int
    final: bool | None = None
    status: Literal["failed", "lost"] | None = None
    reason: str | None = None
    electrode_area_cm2: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    stack_thickness_um: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    data_file: Any = None

    @field_validator("trial_id")
    @classmethod
    def _safe_trial(cls, v: str) -> str:
        if not is_safe_id(v):
            raise ValueError("not a trial id")
        return v

    @field_validator("cell_id")
    @classmethod
    def _cell(cls, v: str | int) -> str | int:
        if not str(v):
            raise ValueError("empty")
        return v


def _field_problems(raw: dict[str, Any], exc: ValidationError) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in seen:
            continue  # a union reports each of its members; one line per field
        seen.add(field)
        limit = _LIMITS.get(field, err["msg"])
        if err["type"] == "missing":
            out.append(f"{field} is missing; {limit}")
            continue
        value = raw.get(field)
        out.append(f"{field}={value!r}; {limit}")
    return out


def parse_metadata(raw: Any) -> LabMetadata:
    """Check decoded metadata against :class:`LabMetadata`.

    Raises:
        Rejected: ``malformed metadata (trial '<id>'): <field>=<value>; limit: ...``, one
            clause per problem; the trial is left out when the file names none that is valid.
    """
    if not isinstance(raw, dict):
        raise Rejected(f"malformed metadata: must be a JSON object; got {type(raw).__name__}")
    problems: list[str] = []
    model: LabMetadata | None = None
    try:
        model = LabMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = _field_problems(raw, exc)
    # The rules between fields, on what the fields say (one line per field).
    reported = {p.split("=", 1)[0].split(" ", 1)[0] for p in problems}
    status, reason = raw.get("status"), raw.get("reason")
    if status is not None:
        if not (isinstance(reason, str) and reason.strip()) and "reason" not in reported:
            problems.append(f"status={status!r} needs a reason; got reason={reason!r}")
    elif "final" not in reported and not isinstance(raw.get("final"), bool):
        shown = "final is missing" if "final" not in raw else f"final={raw['final']!r}"
        problems.append(f"{shown}; {_LIMITS['final']}")
    if problems:
        trial = raw.get("trial_id")
        where = f" (trial {trial!r})" if is_safe_id(trial) else ""
        raise Rejected(f"malformed metadata{where}: " + "; ".join(problems))
    assert model is not None
    return model


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed in JSON (use a number or null)")


def read_metadata(path: Path) -> tuple[LabMetadata, dict[str, Any]]:
    """Read and check a metadata sentinel without following links.

    Returns:
        The checked model and the lab's JSON object as it was (kept with the result).

    Raises:
        Rejected: If the file cannot be opened, is not a regular file, is larger than
            :data:`MAX_METADATA_BYTES`, is not a JSON object, or breaks :class:`LabMetadata`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise Rejected(f"cannot open metadata file: {exc}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise Rejected("not a regular file")
        raw = fh.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise Rejected(f"malformed metadata: larger than {MAX_METADATA_BYTES} bytes")
    try:
        meta = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(f"malformed metadata: not valid JSON ({exc})") from None
    return parse_metadata(meta), meta


def data_file_name(meta: LabMetadata, companions: list[str]) -> str | None:
    """Return the data file a sentinel belongs to (its ``data_file`` or the same-stem file).

    Raises:
        Rejected: If ``data_file`` is not a plain data-file name in ``inbox/``, or several
            same-stem data files make the choice ambiguous.
    """
    named = meta.data_file
    if named is not None:
        if not isinstance(named, str) or not named:
            raise Rejected(f"malformed metadata: data_file={named!r}; limit: a file name")
        if os.path.isabs(named) or "/" in named or "\\" in named or ".." in named:
            raise Rejected(
                f"path outside inbox/: data_file={named!r}; limit: a plain file name in "
                "inbox/ (no folders, no '..', not absolute)"
            )
        parsed = split_result_name(named)
        if parsed is None or parsed[1] != "data":
            raise Rejected(
                f"malformed metadata: data_file={named!r}; limit: a name ending in one "
                f"of {list(DATA_SUFFIXES)}"
            )
        return named
    if len(companions) > 1:
        raise Rejected(f"ambiguous: several data files for one sentinel: {companions}")
    return companions[0] if companions else None
