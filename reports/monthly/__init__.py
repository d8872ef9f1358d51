"""The monthly feed to Sở Công Thương: report tables, workbook/JSON/CSV files, delivery.

``tables`` computes the figures, ``workbook`` renders and writes the files, and
``from_warehouse`` reads gold and delivers.
"""

from reports.monthly.workbook import MonthlyReportPaths, build_monthly_report

__all__ = ["MonthlyReportPaths", "build_monthly_report"]
