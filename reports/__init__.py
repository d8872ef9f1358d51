"""Reports: outputs for people and outside tools.

The monthly feed to Sở Công Thương (Excel workbook in Vietnamese, CSV/JSON), and file
writers shared by the command line (CSV, Parquet or a formatted xlsx by extension).
"""
