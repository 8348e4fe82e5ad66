"""Read any cycler file: BDF built in, vendor formats through reader plugins.

optloop reads BDF itself (:func:`~optloop.data.bdf.load_bdf`). Vendor formats (Arbin ``.res``,
Maccor, Neware ``.nda``/``.ndax``, BioLogic ``.mpr``, ...) are converted by *optional* plugins
built on maintained parsers, so that their dependencies (and licences: galvani is GPL-3) stay
out of optloop's core. A plugin is a callable ``read(path) -> (frame, metadata)`` returning a
table with BDF labels (aliases and other units are accepted and recorded, as for BDF files)
and a JSON-serialisable metadata dict, with an attribute ``suffixes`` naming the file endings
it handles (``(".res",)``). It is found through the entry-point group ``optloop.readers``::

    [project.entry-points."optloop.readers"]
    neware = "optloop_neware:read"        # read.suffixes = (".nda", ".ndax")

or registered in-process with :func:`register_reader`. A plugin that fails to load or lacks
``suffixes`` is skipped with a :class:`ReaderPluginWarning`; the others still work.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from optloop.data.bdf import BDF_SUFFIXES, _check_metadata, is_bdf_path, load_bdf, normalise_bdf
from optloop.data.ingest import BDFError, IngestReport

__all__ = [
    "BUILTIN_READER",
    "READER_GROUP",
    "CyclerFile",
    "CyclerReader",
    "ReadFunction",
    "ReaderPluginWarning",
    "available_readers",
    "find_reader",
    "read_cycler_file",
    "register_reader",
    "unregister_reader",
]

READER_GROUP = "optloop.readers"
#: The name :attr:`CyclerFile.reader` has for files read by the built-in BDF reader.
BUILTIN_READER = "bdf"

ReadFunction = Callable[[Path], tuple[pd.DataFrame, Mapping[str, Any]]]

_HINT = (
    "install a reader plugin (entry-point group 'optloop.readers'), e.g. one built on cellpy "
    "(MIT) or galvani (GPL-3: keep it out of optloop's core)"
)


class ReaderPluginWarning(UserWarning):
    """A reader plugin could not be loaded or is malformed; it was skipped."""


@dataclass(frozen=True)
class CyclerReader:
    """A reader of one or more vendor file formats."""

    name: str
    """The entry-point or registration name, e.g. ``"neware"``."""
    suffixes: tuple[str, ...]
    """File endings it handles, lower case with the dot, e.g. ``(".nda", ".ndax")``."""
    read: ReadFunction
    """``read(path) -> (frame with BDF labels, metadata dict)``."""
    origin: str
    """Where it came from: ``"entry point neware = pkg:read"`` or ``"registered"``."""


class CyclerFile(NamedTuple):
    """A cycler file as read: the validated BDF table, metadata, changes, and the reader."""

    frame: pd.DataFrame
    metadata: dict[str, Any]
    report: IngestReport
    reader: str


_REGISTERED: dict[str, CyclerReader] = {}


def _suffixes(value: object, who: str) -> tuple[str, ...]:
    """Return cleaned suffixes, or raise ValueError saying what is wrong."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"{who}: 'suffixes' must be a list of file endings; got {value!r}")
    out = tuple(str(s).strip().lower() for s in value)
    bad = [s for s in out if not (s.startswith(".") and len(s) > 1)]
    if not out or bad:
        raise ValueError(
            f"{who}: 'suffixes' must be non-empty endings starting with '.'; got {value!r}"
        )
    return out


def register_reader(
    name: str, read: ReadFunction, suffixes: Iterable[str] | None = None
) -> CyclerReader:
    """Register a reader in this process (for local formats and tests).

    Args:
        name: The reader's name; replaces a reader registered under the same name.
        read: ``read(path) -> (frame, metadata)``.
        suffixes: File endings it handles; default: ``read.suffixes``.

    Returns:
        The registered reader.

    Raises:
        ValueError: If ``read`` is not callable or the suffixes are missing or malformed.
    """
    if not callable(read):
        raise ValueError(f"reader {name!r}: read={read!r} is not callable")
    chosen = suffixes if suffixes is not None else getattr(read, "suffixes", None)
    reader = CyclerReader(name, _suffixes(chosen, f"reader {name!r}"), read, "registered")
    _REGISTERED[name] = reader
    return reader


