"""Find evaluators by name: built-ins, entry points (``optloop.evaluators``) or ``module:Class``.

An evaluator class is constructed as ``cls(options)`` with the config's ``evaluator.options``
mapping; it validates its own options.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from optloop.evaluators.base import Evaluator
from optloop.exceptions import EvaluationError

__all__ = ["BUILTIN_EVALUATORS", "ENTRY_POINT_GROUP", "available_evaluators", "create_evaluator"]

ENTRY_POINT_GROUP = "optloop.evaluators"
#: Evaluators that ship with optloop (also registered as entry points when installed).
BUILTIN_EVALUATORS: dict[str, str] = {
    "pybamm": "optloop.evaluators.pybamm:PybammEvaluator",
}


def available_evaluators() -> dict[str, str]:
    """Return evaluator names mapped to their ``module:attribute`` targets."""
    found = dict(BUILTIN_EVALUATORS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise EvaluationError(f"evaluator target {target!r} is not of the form 'module:Class'")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise EvaluationError(f"cannot load evaluator {target!r}: {exc}") from exc


def create_evaluator(name: str, options: Mapping[str, Any] | None = None) -> Evaluator:
    """Construct the evaluator ``name`` (a registered name or ``module:Class``).

    Raises:
        EvaluationError: when the name is unknown or the plugin cannot be loaded or built.
    """
    known = available_evaluators()
    target = known.get(name) or (name if ":" in name else None)
    if target is None:
        raise EvaluationError(
            f"evaluator {name!r} is not installed; available: {sorted(known)} "
            "(or give 'module:Class')"
        )
    cls = _load(target)
    try:
        evaluator = cls(dict(options or {}))
    except Exception as exc:  # a plugin's own validation error, whatever its type
        raise EvaluationError(f"evaluator {name!r} rejected its options: {exc}") from exc
    if not isinstance(evaluator, Evaluator):
        raise EvaluationError(
            f"{target} does not implement the evaluator protocol "
            "(name, capabilities, submit, status, fetch, cancel)"
        )
    return evaluator
