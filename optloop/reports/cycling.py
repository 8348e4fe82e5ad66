"""One trial's cycling data: its BDF file, per-cycle metrics, and the plots made from them.

Per-cycle series are written as a CSV table (an artifact), never as thousands of metric
points. The metrics follow the protocol the evaluator recorded in the BDF metadata
(:func:`optloop.data.metrics.file_protocol`), so the report shows what the campaign recorded;
a file without one is read with the defaults, its cell configuration (``full`` or ``half``)
taken from the metadata's ``cell`` or ``cell_configuration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optloop.data.bdf import read_bdf
from optloop.data.metrics import CycleMetrics, file_protocol

__all__ = ["CyclingData", "load_cycling", "write_cycling_artifacts"]


@dataclass(frozen=True)
class CyclingData:
    """A trial's time series with its metrics."""

    path: Path
    frame: pd.DataFrame
    metadata: dict[str, Any]
    metrics: CycleMetrics

    def cycles_table(self) -> pd.DataFrame:
        """Return one row per counted cycle: capacities, efficiency, retention."""
        m = self.metrics
        return pd.DataFrame(
            {
                "cycle": m.cycle_numbers,
                "cycle_count": m.cycle_counts,
                "charge_capacity_Ah": m.charge_capacity_Ah,
                "discharge_capacity_Ah": m.discharge_capacity_Ah,
                "capacity_Ah": m.capacity_Ah,
                "coulombic_efficiency": m.coulombic_efficiency,
                "capacity_retention": m.capacity_retention,
            }
        )


def load_cycling(bdf_path: str | Path) -> CyclingData:
    """Read a BDF file and compute its per-cycle metrics.

    Raises:
        FileNotFoundError: when the file is gone.
        optloop.data.BDFError: when the data are malformed.
        optloop.data.MetricsError: when no complete cycle delivered charge.
    """
    path = Path(bdf_path)
    frame, meta = read_bdf(path)
    protocol, _ = file_protocol(meta, source=str(path))
    metrics = protocol.compute(frame, source=str(path))
    return CyclingData(path, frame, meta, metrics)


def write_cycling_artifacts(data: CyclingData, out_dir: Path, title: str) -> list[Path]:
    """Write ``cycles.csv``, ``capacity_fade.png`` and ``voltage_profile.png`` to ``out_dir``."""
    from optloop.reports.figures import capacity_fade_figure, save, voltage_profile_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / "cycles.csv"
    data.cycles_table().to_csv(table, index=False)
    fade = save(capacity_fade_figure({title: data.metrics}, title=f"{title}: capacity fade"),
                out_dir / "capacity_fade.png")
    volt = save(voltage_profile_figure(data.frame, title=f"{title}: voltage profiles"),
                out_dir / "voltage_profile.png")
    return [table, fade, volt]
