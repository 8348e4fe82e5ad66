"""What a sync reports, and what a mirror remembers of MLflow between syncs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ChildState", "MirrorState", "SyncReport"]


@dataclass
class SyncReport:
    """What one sync did, or why it could not."""

    tracking_uri: str
    ok: bool = False
    experiment_id: str | None = None
    parent_run_id: str | None = None
    created: int = 0
    """Child runs created."""
    updated: int = 0
    """Child runs brought up to date with their trial."""
    unchanged: int = 0
    """Child runs already mirroring their trial."""
    steps_logged: int = 0
    """Parent step metrics (iterations and evaluations) logged."""
    artifacts_logged: int = 0
    report_logged: bool = False
    duplicates: list[int] = field(default_factory=list)
    """Trials with more than one child run (left from a race; the oldest run is used)."""
    error: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Return True when the sync wrote anything."""
        return bool(self.created or self.updated or self.steps_logged or self.artifacts_logged)

    def summary(self) -> str:
        """Return a one-line summary."""
        if not self.ok:
            return (f"MLflow mirror to {self.tracking_uri} failed after {self.seconds:.1f} s: "
                    f"{self.error}")
        return (
            f"MLflow mirror {self.tracking_uri}: experiment {self.experiment_id}, parent run "
            f"{self.parent_run_id}; trial runs created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}; {self.steps_logged} step metrics, "
            f"{self.artifacts_logged} artifacts in {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {**asdict(self), "changed": self.changed}


@dataclass
class ChildState:
    """A trial's run and the trial status it mirrors (None: not known to be complete)."""

    run_id: str
    mirrored: str | None


@dataclass
class MirrorState:
    """The campaign's runs as last seen in MLflow (dropped after any failure)."""

    experiment_id: str
    parent_id: str
    parent_status: str
    parent_params: dict[str, str]
    parent_tags: dict[str, str]
    children: dict[int, ChildState]
    steps: set[int]
    """Iterations whose step metrics the parent has."""
    eval_steps: set[int]
    """Evaluation counts whose hypervolume the parent has."""
    hv_cache: dict[int, tuple[int, float]] = field(default_factory=dict)
    """Evaluations k -> (id of the k-th finished trial, hypervolume of the first k)."""
