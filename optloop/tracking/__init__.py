"""MLflow tracking: the campaign store mirrored into MLflow, idempotently.

:class:`MirrorCallback` is the campaign callback that ``optloop run`` / ``tick`` attach;
:class:`MlflowMirror` does the work (``optloop sync CONFIG`` runs it by hand). Importing this
package is cheap: MLflow and the mirror load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optloop.tracking.connection import TrackingUnavailableError, resolve_tracking_uri
from optloop.tracking.hook import MirrorCallback, mirror_callbacks
from optloop.tracking.state import SyncReport

if TYPE_CHECKING:
    from optloop.tracking.mirror import MlflowMirror

__all__ = [
    "MirrorCallback",
    "MlflowMirror",
    "SyncReport",
    "TrackingUnavailableError",
    "mirror_callbacks",
    "resolve_tracking_uri",
]


def __getattr__(name: str) -> Any:
    if name == "MlflowMirror":
        from optloop.tracking.mirror import MlflowMirror

        return MlflowMirror
    raise AttributeError(f"module 'optloop.tracking' has no attribute {name!r}")
