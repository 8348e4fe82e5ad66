"""The inbox: find complete, valid result files; send the rest to quarantine or let them wait.

One pass (:meth:`Inbox.ingest`) groups the inbox by stem (a metadata sentinel and its data
file), refuses what is not a plain file inside ``inbox/``, waits ``incomplete_grace_s`` for a
missing half, and hands each complete group to :class:`~.results.Results`. Call it holding the
job store's lock: one reader of the inbox at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optloop.data.atomic import atomic_write_json
from optloop.evaluators.base import JobState
from optloop.evaluators.file_exchange.cells import check_cell_id
from optloop.evaluators.file_exchange.files import (
    ExchangeFolders,
    split_result_name,
    unique_destination,
)
from optloop.evaluators.file_exchange.ids import check_id, normalise_id, suggest_ids
from optloop.evaluators.file_exchange.metadata import (
    LabMetadata,
    Rejected,
    data_file_name,
    read_metadata,
)
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.quarantine import Quarantine, ScanReport
from optloop.evaluators.file_exchange.recipe import DATA_SUFFIXES, METADATA_SUFFIX
from optloop.evaluators.file_exchange.results import REVIEWED_KEY, Results
from optloop.evaluators.file_exchange.state import JobRecord, load_record
from optloop.evaluators.jobs import JobStore

__all__ = ["FIRST_SEEN_FILE", "Inbox"]

#: In ``state/``: when optloop first saw each file now in the inbox (clock seconds), so the
#: grace period never depends on a file's own timestamp (``cp -p``, ``rsync -t`` and robocopy
#: keep old ones) and survives a restart.
FIRST_SEEN_FILE = "inbox_first_seen.json"


def _not_regular(path: Path, st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return (
            f"not a regular file: a symbolic link (to {target!r}); links are never "
            "followed, copy the file itself into inbox/"
        )
    kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a special file"
    return f"not a regular file: {kind}; put plain files directly in inbox/"


def _check_open(record: JobRecord, rebuilds: list[JobRecord]) -> None:
    """Raise Rejected if the trial takes no more files (saying what the lab should do)."""
    tid = record.ticket_id
    if record.state is JobState.CANCELLED:
        why = f" ({record.cancel_reason})" if record.cancel_reason else ""
        raise Rejected(
            f"cancelled trial: {tid} was cancelled{why} and its ticket retired; nothing is "
            "recorded for it (see its .cancel.json in outbox/)"
        )
    if record.state is JobState.LOST:
        later = ", ".join(r.ticket_id for r in rebuilds)
        rebuild = f"; its rebuild has its own ticket and trial id {later}" if later else ""
        raise Rejected(
            f"cell declared lost: trial {tid} ended as lost ({_short(record)}), so this file "
            f"is not recorded{rebuild}; if this cell is the rebuild, check the trial id"
        )
    if record.state.is_terminal:
        raise Rejected(
            f"duplicate result: trial {tid} already ended as "
            f"{record.state.value!r}; the first result wins, nothing recorded is changed"
        )


def _short(record: JobRecord) -> str:
    result = record.evaluation_result()
    return (result.reason if result is not None and result.reason else "no reason recorded")


_ID_IN_NAME = re.compile(r"(?<![A-Za-z0-9])[Tt]-[A-Za-z0-9]{7}(?![A-Za-z0-9])")


class Inbox:
    """Read ``inbox/`` of one exchange.

    Args:
        options: The exchange's options (``incomplete_grace_s``).
        folders: The exchange's folders.
        store: The job store (``job_prefix`` + trial id names a job).
        job_prefix: The prefix of job ids.
        quarantine: Where refused files go.
        results: Turns complete groups into job results.
        clock: Wall-clock seconds (file ages are measured with it).
    """

    def __init__(
        self,
        options: FileExchangeOptions,
        folders: ExchangeFolders,
        store: JobStore,
        job_prefix: str,
        quarantine: Quarantine,
        results: Results,
        clock: Callable[[], float],
    ) -> None:
        self.options = options
        self.folders = folders
        self.store = store
        self.job_prefix = job_prefix
        self.quarantine = quarantine
        self.results = results
        self.clock = clock

    def _load_first_seen(self) -> dict[str, float]:
        path = self.folders.state / FIRST_SEEN_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}

    def _first_seen(self, names: list[str]) -> dict[str, float]:
        """Return when each inbox file was first seen, recording the new ones (persisted)."""
        known = self._load_first_seen()
        now = self.clock()
        seen = {name: known.get(name, now) for name in names}
        if seen != known:
            atomic_write_json(self.folders.state / FIRST_SEEN_FILE, seen)
        return seen

    def _forget_gone(self) -> None:
        """Drop the first-seen times of files no longer in the inbox."""
        known = self._load_first_seen()
        present = {n: t for n, t in known.items() if os.path.lexists(self.folders.inbox / n)}
        if present != known:
            atomic_write_json(self.folders.state / FIRST_SEEN_FILE, present)

    def _records(self) -> list[JobRecord]:
        out = []
        for data in self.store.records():
            with contextlib.suppress(ValueError, TypeError, KeyError):
                out.append(JobRecord.from_dict(data))
        return out

    def resolve(self, written: str) -> JobRecord:
        """Return the job a metadata ``trial_id`` names; raise Rejected with a suggestion.

        A ticket's checked id (:mod:`.ids`; case, spaces and O/I/L for 0/1/1 forgiven) names
        its job; records older than checked ids are named by their trial id. optloop's own
        key (the ticket's file name) is refused, as a typo in it would name a neighbour.
        """
        records = self._records()
        by_lab = {normalise_id(r.lab_id): r for r in records if r.lab_id}
        legacy = {r.trial_id: r for r in records if not r.lab_id}
        found = by_lab.get(normalise_id(written)) or legacy.get(written)
        if found is not None:
            return self._fresh(found)
        keyed = {r.trial_id: r for r in records if r.lab_id}
        if written in keyed:
            r = keyed[written]
            raise Rejected(
                f"check the trial id: trial_id {written!r} is the name of a ticket file, not a "
                f"trial id; the ticket {written}.ticket.json has trial id {r.ticket_id}: write "
                "the trial id printed on the ticket the cell was built from"
            )
        problem = check_id(written, kind="T")
        open_ids = [r.ticket_id for r in records if not r.state.is_terminal]
        near = suggest_ids(written, open_ids) or suggest_ids(written, list(by_lab))
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        why = f" ({problem})" if problem else ""
        raise Rejected(
            f"unknown trial: trial_id {written!r} is not a ticket of this exchange{why}; "
            f"check the trial id on the ticket{hint}"
        )

    def check_cell(self, record: JobRecord, meta: LabMetadata) -> dict[str, Any]:
        """Check the file's ``cell_id`` against its ticket (see :mod:`.cells`).

        Returns:
            What the result records: ``{"cell_id_checked": bool}``, and for a held cell id a
            person reviewed (``reviewed`` in the metadata), ``"cell_id_warnings"``.

        Raises:
            Rejected: ``held for review, check the cell id: ...`` when the cell id is written
                as a checked id but is not this ticket's (nothing is recorded).
        """
        verdict = check_cell_id(meta.cell_id, record, self._records())
        out: dict[str, Any] = {"cell_id_checked": verdict.checked}
        if verdict.problem is None:
            return out
        reviewed = getattr(meta, REVIEWED_KEY, None)
        if isinstance(reviewed, str) and reviewed.strip():
            out["cell_id_warnings"] = [verdict.problem]
            return out
        stop = "" if verdict.problem.endswith("?") else "."
        raise Rejected(
            f"held for review, check the cell id: {verdict.problem}{stop} Nothing was recorded. "
            "Correct cell_id (or trial_id, if it names the wrong trial) in the metadata and put "
            f"both files back in inbox/; if the cell id is right as written, add "
            f"\"{REVIEWED_KEY}\": \"<who checked, and why>\" instead"
        )

    def _fresh(self, record: JobRecord) -> JobRecord:
        fresh = load_record(self.store, record.job_id)
        return fresh if fresh is not None else record

    def rebuilds_of(self, record: JobRecord) -> list[JobRecord]:
        """Return the later jobs of the same trial (a lost cell's rebuilds: ``<key>-r1``...)."""
        base = re.sub(r"-r\d+$", "", record.trial_id)
        return [
            r for r in self._records()
            if r.job_id != record.job_id and re.sub(r"-r\d+$", "", r.trial_id) == base
            and r.seq > record.seq
        ]

    def trial_in_name(self, stem: str) -> JobRecord | None:
        """Return the job a file name names (a ticket id, or an old-style trial id), or None."""
        records = self._records()
        by_lab = {normalise_id(r.lab_id): r for r in records if r.lab_id}
        for match in _ID_IN_NAME.findall(stem):
            found = by_lab.get(normalise_id(match))
            if found is not None:
                return found
        for r in sorted(records, key=lambda r: -len(r.trial_id)):
            if not r.lab_id and (stem == r.trial_id or stem.startswith(f"{r.trial_id}__")):
                return r
        return None

    def recover_processing(self) -> None:
        """Finish or undo what a crashed ingestion left in ``state/processing/``.

        A file whose job state already records it as accepted is moved on to ``accepted/``;
        any other goes back to the inbox, to be read again.
        """
        leftovers = list(os.scandir(self.folders.processing))
        if not leftovers:
            return
        recorded: dict[str, Path] = {}
        for job_id in self.store.job_ids():
            record = load_record(self.store, job_id)
            if record is None or not record.accepted:
                continue
            last = record.accepted[-1]
            folder = self.folders.accepted / record.trial_id
            for key in ("metadata_file", "data_file"):
                original, kept = last.get(key), last.get(f"accepted_{key}")
                if original and kept and not os.path.lexists(folder / kept):
                    recorded[original] = folder / kept
        for entry in leftovers:
            target = recorded.get(entry.name)
            if target is None:
                target = unique_destination(self.folders.inbox, entry.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.rename(entry.path, target)

    def ingest(self, report: ScanReport) -> None:
        """Move every complete, valid result from the inbox to ``accepted/``; reject the bad."""
        self.recover_processing()
        inbox = self.folders.inbox
        inbox_real = os.path.realpath(inbox)
        grace = self.options.incomplete_grace_s
        entries = {e.name: e.stat(follow_symlinks=False) for e in os.scandir(inbox)}
        first_seen = self._first_seen(sorted(entries))
        now = self.clock()

        def age_s(name: str) -> float:
            return now - first_seen.get(name, now)
        regular: dict[str, tuple[str, str, os.stat_result]] = {}
        bad_stems: dict[str, str] = {}
        for name, st in sorted(entries.items()):
            parsed = split_result_name(name)
            reason = None
            if not stat.S_ISREG(st.st_mode):
                reason = _not_regular(inbox / name, st)
            elif os.path.realpath(inbox / name) != os.path.join(inbox_real, name):
                reason = "resolves outside inbox/ (path trick); only plain files are read"
            elif name.startswith("."):
                if age_s(name) > grace:
                    reason = (
                        f"incomplete upload: hidden temporary file left for more than "
                        f"incomplete_grace_s={grace:g} s"
                    )
                else:
                    report.waiting.append(name)
                    continue
            elif parsed is None:
                reason = (
                    f"unexpected file name {name!r}; expected <stem>{METADATA_SUFFIX} and a data "
                    f"file <stem> + one of {list(DATA_SUFFIXES)}"
                )
            if reason is not None:
                self.quarantine.move(inbox, [name], reason, None, report)
                if parsed is not None:
                    bad_stems[parsed[0]] = f"its companion {name!r} was quarantined: {reason}"
                continue
            assert parsed is not None
            regular[name] = (parsed[0], parsed[1], st)

        def same_stem_data(stem: str) -> list[str]:
            return sorted(n for n, (s, k, _) in regular.items() if s == stem and k == "data")

        handled: set[str] = set()
        sentinels = sorted(
            (n for n, (_, k, _) in regular.items() if k == "metadata"),
            key=lambda n: (first_seen.get(n, now), regular[n][2].st_mtime, n),
        )
        for meta_name in sentinels:
            stem, _, _ = regular[meta_name]
            companions = same_stem_data(stem)
            group = [meta_name]
            trial_id: str | None = None
            ticket_id: str | None = None
            meta: LabMetadata | None = None
            try:
                if stem in bad_stems:
                    raise Rejected(bad_stems[stem])
                meta, raw = read_metadata(inbox / meta_name)
                data_name = data_file_name(meta, companions)
                if data_name is not None:
                    group.append(data_name)
                present = data_name is not None and data_name in regular
                record = self.resolve(meta.trial_id)
                trial_id, ticket_id = record.trial_id, record.ticket_id
                _check_open(record, self.rebuilds_of(record))
                if meta.status is None and not present:
                    if age_s(meta_name) > grace:
                        missing = data_name or f"{stem} + one of {list(DATA_SUFFIXES)}"
                        raise Rejected(
                            f"incomplete: metadata file without its data file {missing!r} "
                            f"after incomplete_grace_s={grace:g} s (counted from when optloop "
                            "first saw the metadata file)"
                        )
                    report.waiting.extend(group)
                    handled.update(group)
                    continue
                cell = self.check_cell(record, meta)
            except Rejected as exc:
                reason = str(exc)
                if trial_id is None:
                    # Bad metadata or trial id: the file name may still say which trial it is.
                    named = self.trial_in_name(stem)
                    if named is not None:
                        trial_id, ticket_id = named.trial_id, named.ticket_id
                        reason += f" (the file name names trial {named.ticket_id})"
                # The sentinel and every data file it may belong to go together.
                bad = sorted({*group, *companions} & set(regular) - handled)
                self.quarantine.move(inbox, bad, reason, trial_id, report, ticket_id)
                handled.update(bad)
                continue
            handled.update(group)
            self.results.accept(record, meta_name, data_name if present else None, meta, raw,
                                report, cell=cell)

        for name, (stem, kind, _) in sorted(regular.items()):
            if name in handled or kind != "data":
                continue
            if stem in bad_stems:
                self.quarantine.move(inbox, [name], bad_stems[stem], None, report)
            elif age_s(name) > grace:
                reason = (
                    f"incomplete: no metadata file {stem}{METADATA_SUFFIX} after "
                    f"incomplete_grace_s={grace:g} s (counted from when optloop first saw "
                    "the data file)"
                )
                self.quarantine.move(inbox, [name], reason, None, report)
            else:
                report.waiting.append(name)
        self._forget_gone()
