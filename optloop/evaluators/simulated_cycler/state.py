"""The cycler's state folder: epoch, job log, cell-model cache and BDF files, shared by processes.

Layout of ``state_dir``::

    epoch.json         wall-clock time of simulated time 0 and the options the lab runs with
    jobs/<job>.json    one record per submitted cell (its order, design, submission and
                       cancellation times) in the evaluators' job store, under its lock;
                       jobs/.changes names each record as it is saved (readers reload those)
    profiles/<key>.json  cell-model profiles, written once (the first writer wins)
    profiles/<key>.claim the process computing a profile (others leave it alone while it lives)
    bdf/<job>.bdf.csv, bdf/<job>.partial.bdf.csv   cycling data
    pybamm/            the inner PyBaMM evaluator's BDF files

Everything a replay needs is in these files, so a fresh process reports the same states.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optloop.data.atomic import atomic_write_text, write_once
from optloop.evaluators.jobs import JobStore
from optloop.evaluators.simulated_cycler.profile import CellProfile
from optloop.exceptions import ConfigError, EvaluationError

#: Job ids of the cycler start with it.
JOB_PREFIX = "cell-"

__all__ = ["JOB_PREFIX", "CyclerState"]


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
        # Not durable, as the event log it replaces: a record survives a killed process, not
        # a power cut, and a submission costs no fsync (~10 ms).
        self.jobs = JobStore(root / "jobs", "simulated_cycler", prefix=JOB_PREFIX,
                             durable=False)
        self.epoch = self._epoch(fingerprint)
        self._import_event_log()

    def _epoch(self, fingerprint: dict[str, Any]) -> float:
        path = self.root / "epoch.json"
        record = {"epoch_clock_s": float(self.clock()), "options": fingerprint}
        text = json.dumps(record, indent=2, sort_keys=True)
        with contextlib.suppress(FileExistsError):
            write_once(path, text)
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
                f"{'seed (the campaign seed)' if k == 'seed' else 'evaluator.options.' + k}: "
                f"{fingerprint.get(k)!r} differs from "
                f"{old.get(k)!r}, which the state folder {self.root} was started with; "
                "use a new state_dir to change it"
                for k in changed
            ])
        return epoch

    def sim_now(self) -> float:
        """Return the simulated time in seconds since the epoch (never negative)."""
        return max(0.0, (float(self.clock()) - self.epoch) * self.time_scale)

    def _import_event_log(self) -> None:
        """Move the jobs of a folder written by an older optloop (``events.jsonl``) to records."""
        log = self.root / "events.jsonl"
        if not log.is_file():
            return
        with self.jobs.lock():
            if not log.is_file():
                return  # another process imported it
            records: dict[str, dict[str, Any]] = {}
            for line in log.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event["type"] == "submit":
                    records[event["job_id"]] = {
                        "job_id": event["job_id"],
                        "trial_id": event["trial_id"],
                        "campaign": None,
                        "design": event["design"],
                        "design_json": json.dumps(event["design"], sort_keys=True),
                        "fidelity": event["fidelity"],
                        "key": event["key"],
                        "submitted_s": float(event["submitted_s"]),
                        "cancelled_s": None,
                        "seq": len(records) + 1,
                    }
                elif event["type"] == "cancel":
                    rec = records[event["job_id"]]
                    if rec["cancelled_s"] is None:  # the first cancel counts
                        rec["cancelled_s"] = float(event["at_s"])
            for rec in records.values():
                if self.jobs.load(rec["job_id"]) is None:
                    self.jobs.save(rec)
            os.replace(log, log.with_name("events.jsonl.imported"))

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
            write_once(path, profile.model_dump_json(indent=1))
        stored = self.load_profile(key)
        assert stored is not None
        return stored

    def claim(self, key: str) -> None:
        """Note that this process computes the profile ``key`` (its pid and host)."""
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        atomic_write_text(self.root / "profiles" / f"{key}.claim", text)

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
