"""Demand response at the scale its figure is read: each event's total cut within ±5 %.

A participant's cut is a quarter of its load in the window, against a baseline built from
other days: one meter's estimate is as noisy as its load (±40 % here), the province's total
over hundreds of participants is not. The generator's 20,000-meter province (about 450
participants) is simulated over 4 May – 30 June 2026 without the pipeline (its interval
readings are handed to the model as silver would hold them); the truth is the energy the
generator removed in each window.
"""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from ami.province import ProvinceSpec, day_ends
from ami.province.generate import build_province
from ami.province.load import dr_windows, simulate_day
from models.savings.demand_response import dr_reductions, dr_summary

pytestmark = pytest.mark.slow

SPEC = ProvinceSpec(meters=20_000, start=date(2026, 5, 4), days=58, seed=8,
                    theft_share=0.0, fault_share=0.0)


@pytest.fixture(scope="module")
def simulated() -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    p = build_province(SPEC)
    windows = dr_windows(SPEC)
    who = np.flatnonzero(p.dr)
    frames, truth, events = [], {}, []
    for d in range(SPEC.days):
        day = SPEC.start + timedelta(days=d)
        res = simulate_day(p, SPEC, d, windows)
        ends = day_ends(day, SPEC.interval_minutes)
        frames.append(pl.DataFrame({
            "meter_id": np.repeat(p.meter_id[who], len(ends)),
            "interval_end": pl.Series(ends * len(who)),  # UTC instants
            "kwh_import": res.registered[who].ravel(),
        }))
        if d in windows:
            first, last = windows[d]
            event = f"DR-{day:%Y%m%d}"
            truth[event] = float(res.dr_reduction[who].sum()) / 3.0
            start = ends[first] - timedelta(minutes=SPEC.interval_minutes)
            events += [(event, m, start, ends[last - 1]) for m in p.meter_id[who]]
    readings = pl.concat(frames).with_columns(
        pl.col("interval_end").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.lit(SPEC.interval_minutes).alias("interval_minutes"),
        pl.lit(None, pl.Float64).alias("kwh_export"), pl.lit("measured").alias("quality"))
    frame = pl.DataFrame(events, schema=["event_id", "meter_id", "start_at", "end_at"],
                         orient="row").with_columns(
        pl.col("start_at", "end_at").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.lit(None, pl.Float64).alias("target_kw"))
    return readings, frame, truth


def test_each_events_total_cut_within_5_percent(
        simulated: tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]) -> None:
    readings, events, truth = simulated
    summary = dr_summary(dr_reductions(readings.lazy(), events))
    assert summary.height == 3 and set(summary["event_id"]) == set(truth)
    for row in summary.iter_rows(named=True):
        assert row["participants"] > 300
        assert row["participants_ok"] == row["participants"]
        measured_kw = row["reduction_mw"] * 1000
        assert measured_kw == pytest.approx(truth[row["event_id"]], rel=0.05), row
