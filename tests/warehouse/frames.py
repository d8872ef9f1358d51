"""Frames that fit the declared ``meter_day`` schema, for the warehouse tests."""

import polars as pl


def meter_day(meter_ids: list[str], kwh: list[float]) -> pl.DataFrame:
    """Rows of gold ``meter_day`` with the given meters and imported energy."""
    n = len(meter_ids)
    return pl.DataFrame({
        "meter_id": meter_ids, "kwh_import": kwh, "kwh_export": [0.0] * n,
        "n_intervals": [48] * n, "n_measured": [48] * n, "n_estimated": [0] * n,
        "n_edited": [0] * n, "n_missing": [0] * n, "measured_share": [1.0] * n,
    }, schema={"meter_id": pl.String, "kwh_import": pl.Float64, "kwh_export": pl.Float64,
               "n_intervals": pl.Int64, "n_measured": pl.Int64, "n_estimated": pl.Int64,
               "n_edited": pl.Int64, "n_missing": pl.Int64, "measured_share": pl.Float64})
