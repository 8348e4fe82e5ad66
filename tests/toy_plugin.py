"""A stand-in evaluator reachable by name (``toy_plugin:ToyPlugin``) for CLI tests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optloop.evaluators._toy import ToyEvaluator


def score(design: Mapping[str, Any]) -> dict[str, float]:
    """Return smooth synthetic metrics: thin films live long, thick ones store more."""
    a = design["alloy_layer"]
    t = a["thickness_um"]
    return {
        "cycle_life": 300.0 * math.exp(-2.0 * t),
        "areal_capacity_mAh_cm2": 0.5 + 2.0 * t,
        "first_cycle_efficiency": 0.85,
    }


class ToyPlugin(ToyEvaluator):
    """A toy evaluator built from an options mapping, as the registry builds plugins."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(score, polls_to_finish=int(options.get("polls", 1)), name="toy")
