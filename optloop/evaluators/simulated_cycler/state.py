"""The cycler's state folder: epoch, job log, cell-model cache and BDF files, shared by processes.

Layout of ``state_dir``::

    epoch.json         wall-clock time of simulated time 0 and the options the lab runs with
    events.jsonl       submit and cancel events, appended under a file lock (submission order)
    profiles/<key>.json  cell-model profiles, written once (the first writer wins)
    profiles/<key>.claim the process computing a profile (others leave it alone while it lives)
    bdf/<job>.bdf.csv, bdf/<job>.partial.bdf.csv   cycling data
    pybamm/            the inner PyBaMM evaluator's BDF files

Everything a replay needs is in these files, so a fresh process reports the same states.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from optloop.evaluators.simulated_cycler.profile import CellProfile
from optloop.exceptions import ConfigError, EvaluationError

__all__ = ["CyclerState"]


class CyclerState:
    """Read and write one state folder.

    Args:
        root: The state folder (created if missing).
        clock: Wall-clock seconds.
        time_scale: Simulated seconds per wall-clock second.
        fingerprint: The options that must match the folder's (JSON).

    Raises:
        ConfigError: If the folder was started with other schedule options.
    """

    def __init__(
        self,
        root: Path,
        clock: Callable[[], float],
        time_scale: float,
        fingerprint: dict[str, Any],
    ) -> None:
        self.root = root
        self.clock = clock
        self.time_scale = time_scale
        for sub in ("profiles", "bdf", "pybamm"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.events_path = root / "events.jsonl"
        self.events_path.touch(exist_ok=True)
        self.epoch = self._epoch(fingerprint)
        self._events: list[dict[str, Any]] = []
        self._events_size = 0

    def _epoch(self, fingerprint: dict[str, Any]) -> float:
        path = self.root / "epoch.json"
        record = {"epoch_clock_s": float(self.clock()), "options": fingerprint}
        text = json.dumps(record, indent=2, sort_keys=True)
        with contextlib.suppress(FileExistsError):
            _write_once(path, text)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            epoch = float(stored["epoch_clock_s"])
            old = stored["options"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EvaluationError(f"{path}: unreadable cycler state ({exc})") from None
        if old != json.loads(json.dumps(fingerprint)):
            changed = sorted(k for k in set(old) | set(fingerprint) if old.get(k) !=
                             fingerprint.get(k))
            raise ConfigError([
                f"evaluator.options.{k}: {fingerprint.get(k)!r} differs from "
                f"{old.get(k)!r}, which the state folder {self.root} was started with; "
                "use a new state_dir to change it"
                for k in changed
            ])
        return epoch

    def sim_now(self) -> float:
        """Return the simulated time in seconds since the epoch (never negative)."""
        return max(0.0, (float(self.clock()) - self.epoch) * self.time_scale)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (an exclusive ``flock``; other processes wait)."""
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def events(self) -> list[dict[str, Any]]:
        """Return every event in the log, in order (re-read only when the log grew)."""
        size = self.events_path.stat().st_size
        if size != self._events_size:
            with open(self.events_path, "rb") as fh:
                fh.seek(self._events_size)
                chunk = fh.read(size - self._events_size)
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a half-written line waits
            for line in complete.decode("utf-8").splitlines():
                if line.strip():
                    self._events.append(json.loads(line))
            self._events_size += len(complete)
        return self._events

    def append(self, event: dict[str, Any]) -> None:
        """Append one event (call it holding :meth:`lock`).

        One write of a whole line: other processes see it complete or not at all. There is no
        fsync (it costs ~10 ms per submit); the log survives a killed process, not a power cut.
        """
        line = json.dumps(event, sort_keys=True, allow_nan=False) + "\n"
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def profile_path(self, key: str) -> Path:
        """Return the cache file of a profile."""
        return self.root / "profiles" / f"{key}.json"

    def load_profile(self, key: str) -> CellProfile | None:
        """Return the cached profile, or None when there is none yet."""
        path = self.profile_path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return CellProfile.model_validate_json(text)
        except ValueError as exc:
            raise EvaluationError(f"{path}: not a valid cell profile ({exc})") from None

    def save_profile(self, key: str, profile: CellProfile) -> CellProfile:
        """Cache a profile unless one exists; return the one in the cache."""
        path = self.profile_path(key)
        with contextlib.suppress(FileExistsError):
            _write_once(path, profile.model_dump_json(indent=1))
        stored = self.load_profile(key)
        assert stored is not None
        return stored

    def claim(self, key: str) -> None:
        """Note that this process computes the profile ``key`` (its pid and host)."""
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        path = self.root / "profiles" / f"{key}.claim"
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def claimed_elsewhere(self, key: str) -> bool:
        """Return True if another live process on this host computes the profile ``key``."""
        try:
            claim = json.loads((self.root / "profiles" / f"{key}.claim").read_text("utf-8"))
            pid, host = int(claim["pid"]), str(claim["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if pid == os.getpid() or host != socket.gethostname():
            return False  # ours (then forgotten), or not checkable: compute it here
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def bdf_path(self, job_id: str, *, partial: bool) -> Path:
        """Return the BDF file of a job (``.partial`` while the test runs)."""
        return self.root / "bdf" / (f"{job_id}.partial.bdf.csv" if partial else
                                    f"{job_id}.bdf.csv")


def _write_once(path: Path, text: str) -> None:
    """Write a file complete or not at all; raise FileExistsError if it exists already."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.link(tmp, path)  # atomic, and fails if another writer got there first
    finally:
        tmp.unlink(missing_ok=True)
