"""The campaign store: the one source of truth for a campaign's state.

SQL through SQLAlchemy: an SQLite file by default (WAL journal, full fsync: a kill at any
instant leaves the last committed transition), or any database URL for a team. Every state
transition is one transaction, and each is appended to an event log so the history of a
trial can be read back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

from optloop.exceptions import OptloopError
from optloop.secrets import mask_url
from optloop.space import Design
from optloop.store.engine import create_schema, open_engine
from optloop.store.lock import CampaignLock
from optloop.store.session import DriverSession
from optloop.store.trial import TRANSITIONS, Trial, TrialStatus

__all__ = ["SIMULATION_STATES", "CampaignStore", "StoreError"]


class StoreError(OptloopError):
    """The store refused an operation (unknown trial, illegal transition, other campaign)."""


_meta = MetaData()
_campaigns = Table(
    "campaigns",
    _meta,
    Column("name", String(100), primary_key=True),
    Column("config", Text, nullable=False),
    Column("space_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
_trials = Table(
    "trials",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False, index=True),
    Column("design", Text, nullable=False),
    Column("design_key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("origin", String(32), nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("batch_index", Integer, nullable=False),
    Column("fidelity", String(16), nullable=False),
    Column("job_id", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("predictions", Text, nullable=False, default="{}"),
    Column("acquisition_value", Float),
    Column("outcomes", Text, nullable=False, default="{}"),
    Column("censored", Text, nullable=False, default="{}"),
    Column("reason", Text),
    Column("bdf_path", Text),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("proposed_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("session_id", String(32)),
    # The driver session that submitted the current job (see optloop.store.session).
)
_sessions = Table(
    "driver_sessions",
    _meta,
    Column("id", String(32), primary_key=True),
    Column("campaign", String(100), nullable=False, index=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("process_token", String(32)),
    Column("ended_at", Float),
)
_events = Table(
    "trial_events",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False, index=True),
    Column("trial_id", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("message", Text),
)
_iterations = Table(
    "iterations",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False, index=True),
    Column("iteration", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("data", Text, nullable=False),
)
_stops = Table(
    "campaign_stops",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", Text, nullable=False),
)
#: Simulations of a simulator used as a prior for the cells (``prior`` in the config): kept
#: apart from the trials, so they are never cells, trials or budget evaluations.
_simulations = Table(
    "prior_simulations",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False, index=True),
    Column("design", Text, nullable=False),
    Column("design_key", Text, nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("job_id", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("outcomes", Text, nullable=False, default="{}"),
    Column("censored", Text, nullable=False, default="{}"),
    Column("reason", Text),
    Column("bdf_path", Text),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
)
#: States of a prior simulation.
SIMULATION_STATES = ("pending", "running", "completed", "failed")


class CampaignStore:
    """Trials of one campaign in a SQL database."""

    def __init__(self, url: str, campaign: str) -> None:
        self._url = url  # may carry a password: never shown, only given to the engine
        self.url = mask_url(url)
        """The store's URL for display: its password, if any, is masked."""
        self.campaign = campaign
        self.engine, self.sqlite_path = open_engine(url)
        create_schema(self.engine, _meta, url)
        _add_missing_columns(self.engine)

    def lock(self) -> CampaignLock:
        """Return the campaign's exclusive driver lock (use as a context manager)."""
        return CampaignLock(self.engine, self.campaign, self.sqlite_path)

    # --- campaign -------------------------------------------------------------------------

    def init_campaign(self, config: dict[str, Any], space_hash: str) -> bool:
        """Record the campaign's config; return True when it was new.

        Raises:
            StoreError: when the campaign exists with a different design space or objectives
                (its trials would not belong to the new space).
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                select(_campaigns).where(_campaigns.c.name == self.campaign)
            ).first()
            if row is None:
                conn.execute(
                    insert(_campaigns).values(
                        name=self.campaign,
                        config=json.dumps(config),
                        space_hash=space_hash,
                        created_at=time.time(),
                    )
                )
                return True
            if row.space_hash != space_hash:
                raise StoreError(
                    f"campaign {self.campaign!r} already exists in {self.url} with a different "
                    "design space or objectives; give the new campaign another name"
                )
            conn.execute(
                update(_campaigns)
                .where(_campaigns.c.name == self.campaign)
                .values(config=json.dumps(config))
            )
            return False

    # --- trials ---------------------------------------------------------------------------

    def add_trials(self, rows: Sequence[dict[str, Any]]) -> list[Trial]:
        """Insert new trials (status PROPOSED unless given) in one transaction."""
        with self.engine.begin() as conn:
            ids = [self._insert(conn, r, time.time()) for r in rows]
        return [self.get(i) for i in ids]

    def _insert(self, conn: Any, r: dict[str, Any], now: float) -> int:
        design: Design = r["design"]
        status = TrialStatus(r.get("status", TrialStatus.PROPOSED))
        values = {
            "campaign": self.campaign,
            "design": json.dumps(design.to_dict()),
            "design_key": design.key(),
            "status": status.value,
            "origin": r.get("origin", "manual"),
            "iteration": r.get("iteration", 0),
            "batch_index": r.get("batch_index", 0),
            "fidelity": r.get("fidelity", "full"),
            "attempts": 0,
            "predictions": json.dumps(r.get("predictions", {})),
            "acquisition_value": r.get("acquisition_value"),
            "outcomes": json.dumps(r.get("outcomes", {})),
            "censored": json.dumps(r.get("censored", {})),
            "reason": r.get("reason"),
            "metadata": json.dumps(r.get("metadata", {})),
            "proposed_at": now,
            "finished_at": now
            if status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
            else None,
        }
        key = conn.execute(insert(_trials).values(**values)).inserted_primary_key
        assert key is not None
        tid = int(key[0])
        self._log(conn, tid, None, status, r.get("message", "created"))
        return tid

    def transition(
        self,
        trial_id: int,
        to: TrialStatus,
        message: str | None = None,
        **values: Any,
    ) -> Trial:
        """Move a trial to ``to`` and set ``values`` in one transaction.

        Raises:
            StoreError: for an unknown trial or a transition the lifecycle forbids.
        """
        with self.engine.begin() as conn:
            self._transition(conn, trial_id, to, message, values)
        return self.get(trial_id)

    def record_batch(
        self,
        transitions: Sequence[tuple[int, TrialStatus, str | None, dict[str, Any]]] = (),
        new_trials: Sequence[dict[str, Any]] = (),
    ) -> tuple[list[Trial], list[Trial]]:
        """Apply transitions and insert new trials, all in ONE transaction: all or nothing.

        Args:
            transitions: ``(trial_id, to, message, values)`` as :meth:`transition` takes them.
            new_trials: rows as :meth:`add_trials` takes them.

        Returns:
            The moved trials and the new trials, in the order given.

        Raises:
            StoreError: for an unknown trial or a forbidden transition (nothing is stored).
        """
        with self.engine.begin() as conn:
            for trial_id, to, message, values in transitions:
                self._transition(conn, trial_id, to, message, dict(values))
            now = time.time()
            ids = [self._insert(conn, r, now) for r in new_trials]
        return [self.get(t[0]) for t in transitions], [self.get(i) for i in ids]

    def _transition(
        self,
        conn: Any,
        trial_id: int,
        to: TrialStatus,
        message: str | None,
        values: dict[str, Any],
    ) -> None:
        for key in ("predictions", "outcomes", "censored", "metadata"):
            if key in values:
                values[key] = json.dumps(values[key])
        row = conn.execute(
            select(_trials.c.status).where(
                (_trials.c.id == trial_id) & (_trials.c.campaign == self.campaign)
            )
        ).first()
        if row is None:
            raise StoreError(f"trial {trial_id} does not exist in campaign {self.campaign!r}")
        current = TrialStatus(row.status)
        if to not in TRANSITIONS[current]:
            allowed = sorted(s.value for s in TRANSITIONS[current]) or ["none (final)"]
            raise StoreError(
                f"trial {trial_id} is {current.value}; it cannot become {to.value} "
                f"(allowed: {', '.join(allowed)})"
            )
        if to in (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED):
            values.setdefault("finished_at", time.time())
        if to is TrialStatus.RUNNING and current is TrialStatus.PROPOSED:
            values.setdefault("started_at", time.time())
        conn.execute(
            update(_trials).where(_trials.c.id == trial_id).values(status=to.value, **values)
        )
        self._log(conn, trial_id, current, to, message)

    def _log(
        self, conn: Any, trial_id: int, frm: TrialStatus | None, to: TrialStatus, msg: str | None
    ) -> None:
        conn.execute(
            insert(_events).values(
                campaign=self.campaign,
                trial_id=trial_id,
                at=time.time(),
                from_status=frm.value if frm else None,
                to_status=to.value,
                message=msg,
            )
        )

    def get(self, trial_id: int) -> Trial:
        """Return one trial.

        Raises:
            StoreError: when it does not exist in this campaign.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_trials).where(
                    (_trials.c.id == trial_id) & (_trials.c.campaign == self.campaign)
                )
            ).first()
        if row is None:
            raise StoreError(f"trial {trial_id} does not exist in campaign {self.campaign!r}")
        return _to_trial(row)

    def trials(self, statuses: Iterable[TrialStatus] | None = None) -> list[Trial]:
        """Return the campaign's trials in id order, optionally only some statuses."""
        q = select(_trials).where(_trials.c.campaign == self.campaign).order_by(_trials.c.id)
        if statuses is not None:
            q = q.where(_trials.c.status.in_([s.value for s in statuses]))
        with self.engine.connect() as conn:
            return [_to_trial(r) for r in conn.execute(q)]

    def counts(self) -> dict[str, int]:
        """Return the number of trials per status (every status present, zeros included)."""
        q = (
            select(_trials.c.status, func.count())
            .where(_trials.c.campaign == self.campaign)
            .group_by(_trials.c.status)
        )
        out = {s.value: 0 for s in TrialStatus}
        with self.engine.connect() as conn:
            for status, n in conn.execute(q):
                out[status] = int(n)
        return out

    def events(self, trial_id: int | None = None) -> list[dict[str, Any]]:
        """Return the transition log, oldest first."""
        q = select(_events).where(_events.c.campaign == self.campaign).order_by(_events.c.id)
        if trial_id is not None:
            q = q.where(_events.c.trial_id == trial_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # --- iterations -----------------------------------------------------------------------

    def record_iteration(self, iteration: int, data: dict[str, Any]) -> None:
        """Append per-iteration numbers (timings, hypervolume, counts)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(_iterations).values(
                    campaign=self.campaign,
                    iteration=iteration,
                    at=time.time(),
                    data=json.dumps(data),
                )
            )

    def iterations(self) -> list[dict[str, Any]]:
        """Return the per-iteration records, oldest first."""
        q = (
            select(_iterations)
            .where(_iterations.c.campaign == self.campaign)
            .order_by(_iterations.c.id)
        )
        with self.engine.connect() as conn:
            return [
                {"iteration": r.iteration, "at": r.at, **json.loads(r.data)}
                for r in conn.execute(q)
            ]

    # --- stops ----------------------------------------------------------------------------

    def record_stop(self, reason: str, data: dict[str, Any]) -> None:
        """Record that the campaign stopped proposing, why, and the numbers behind it."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(_stops).values(
                    campaign=self.campaign, at=time.time(), reason=reason, data=json.dumps(data)
                )
            )

    def stops(self) -> list[dict[str, Any]]:
        """Return the recorded stops (reason, time, numbers), oldest first."""
        q = select(_stops).where(_stops.c.campaign == self.campaign).order_by(_stops.c.id)
        with self.engine.connect() as conn:
            return [
                {"reason": r.reason, "at": r.at, **json.loads(r.data)}
                for r in conn.execute(q)
            ]

    # --- prior simulations ------------------------------------------------------------------

    def add_simulations(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Store new prior simulations (``design``, ``purpose``, ``iteration``, ``metadata``).

        They start ``pending`` (not yet submitted); returns their ids, in order.
        """
        now = time.time()
        ids: list[int] = []
        with self.engine.begin() as conn:
            for r in rows:
                design: Design = r["design"]
                res = conn.execute(
                    insert(_simulations).values(
                        campaign=self.campaign,
                        design=json.dumps(design.to_dict()),
                        design_key=design.key(),
                        purpose=str(r["purpose"]),
                        status="pending",
                        iteration=int(r.get("iteration", 0)),
                        attempts=0,
                        outcomes="{}",
                        censored="{}",
                        metadata=json.dumps(r.get("metadata", {})),
                        created_at=now,
                    )
                )
                key = res.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
        return ids

    def update_simulation(self, sim_id: int, **values: Any) -> None:
        """Change a prior simulation's fields (``status``, ``job_id``, ``outcomes``, ...).

        Raises:
            StoreError: for an unknown simulation or status.
        """
        if "status" in values and values["status"] not in SIMULATION_STATES:
            raise StoreError(
                f"simulation {sim_id}: status {values['status']!r}; allowed: "
                f"{list(SIMULATION_STATES)}"
            )
        for k in ("outcomes", "censored", "metadata"):
            if k in values:
                values[k] = json.dumps(values[k])
        if values.get("status") in ("completed", "failed"):
            values.setdefault("finished_at", time.time())
        with self.engine.begin() as conn:
            res = conn.execute(
                update(_simulations)
                .where((_simulations.c.id == sim_id) & (_simulations.c.campaign == self.campaign))
                .values(**values)
            )
            if res.rowcount == 0:
                raise StoreError(f"simulation {sim_id} not found in campaign {self.campaign!r}")

    def simulations(self, statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Return the prior simulations (oldest first), designs decoded, JSON fields parsed."""
        q = (
            select(_simulations)
            .where(_simulations.c.campaign == self.campaign)
            .order_by(_simulations.c.id)
        )
        if statuses is not None:
            q = q.where(_simulations.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        return [
            {
                "id": int(r.id),
                "design": Design.from_dict(json.loads(r.design)),
                "design_key": r.design_key,
                "purpose": r.purpose,
                "status": r.status,
                "iteration": int(r.iteration),
                "job_id": r.job_id,
                "attempts": int(r.attempts),
                "outcomes": json.loads(r.outcomes),
                "censored": json.loads(r.censored),
                "reason": r.reason,
                "bdf_path": r.bdf_path,
                "metadata": json.loads(r.metadata),
                "created_at": r.created_at,
                "finished_at": r.finished_at,
            }
            for r in rows
        ]

    def next_iteration(self) -> int:
        """Return one more than the largest iteration of any trial (0 for a new campaign)."""
        q = select(func.max(_trials.c.iteration)).where(_trials.c.campaign == self.campaign)
        with self.engine.connect() as conn:
            top = conn.execute(q).scalar()
        return 0 if top is None else int(top) + 1

    # --- driver sessions ------------------------------------------------------------------

    def start_session(self) -> DriverSession:
        """Record a driver session for this process and return it."""
        session = DriverSession.new()
        with self.engine.begin() as conn:
            conn.execute(
                insert(_sessions).values(
                    id=session.id,
                    campaign=self.campaign,
                    pid=session.pid,
                    host=session.host,
                    started_at=session.started_at,
                    process_token=session.process_token,
                )
            )
        return session

    def end_session(self, session_id: str) -> None:
        """Mark a driver session as closed cleanly."""
        with self.engine.begin() as conn:
            conn.execute(
                update(_sessions)
                .where((_sessions.c.id == session_id) & (_sessions.c.campaign == self.campaign))
                .values(ended_at=time.time())
            )

    def session(self, session_id: str) -> DriverSession | None:
        """Return a stored driver session, or None when unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_sessions).where(
                    (_sessions.c.id == session_id) & (_sessions.c.campaign == self.campaign)
                )
            ).first()
        if row is None:
            return None
        return DriverSession(
            id=row.id,
            pid=int(row.pid),
            host=row.host,
            started_at=float(row.started_at),
            process_token=row.process_token,
            ended_at=row.ended_at,
        )

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def _add_missing_columns(engine: Engine) -> None:
    """Add columns introduced after a store was created (additive only; data untouched)."""
    have = {c["name"] for c in inspect(engine).get_columns("trials")}
    if "session_id" not in have:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE trials ADD COLUMN session_id VARCHAR(32)"))


def _to_trial(row: Any) -> Trial:
    return Trial(
        id=int(row.id),
        design=Design.from_dict(json.loads(row.design)),
        status=TrialStatus(row.status),
        origin=row.origin,
        iteration=int(row.iteration),
        batch_index=int(row.batch_index),
        fidelity=row.fidelity,
        job_id=row.job_id,
        attempts=int(row.attempts or 0),
        predictions=json.loads(row.predictions or "{}"),
        acquisition_value=row.acquisition_value,
        outcomes=json.loads(row.outcomes or "{}"),
        censored=json.loads(row.censored or "{}"),
        reason=row.reason,
        bdf_path=row.bdf_path,
        metadata=json.loads(row.metadata or "{}"),
        proposed_at=float(row.proposed_at),
        started_at=row.started_at,
        finished_at=row.finished_at,
        session_id=row.session_id,
    )
