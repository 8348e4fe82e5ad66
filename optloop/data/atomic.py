"""Atomic file writes: readers see the old content or the new, never a part.

Every writer of state or data files in optloop (BDF files, job records, tickets, cycler
state) goes through these helpers, so a killed process never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_json",
    "atomic_write_text",
    "atomic_write_files",
    "write_once",
]


def _staging_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def atomic_write_files(
    writes: Sequence[tuple[Path, Callable[[Path], object]]], *, durable: bool = True
) -> None:
    """Write each file to a hidden temporary sibling, fsync it, then rename all into place.

    Nothing is renamed until every temporary file is complete, so a failed write leaves the
    old files as they were; temporary files are removed whatever happens. ``os.replace`` is
    atomic within one file system.

    Args:
        writes: ``(path, write)`` pairs, renamed in this order; ``write(tmp)`` writes the
            content to the temporary path it is given.
        durable: Flush each file to the disk before the rename (about 10 ms on a disk);
            without it a file survives a killed process but not a power cut.
    """
    staged: list[tuple[Path, Path]] = []
    renamed = 0
    try:
        for path, write in writes:
            tmp = _staging_name(path)
            staged.append((tmp, path))
            write(tmp)
            if durable:
                _fsync(tmp)
        for tmp, path in staged:
            os.replace(tmp, path)
            renamed += 1
    finally:
        for tmp, _ in staged[renamed:]:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write a text file atomically (UTF-8); see :func:`atomic_write_files` for ``durable``."""
    atomic_write_files([(path, lambda p: p.write_text(text, encoding="utf-8"))], durable=durable)


def atomic_write_json(path: Path, data: Any, *, durable: bool = True) -> None:
    """Write JSON atomically (sorted keys, indented, no NaN)."""
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_text(path, text, durable=durable)


def write_once(path: Path, text: str) -> None:
    """Create a file complete or not at all; the first writer wins.

    Raises:
        FileExistsError: If the file exists already (another writer got there first).
    """
    tmp = _staging_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        _fsync(tmp)
        os.link(tmp, path)  # atomic, and fails if the name is taken
    finally:
        tmp.unlink(missing_ok=True)
