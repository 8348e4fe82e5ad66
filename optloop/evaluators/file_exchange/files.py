"""The exchange folder on disk: its layout, safe names and moves that never follow.

Everything here works on names inside known folders and uses ``lstat``/``rename``, so a symlink
in the inbox is moved as a link and its target is never opened.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from optloop.evaluators.file_exchange.recipe import DATA_SUFFIXES, METADATA_SUFFIX

__all__ = [
    "SAFE_ID",
    "ExchangeFolders",
    "is_safe_id",
    "split_result_name",
    "unique_destination",
]

#: Trial and job ids become file names: letters, digits, ``.``, ``_``, ``-``; no leading dot.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_safe_id(text: object) -> bool:
    """Return True if ``text`` can be used as a file name as it is (no ``/``, no ``..``)."""
    return isinstance(text, str) and bool(SAFE_ID.match(text)) and ".." not in text


@dataclass(frozen=True)
class ExchangeFolders:
    """The five folders of an exchange root."""

    root: Path

    @property
    def outbox(self) -> Path:
        """Return where tickets and cancel notes go (optloop writes, the lab reads)."""
        return self.root / "outbox"

    @property
    def inbox(self) -> Path:
        """Return where results come in (the lab writes, optloop reads and empties)."""
        return self.root / "inbox"

    @property
    def quarantine(self) -> Path:
        """Return where rejected files go, each with a ``.reason.txt``."""
        return self.root / "quarantine"

    @property
    def accepted(self) -> Path:
        """Return where accepted files go, one folder per trial."""
        return self.root / "accepted"

    @property
    def state(self) -> Path:
        """Return where job states live (one JSON file per job)."""
        return self.root / "state"

    @property
    def processing(self) -> Path:
        """Return the private folder files are moved to while they are read."""
        return self.state / "processing"

    def create(self) -> None:
        """Create the folders that do not exist yet."""
        for folder in (
            self.outbox,
            self.inbox,
            self.quarantine,
            self.accepted,
            self.state,
            self.processing,
        ):
            folder.mkdir(parents=True, exist_ok=True)


def split_result_name(name: str) -> tuple[str, str] | None:
    """Return ``(stem, kind)`` of an inbox file name, kind ``"data"`` or ``"metadata"``.

    Returns:
        ``None`` for a name that is neither ``<stem>.bdf.metadata.json`` nor a data file
        ending in one of :data:`~optloop.evaluators.file_exchange.recipe.DATA_SUFFIXES`.
    """
    if name.endswith(METADATA_SUFFIX):
        stem = name[: -len(METADATA_SUFFIX)]
        return (stem, "metadata") if stem else None
    for suffix in DATA_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return (stem, "data") if stem else None
    return None


def unique_destination(folder: Path, name: str) -> Path:
    """Return ``folder/name``, or ``folder/name.2``, ``.3``... if the name is taken."""
    candidate = folder / name
    n = 1
    while os.path.lexists(candidate):
        n += 1
        candidate = folder / f"{name}.{n}"
    return candidate