def unregister_reader(name: str) -> None:
    """Remove a reader registered with :func:`register_reader` (no error if absent)."""
    _REGISTERED.pop(name, None)


def available_readers() -> dict[str, CyclerReader]:
    """Return the readers that can be used: registered ones, then entry points by name.

    An entry point that fails to import, is not callable or has no valid ``suffixes`` is
    skipped with a :class:`ReaderPluginWarning` naming it and the error.
    """
    found = dict(_REGISTERED)
    for ep in sorted(entry_points(group=READER_GROUP), key=lambda e: e.name):
        origin = f"entry point {ep.name} = {ep.value}"
        if ep.name in found:
            warnings.warn(
                f"reader plugin {origin} skipped: the name {ep.name!r} is already taken by "
                f"{found[ep.name].origin}",
                ReaderPluginWarning,
                stacklevel=2,
            )
            continue
        try:
            read = ep.load()
            if not callable(read):
                raise ValueError(f"{ep.value} is {type(read).__name__}, not callable")
            suffixes = _suffixes(getattr(read, "suffixes", None), ep.value)
        except Exception as exc:  # noqa: BLE001 - any plugin failure: warn, keep the others
            warnings.warn(
                f"reader plugin {origin} skipped: {type(exc).__name__}: {exc}",
                ReaderPluginWarning,
                stacklevel=2,
            )
            continue
        found[ep.name] = CyclerReader(ep.name, suffixes, read, origin)
    return found


def find_reader(
    path: str | os.PathLike[str], readers: Mapping[str, CyclerReader] | None = None
) -> CyclerReader | None:
    """Return the reader for a file by its name's ending (the longest match), or None.

    Args:
        path: The file.
        readers: Readers to choose from; default :func:`available_readers`.
    """
    name = Path(path).name.lower()
    best: tuple[int, CyclerReader] | None = None
    for reader in (readers if readers is not None else available_readers()).values():
        for suffix in reader.suffixes:
            if name.endswith(suffix) and (best is None or len(suffix) > best[0]):
                best = (len(suffix), reader)
    return best[1] if best else None


def read_cycler_file(path: str | os.PathLike[str]) -> CyclerFile:
    """Read a cycler file into a validated BDF table, whatever its format.

    BDF files (see :data:`~optloop.data.bdf.BDF_SUFFIXES`) are read by the built-in reader;
    other files by the registered reader whose suffix matches. Either way the table goes
    through :func:`~optloop.data.bdf.normalise_bdf`, so aliases, units and counter restarts
    are handled and recorded the same way.

    Args:
        path: The file.

    Returns:
        ``(frame, metadata, report, reader)``.

    Raises:
        FileNotFoundError: If the file does not exist.
        BDFError: If no reader handles the suffix (naming it and the installed readers), the
            reader fails or returns something else than ``(DataFrame, dict)``, or the data
            are malformed.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"cycler file not found: {source}")
    if is_bdf_path(source):
        frame, metadata, report = load_bdf(source)
        return CyclerFile(frame, metadata, report, BUILTIN_READER)
    readers = available_readers()
    reader = find_reader(source, readers)
    if reader is None:
        installed = {r.name: list(r.suffixes) for r in readers.values()} or "none"
        raise BDFError(
            f"{source}: no reader for the suffix {source.suffix or source.name!r}; built-in: "
            f"BDF {[s for s, _ in BDF_SUFFIXES]}; installed readers: {installed}; {_HINT}"
        )
    try:
        result = reader.read(source)
    except Exception as exc:
        raise BDFError(
            f"{source}: reader {reader.name!r} ({reader.origin}) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not (
        isinstance(result, tuple)
        and len(result) == 2
        and isinstance(result[0], pd.DataFrame)
        and isinstance(result[1], Mapping)
    ):
        raise BDFError(
            f"{source}: reader {reader.name!r} returned {type(result).__name__}; "
            "limit: a tuple (pandas.DataFrame, dict)"
        )
    label = f"{source} (reader {reader.name!r})"
    frame, report = normalise_bdf(result[0], source=label)
    metadata = _check_metadata(result[1], label)
    return CyclerFile(frame, metadata, report, reader.name)
