"""The inbox: find complete, valid result files; send the rest to quarantine or let them wait.

One pass (:meth:`Inbox.ingest`) groups the inbox by stem (a metadata sentinel and its data
file), refuses what is not a plain file inside ``inbox/``, waits ``incomplete_grace_s`` for a
missing half, and hands each complete group to :class:`~.results.Results`. Call it holding the
job store's lock: one reader of the inbox at a time.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from optloop.evaluators.base import JobState
from optloop.evaluators.file_exchange.files import (
    ExchangeFolders,
    split_result_name,
    unique_destination,
)
from optloop.evaluators.file_exchange.metadata import Rejected, data_file_name, read_metadata
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.quarantine import Quarantine, ScanReport
from optloop.evaluators.file_exchange.recipe import DATA_SUFFIXES, METADATA_SUFFIX
from optloop.evaluators.file_exchange.results import Results
from optloop.evaluators.file_exchange.state import JobRecord, load_record
from optloop.evaluators.jobs import JobStore

__all__ = ["Inbox"]


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


def _check_open(record: JobRecord) -> None:
    """Raise Rejected if the trial takes no more files."""
    if record.state is JobState.CANCELLED:
        raise Rejected(f"cancelled trial: {record.trial_id} was cancelled; nothing is recorded")
    if record.state.is_terminal:
        raise Rejected(
            f"duplicate result: trial {record.trial_id} already ended as "
            f"{record.state.value!r}; the first result wins, nothing recorded is changed"
        )


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

    def _age_s(self, st: os.stat_result) -> float:
        return self.clock() - st.st_mtime

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
                if self._age_s(st) > grace:
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
            key=lambda n: (regular[n][2].st_mtime, n),
        )
        for meta_name in sentinels:
            stem, _, meta_st = regular[meta_name]
            companions = same_stem_data(stem)
            group = [meta_name]
            trial_id: str | None = None
            try:
                if stem in bad_stems:
                    raise Rejected(bad_stems[stem])
                meta, raw = read_metadata(inbox / meta_name)
                trial_id = meta.trial_id
                data_name = data_file_name(meta, companions)
                if data_name is not None:
                    group.append(data_name)
                present = data_name is not None and data_name in regular
                record = load_record(self.store, f"{self.job_prefix}{trial_id}")
                if record is None:
                    raise Rejected(
                        f"unknown trial: trial_id {trial_id!r} has no job on this exchange"
                    )
                _check_open(record)
                if meta.status is None and not present:
                    if self._age_s(meta_st) > grace:
                        missing = data_name or f"{stem} + one of {list(DATA_SUFFIXES)}"
                        raise Rejected(
                            f"incomplete: metadata sentinel without its data file {missing!r} "
                            f"after incomplete_grace_s={grace:g} s"
                        )
                    report.waiting.extend(group)
                    handled.update(group)
                    continue
            except Rejected as exc:
                # The sentinel and every data file it may belong to go together.
                bad = sorted({*group, *companions} & set(regular) - handled)
                self.quarantine.move(inbox, bad, str(exc), trial_id, report)
                handled.update(bad)
                continue
            handled.update(group)
            self.results.accept(record, meta_name, data_name if present else None, meta, raw,
                                report)

        for name, (stem, kind, st) in sorted(regular.items()):
            if name in handled or kind != "data":
                continue
            if stem in bad_stems:
                self.quarantine.move(inbox, [name], bad_stems[stem], None, report)
            elif self._age_s(st) > grace:
                reason = (
                    f"incomplete: no metadata sentinel {stem}{METADATA_SUFFIX} after "
                    f"incomplete_grace_s={grace:g} s"
                )
                self.quarantine.move(inbox, [name], reason, None, report)
            else:
                report.waiting.append(name)
