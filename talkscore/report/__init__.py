"""Self-contained HTML reports of one video (`page`) and their figures (`figures`); scores and
diagnostics as people read them (`readable`, also the terminal tables)."""

from talkscore.report.page import make_report, report_name, write_index, write_report

__all__ = ["make_report", "report_name", "write_index", "write_report"]
