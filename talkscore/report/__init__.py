"""Self-contained HTML reports of one video (`page`) and their figures (`figures`)."""

from talkscore.report.page import make_report, report_name, write_index, write_report

__all__ = ["make_report", "report_name", "write_index", "write_report"]
