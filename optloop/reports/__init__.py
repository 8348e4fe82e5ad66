"""Campaign reports: plots (PNG), tables (CSV) and a self-contained HTML page."""

from optloop.reports.report import PLOTS, Report, build_report

__all__ = ["PLOTS", "Report", "build_report"]
