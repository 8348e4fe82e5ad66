"""Compare two campaign stores trial by trial: same designs, same states, same outcomes.

Used to check that a refactor keeps a campaign's results by seed: run the same config on the
old and the new code into two stores, then

    python experiments/compare_stores.py OLD.db NEW.db [--rtol 1e-6] [--json OUT.json]

Designs are compared as JSON values (numbers within ``rtol``), outcomes metric by metric
(relative difference), and the largest differences are listed. Exit 0 when every trial matches
within the tolerance, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from typing import Any


def load(path: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    rows = con.execute(
        "select id, design, status, outcomes, censored, origin, attempts, reason "
        "from trials order by id"
    ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        for key in ("design", "outcomes", "censored"):
            d[key] = json.loads(d[key]) if d[key] else {}
        out.append(d)
    return out


def _diff(a: Any, b: Any, rtol: float, where: str, found: list[tuple[float, str]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff(a.get(k), b.get(k), rtol, f"{where}.{k}", found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, rtol, f"{where}[{i}]", found)
    elif (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        scale = max(abs(a), abs(b), 1e-12)
        rel = abs(a - b) / scale if math.isfinite(a) and math.isfinite(b) else math.inf
        if rel > rtol:
            found.append((rel, f"{where}: {a!r} vs {b!r} (rel {rel:.3g})"))
    elif a != b:
        found.append((math.inf, f"{where}: {a!r} vs {b!r}"))


def compare(old: list[dict[str, Any]], new: list[dict[str, Any]], rtol: float) -> dict[str, Any]:
    found: list[tuple[float, str]] = []
    if len(old) != len(new):
        found.append((math.inf, f"trial count: {len(old)} vs {len(new)}"))
    for a, b in zip(old, new, strict=False):
        tid = f"trial {a['id']}"
        for key in ("design", "status", "origin", "outcomes", "censored"):
            _diff(a[key], b[key], rtol, f"{tid}.{key}", found)
    found.sort(key=lambda x: -x[0])
    return {
        "trials": [len(old), len(new)],
        "rtol": rtol,
        "differences": len(found),
        "largest": [msg for _, msg in found[:20]],
        "max_rel": (found[0][0] if found else 0.0),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    result = compare(load(args.old), load(args.new), args.rtol)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            fh.write(text + "\n")
    return 0 if result["differences"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
