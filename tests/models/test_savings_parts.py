"""Peak demand, demand response, rooftop solar and lighting (models/savings/*) on frames
built by hand, where the right answer is known by construction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from models.balances import PROVINCE_ID
from models.savings.demand_response import (
    DR_TARGET_MW,
    dr_reductions,
    dr_summary,
)
from models.savings.lighting import advertising_compliance, lighting_compliance
from models.savings.peak import peak_demand, peak_month
from models.savings.solar import NEW_SOLAR_TARGET_KWP, solar_summary

TZ = "Asia/Ho_Chi_Minh"
ZONE = ZoneInfo(TZ)
UTC_US = pl.Datetime("us", "UTC")
READING_SCHEMA = {"meter_id": pl.String, "interval_end": UTC_US, "interval_minutes": pl.Int64,
                  "kwh_import": pl.Float64, "kwh_export": pl.Float64, "quality": pl.String}

Power = Callable[[datetime], float | None]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE)


def profile(meter_id: str, first: date, days: int, minutes: int, kw: Power) -> pl.DataFrame:
    """Readings of a meter whose power [kW] in the interval starting at local t is kw(t)."""
    start = local(first, 0)
    rows = []
    for i in range(days * 24 * 60 // minutes):
        begins = start + timedelta(minutes=i * minutes)
        power = kw(begins)
        rows.append((meter_id, (begins + timedelta(minutes=minutes)).astimezone(UTC), minutes,
                     None if power is None else power * minutes / 60, 0.0,
                     "measured" if power is not None else "missing"))
    return pl.DataFrame(rows, schema=READING_SCHEMA, orient="row")


def reading(meter_id: str, begins: datetime, minutes: int, kw: float) -> pl.DataFrame:
    return pl.DataFrame([(meter_id, (begins + timedelta(minutes=minutes)).astimezone(UTC),
                          minutes, kw * minutes / 60, 0.0, "measured")],
                        schema=READING_SCHEMA, orient="row")


def constant(kw: float) -> Power:
    return lambda _: kw


def meter_table(*rows: dict[str, object]) -> pl.DataFrame:
    defaults: dict[str, object] = {
        "meter_role": "customer", "customer_group": "residential", "branch_id": "B1",
        "commune": "C1", "solar_kwp": None, "dr_participant": False,
        "valid_from": datetime(2020, 1, 1, tzinfo=UTC), "valid_to": None, "tags": None}
    return pl.DataFrame([{**defaults, **row} for row in rows], schema={
        "meter_id": pl.String, "meter_role": pl.String, "customer_group": pl.String,
        "branch_id": pl.String, "commune": pl.String, "solar_kwp": pl.Float64,
        "dr_participant": pl.Boolean, "valid_from": UTC_US, "valid_to": UTC_US,
        "tags": pl.String})


def row_of(frame: pl.DataFrame, **keys: object) -> dict[str, object]:
    hits = frame.filter(*(pl.col(k) == v for k, v in keys.items()))
    assert hits.height == 1, hits
    return hits.row(0, named=True)


# --- peak demand --------------------------------------------------------------------------

DAY = date(2026, 6, 10)


@pytest.mark.parametrize("minutes", [15, 60])
def test_peak_adds_meters_of_any_cadence_on_a_common_half_hour_grid(minutes: int) -> None:
    readings = pl.concat([profile("A", DAY, 2, 30, constant(10.0)),
                          profile("B", DAY, 2, minutes, constant(5.0))])
    meters = meter_table({"meter_id": "A", "branch_id": "B1"},
                         {"meter_id": "B", "branch_id": "B2"})
    daily = peak_demand(readings.lazy(), meters, timezone=TZ)
    assert daily.columns == ["level", "node_id", "date", "peak_mw", "peak_at", "n_meters",
                             "measured_share"]
    for day in (DAY, DAY + timedelta(days=1)):
        province = row_of(daily, level="province", node_id=PROVINCE_ID, date=day)
        assert province["peak_mw"] == pytest.approx(0.015, abs=1e-12)
        assert province["n_meters"] == 2
        assert province["measured_share"] == 1.0
        # a flat load peaks first in the window's first half hour, which ends at 18:00;
        # a 60-minute reading 17:00–18:00 gives its power to 17:30–18:00 as well
        assert province["peak_at"] == local(day, 18).astimezone(UTC)
        assert row_of(daily, level="branch", node_id="B1", date=day)["peak_mw"] == \
            pytest.approx(0.010, abs=1e-12)
        assert row_of(daily, level="branch", node_id="B2", date=day)["peak_mw"] == \
            pytest.approx(0.005, abs=1e-12)
    assert daily.height == 6


def test_peak_is_coincident_and_only_inside_the_evening_window() -> None:
    def a_kw(t: datetime) -> float:
        if t.time() in (time(17, 0), time(22, 30)):   # just outside 17:30–22:30
            return 100.0
        return 20.0 if t.time() == time(18, 0) else 1.0

    def b_kw(t: datetime) -> float:
        return 8.0 if t.hour == 18 else 1.0

    readings = pl.concat([profile("A", DAY, 1, 30, a_kw), profile("B", DAY, 1, 60, b_kw)])
    daily = peak_demand(readings, meter_table({"meter_id": "A"}, {"meter_id": "B"}),
                        timezone=TZ)
    province = row_of(daily, level="province")
    assert province["peak_mw"] == pytest.approx(0.028, abs=1e-12)   # 20 + 8 kW
    assert province["peak_at"] == datetime(2026, 6, 10, 11, 30, tzinfo=UTC)  # 18:30 local


def test_peak_leaves_out_missing_rows_other_roles_and_meters_not_yet_valid() -> None:
    second = DAY + timedelta(days=1)

    def b_kw(t: datetime) -> float | None:
        if t.date() == DAY and time(19, 0) <= t.time() < time(21, 30):
            return None            # 5 of the window's 10 half hours missing
        if t.date() == second:
            return None
        return 10.0

    readings = pl.concat([
        profile("A", DAY, 2, 30, constant(10.0)), profile("B", DAY, 2, 30, b_kw),
        profile("T", DAY, 2, 30, constant(1000.0)), profile("C", DAY, 2, 30, constant(7.0))])
    meters = meter_table(
        {"meter_id": "A"}, {"meter_id": "B"},
        {"meter_id": "T", "meter_role": "transformer_total", "customer_group": None},
        {"meter_id": "C", "valid_from": local(second, 0).astimezone(UTC)})
    daily = peak_demand(readings, meters, timezone=TZ).filter(pl.col("level") == "province")
    first_day = row_of(daily, date=DAY)
    assert first_day["peak_mw"] == pytest.approx(0.020, abs=1e-12)
    assert first_day["n_meters"] == 2
    assert first_day["measured_share"] == pytest.approx(15 / 20)
    second_day = row_of(daily, date=second)
    assert second_day["peak_mw"] == pytest.approx(0.017, abs=1e-12)   # A 10 + C 7
    assert second_day["n_meters"] == 2
    assert second_day["measured_share"] == pytest.approx(20 / 30)


def daily_rows(node: str, level: str, peaks: dict[date, float]) -> pl.DataFrame:
    return pl.DataFrame({
        "level": level, "node_id": node, "date": list(peaks),
        "peak_mw": list(peaks.values()),
        "peak_at": [local(d, 19).astimezone(UTC) for d in peaks],
        "n_meters": 1, "measured_share": 1.0},
        schema_overrides={"peak_at": UTC_US, "n_meters": pl.Int64})


def test_peak_month_against_the_same_month_last_year() -> None:
    daily = pl.concat([
        daily_rows(PROVINCE_ID, "province",
                   {date(2026, 6, 1): 10.0, date(2026, 6, 2): 12.0, date(2026, 6, 3): 8.5}),
        daily_rows("B1", "branch", {date(2026, 6, 1): 3.0})])
    last = daily_rows(PROVINCE_ID, "province",
                      {date(2025, 6, 5): 8.0, date(2025, 6, 9): 10.0})
    month = peak_month(daily, last_year=last)
    assert month.columns == ["level", "node_id", "period", "peak_mw", "peak_date", "peak_at",
                             "mean_daily_peak_mw", "days", "last_year_peak_mw", "change_pct"]
    province = row_of(month, level="province")
    assert province["period"] == "2026-06"
    assert province["peak_mw"] == 12.0
    assert province["peak_date"] == date(2026, 6, 2)
    assert province["mean_daily_peak_mw"] == pytest.approx(30.5 / 3)
    assert province["days"] == 3
    assert province["last_year_peak_mw"] == 10.0
    assert province["change_pct"] == pytest.approx(20.0)
    branch = row_of(month, level="branch")
    assert branch["last_year_peak_mw"] is None
    assert branch["change_pct"] is None
    assert peak_month(daily, last_year=None)["change_pct"].null_count() == 2


# --- demand response ----------------------------------------------------------------------

EVENT_DAY = date(2026, 3, 17)          # a Tuesday
EARLIER_EVENT = date(2026, 3, 12)      # P1's other event day, a Thursday
HISTORY_START = date(2026, 2, 23)      # after Tết; a Monday


def workdays_before(day: date, n: int, skip: tuple[date, ...] = ()) -> set[date]:
    days: set[date] = set()
    while len(days) < n:
        day -= timedelta(days=1)
        if day.weekday() < 5 and day not in skip:
            days.add(day)
    return days


def dr_load(baseline: set[date], *, normal_kw: float, event_kw: dict[date, float]) -> Power:
    """Power in 18:00–20:00: the event's on event days, normal on the baseline days, 100 kW
    on older workdays and 50 kW at weekends (so a wrong choice of days shows)."""
    def kw(t: datetime) -> float:
        if not 18 <= t.hour < 20:
            return 3.0
        day = t.date()
        if day in event_kw:
            return event_kw[day]
        if day.weekday() >= 5:
            return 50.0
        return normal_kw if day in baseline else 100.0
    return kw


def event_rows(*rows: tuple[str, str, datetime, datetime, float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [(e, m, s.astimezone(UTC), f.astimezone(UTC), t) for e, m, s, f, t in rows],
        schema={"event_id": pl.String, "meter_id": pl.String, "start_at": UTC_US,
                "end_at": UTC_US, "target_kw": pl.Float64}, orient="row")


def test_dr_reduction_against_the_ten_preceding_like_days() -> None:
    days = (EVENT_DAY - HISTORY_START).days + 1
    p1_days = workdays_before(EVENT_DAY, 10, skip=(EARLIER_EVENT,))
    p2_days = workdays_before(EVENT_DAY, 10)
    assert min(p1_days) == date(2026, 3, 2)
    p1_days |= workdays_before(EARLIER_EVENT, 8)      # P1's earlier event: 8 of 10 at 10 kW
    readings = pl.concat([
        profile("P1", HISTORY_START, days, 30, dr_load(
            p1_days, normal_kw=10.0, event_kw={EVENT_DAY: 6.0, EARLIER_EVENT: 0.0})),
        profile("P2", HISTORY_START, days, 60, dr_load(
            p2_days, normal_kw=20.0, event_kw={EVENT_DAY: 5.0})),
    ])
    events = event_rows(
        ("E1", "P1", local(EARLIER_EVENT, 18), local(EARLIER_EVENT, 20), 5.0),
        ("E2", "P1", local(EVENT_DAY, 18), local(EVENT_DAY, 20), 5.0),
        ("E2", "P2", local(EVENT_DAY, 18), local(EVENT_DAY, 20), 10.0))
    out = dr_reductions(readings.lazy(), events, timezone=TZ)
    assert out.columns == ["event_id", "meter_id", "date", "start_at", "end_at",
                           "window_hours", "actual_kwh", "baseline_kwh", "baseline_days_used",
                           "adjustment", "reduction_kw", "target_kw", "verdict", "reason"]
    assert out["adjustment"].to_list() == [1.0, 1.0, 1.0]  # the hours before are as usual
    p1 = row_of(out, event_id="E2", meter_id="P1")
    assert (p1["date"], p1["window_hours"]) == (EVENT_DAY, 2.0)
    # 10 kW × 2 h on the 10 workdays before, leaving out P1's own event day of 12 March
    assert (p1["actual_kwh"], p1["baseline_kwh"], p1["baseline_days_used"]) == (12.0, 20.0, 10)
    assert p1["reduction_kw"] == 4.0
    assert (p1["verdict"], p1["reason"]) == ("ok", None)
    p2 = row_of(out, event_id="E2", meter_id="P2")   # 12 March is a normal day for P2
    assert (p2["actual_kwh"], p2["baseline_kwh"], p2["reduction_kw"]) == (10.0, 40.0, 15.0)
    e1 = row_of(out, event_id="E1")   # 8 days at 10 kW, then 26–27 Feb at 100 kW
    assert e1["baseline_kwh"] == pytest.approx((8 * 20 + 2 * 200) / 10)
    assert e1["reduction_kw"] == pytest.approx(28.0)


@pytest.mark.parametrize(("day_factor", "adjustment"), [(1.25, 1.25), (2.0, 1.4)])
def test_dr_baseline_follows_the_event_days_load_before_the_window(
        day_factor: float, adjustment: float) -> None:
    """A hot event day: the hours before the event scale the like-day mean (capped)."""
    def kw(t: datetime) -> float:
        hot = day_factor if t.date() == EVENT_DAY else 1.0
        cut = 0.75 if t.date() == EVENT_DAY and 18 <= t.hour < 20 else 1.0
        return 8.0 * hot * cut

    days = (EVENT_DAY - HISTORY_START).days + 1
    readings = profile("P", HISTORY_START, days, 30, kw)
    events = event_rows(("E", "P", local(EVENT_DAY, 18), local(EVENT_DAY, 20), None))
    out = dr_reductions(readings, events, timezone=TZ).row(0, named=True)
    assert out["adjustment"] == pytest.approx(adjustment)
    # the truth is 25 % of the day's load; the unadjusted like-day mean would say less
    assert out["reduction_kw"] == pytest.approx(8.0 * adjustment - 8.0 * day_factor * 0.75)
    if adjustment == day_factor:
        assert out["reduction_kw"] == pytest.approx(0.25 * 8.0 * day_factor)


def test_dr_window_off_the_hour_takes_its_share_of_hourly_readings() -> None:
    def kw(t: datetime) -> float:
        return 4.0 if t.date() == EVENT_DAY and t.hour in (18, 19) else 10.0

    days = (EVENT_DAY - HISTORY_START).days + 1
    readings = profile("P", HISTORY_START, days, 60, kw)
    events = event_rows(("E", "P", local(EVENT_DAY, 18, 30), local(EVENT_DAY, 19, 30), None))
    out = dr_reductions(readings, events, timezone=TZ).row(0, named=True)
    # half of 18:00–19:00 and half of 19:00–20:00
    assert (out["window_hours"], out["actual_kwh"], out["baseline_kwh"]) == (1.0, 4.0, 10.0)
    assert (out["reduction_kw"], out["verdict"]) == (6.0, "ok")


def test_dr_without_enough_like_days_or_window_data_is_insufficient() -> None:
    short_start = date(2026, 3, 11)            # 11, 12, 13, 16 March: 4 workdays
    days = (EVENT_DAY - HISTORY_START).days + 1

    def gap(t: datetime) -> float | None:
        return None if t == local(EVENT_DAY, 19) else 10.0

    readings = pl.concat([
        profile("P3", short_start, (EVENT_DAY - short_start).days + 1, 30, constant(10.0)),
        profile("P4", HISTORY_START, days, 30, gap)])
    events = event_rows(("E", "P3", local(EVENT_DAY, 18), local(EVENT_DAY, 20), None),
                        ("E", "P4", local(EVENT_DAY, 18), local(EVENT_DAY, 20), None))
    out = dr_reductions(readings, events, timezone=TZ)
    p3 = row_of(out, meter_id="P3")
    assert (p3["verdict"], p3["baseline_days_used"], p3["reduction_kw"]) == \
        ("insufficient_data", 4, None)
    assert p3["reason"] == "4 baseline day(s) of the same type, 5 needed"
    p4 = row_of(out, meter_id="P4")
    assert (p4["verdict"], p4["baseline_days_used"], p4["actual_kwh"]) == \
        ("insufficient_data", 10, None)
    assert p4["reason"] == "missing data in the event window"


def test_dr_summary_counts_only_trusted_cuts_against_30_mw() -> None:
    start, end = local(EVENT_DAY, 18).astimezone(UTC), local(EVENT_DAY, 20).astimezone(UTC)
    reductions = pl.DataFrame({
        "event_id": ["X", "X", "X", "Y"], "meter_id": ["a", "b", "c", "a"],
        "start_at": [start] * 4, "end_at": [end] * 4,
        "reduction_kw": [20_000.0, 12_000.0, 5_000.0, 29_999.0],
        "target_kw": [None, 15_000.0, None, None],
        "verdict": ["ok", "ok", "insufficient_data", "ok"]},
        schema_overrides={"start_at": UTC_US, "end_at": UTC_US, "target_kw": pl.Float64})
    summary = dr_summary(reductions)
    assert summary.columns == ["event_id", "start_at", "end_at", "participants",
                               "participants_ok", "reduction_mw", "committed_mw",
                               "target_mw", "met"]
    x, y = row_of(summary, event_id="X"), row_of(summary, event_id="Y")
    assert (x["participants"], x["participants_ok"], x["reduction_mw"]) == (3, 2, 32.0)
    assert (x["committed_mw"], x["target_mw"], x["met"]) == (15.0, DR_TARGET_MW, True)
    assert y["reduction_mw"] == pytest.approx(29.999)
    assert (y["committed_mw"], y["met"]) == (None, False)


def at(year: int, month: int, day: int) -> datetime:
    """Local midnight starting the day, as a UTC instant."""
    return local(date(year, month, day), 0).astimezone(UTC)


def test_solar_counts_new_capacity_only_for_installs_this_year() -> None:
    meters = meter_table(
        # solar added this year on an existing meter: 5 kWp new
        {"meter_id": "M1", "valid_from": at(2025, 1, 1), "valid_to": at(2026, 3, 1)},
        {"meter_id": "M1", "valid_from": at(2026, 3, 1), "solar_kwp": 5.0},
        # solar since 2024, a new row this year (moved branch): not new
        {"meter_id": "M2", "valid_from": at(2024, 1, 1), "valid_to": at(2026, 2, 1),
         "solar_kwp": 3.0},
        {"meter_id": "M2", "valid_from": at(2026, 2, 1), "solar_kwp": 3.0},
        # an office connected this year with solar: 10 kWp new
        {"meter_id": "M3", "customer_group": "public_admin", "branch_id": "B2",
         "valid_from": at(2026, 2, 1), "solar_kwp": 10.0},
        {"meter_id": "M4", "branch_id": "B2", "valid_from": at(2025, 6, 1), "solar_kwp": 4.0},
        {"meter_id": "M5", "branch_id": "B2"},
        # installed after the month's end: neither counted nor new
        {"meter_id": "M6", "valid_from": at(2026, 7, 1), "solar_kwp": 7.0},
        {"meter_id": "T1", "meter_role": "transformer_total", "customer_group": None,
         "solar_kwp": 50.0},
        # the row ending at the month's end is the one valid then; solar from 1 July is not
        {"meter_id": "M9", "valid_to": at(2026, 7, 1)},
        {"meter_id": "M9", "valid_from": at(2026, 7, 1), "solar_kwp": 6.0},
        # 1 January 2026 01:00 local is still 31 December 2025 in UTC: new this year
        {"meter_id": "M8", "valid_from": at(2026, 1, 1) + timedelta(hours=1),
         "solar_kwp": 2.0},
    )
    exports = pl.DataFrame({"meter_id": ["M1", "M3", "M3", "T1"],
                            "kwh_export": [100.0, 20.0, 30.0, 999.0]})
    out = solar_summary(meters, exports, year=2026, month_end_utc=at(2026, 7, 1))
    assert out.columns == [
        "level", "node_id", "solar_meters", "solar_kwp", "export_kwh", "households",
        "households_with_solar", "household_share", "household_share_pct", "offices",
        "offices_with_solar", "office_share", "office_share_pct", "new_kwp_this_year", "new_kwp_target", "new_kwp_met", "share_target",
        "household_share_met", "office_share_met"]
    assert out["node_id"].to_list() == [PROVINCE_ID, "B1", "B2"]
    province = out.row(0, named=True)
    assert province["new_kwp_this_year"] == 17.0          # M1 5 + M3 10 + M8 2
    assert (province["solar_meters"], province["solar_kwp"]) == (5, 24.0)
    assert province["export_kwh"] == 150.0
    assert (province["households"], province["households_with_solar"]) == (6, 4)
    assert province["household_share"] == pytest.approx(4 / 6)
    assert province["household_share_pct"] == pytest.approx(400 / 6)
    assert (province["offices"], province["offices_with_solar"], province["office_share"]) \
        == (1, 1, 1.0)
    assert (province["new_kwp_target"], province["new_kwp_met"]) == (NEW_SOLAR_TARGET_KWP,
                                                                     False)
    assert (province["household_share_met"], province["office_share_met"]) == (True, True)
    b1, b2 = out.row(1, named=True), out.row(2, named=True)
    assert (b1["new_kwp_this_year"], b2["new_kwp_this_year"]) == (7.0, 10.0)
    assert (b1["export_kwh"], b2["export_kwh"]) == (100.0, 50.0)
    assert (b2["households"], b2["households_with_solar"]) == (2, 1)
    assert b1["new_kwp_met"] is None
    # in the year before, the same meters added only M4's 4 kWp (M2's came in 2024)
    before = solar_summary(meters, None, year=2025, month_end_utc=at(2026, 1, 1))
    assert before.row(0, named=True)["new_kwp_this_year"] == 4.0
    assert before.row(0, named=True)["export_kwh"] == 0.0
    renamed = exports.rename({"kwh_export": "export_kwh"})
    assert solar_summary(meters, renamed, year=2026, month_end_utc=at(2026, 7, 1)).equals(out)


# --- lighting -----------------------------------------------------------------------------

JUNE = date(2026, 6, 1)


def street_light(evening_kw: float, night_kw: float, *, standby_kw: float = 0.0) -> Power:
    """Lit 18:00–06:00: ``evening_kw`` until 23:00 and from 04:00, ``night_kw`` between."""
    def kw(t: datetime) -> float:
        if t.hour >= 23 or t.hour < 4:
            return night_kw
        if t.hour >= 18 or t.hour < 6:
            return evening_kw
        return standby_kw
    return kw


def test_lighting_night_ratio_on_15_minute_and_mixed_data() -> None:
    mixed = pl.concat([
        profile("L3", JUNE, 15, 30, street_light(8.0, 4.0)),
        profile("L3", JUNE + timedelta(days=15), 15, 15, street_light(8.0, 2.0))])
    readings = pl.concat([
        profile("L1", JUNE, 30, 15, street_light(4.0, 2.0)),
        # outside the month: the interval ending 00:00 on 1 June and one on 1 July
        reading("L1", local(date(2026, 5, 31), 23, 45), 15, 100.0),
        reading("L1", local(date(2026, 7, 1), 0), 15, 100.0),
        profile("L2", JUNE, 30, 60, street_light(10.0, 6.0)),
        mixed,
        profile("L4", JUNE, 30, 30, constant(0.0)),
    ])
    lights = pl.DataFrame({"meter_id": ["L1", "L2", "L3", "L4", "L5"]})
    out = lighting_compliance(readings.lazy(), lights, month="2026-06", timezone=TZ)
    assert out.columns == ["meter_id", "period", "night_kw", "evening_kw", "night_ratio",
                           "compliant", "reason", "lit_kw", "last_year_evening_kw",
                           "all_hours_ratio", "all_hours_compliant", "all_hours_reason"]
    l1 = row_of(out, meter_id="L1")
    assert (l1["night_kw"], l1["evening_kw"], l1["night_ratio"]) == (2.0, 4.0, 0.5)
    assert (l1["compliant"], l1["reason"]) == (True, None)
    l2 = row_of(out, meter_id="L2")
    assert l2["night_ratio"] == pytest.approx(0.6)
    assert l2["compliant"] is False
    # time-weighted: half the nights at 4 kW, half at 2 kW, whatever the cadence
    assert row_of(out, meter_id="L3")["night_ratio"] == pytest.approx(3.0 / 8.0)
    l4 = row_of(out, meter_id="L4")
    assert (l4["night_ratio"], l4["compliant"], l4["reason"]) == \
        (None, None, "no evening power")
    assert row_of(out, meter_id="L5")["reason"] == "no readings"
    assert set(out["all_hours_reason"]) == {"no last year"}


def test_lighting_all_hours_rule_in_may_to_july() -> None:
    last_june = date(2025, 6, 1)
    last_year = pl.concat([profile("A", last_june, 30, 30, street_light(10.0, 5.0)),
                           profile("B", last_june, 30, 30, street_light(10.0, 5.0))])
    this = pl.concat([
        profile("A", JUNE, 30, 15, street_light(4.0, 4.0, standby_kw=0.05)),
        profile("B", JUNE, 30, 30, street_light(6.0, 3.0)),
        profile("C", JUNE, 30, 30, street_light(6.0, 3.0))])
    lights = pl.DataFrame({"meter_id": ["A", "B", "C"]})
    out = lighting_compliance(this, lights, month="2026-06", timezone=TZ,
                              last_year=last_year.lazy())
    a = row_of(out, meter_id="A")      # the standby draw by day is not lit power
    assert (a["lit_kw"], a["last_year_evening_kw"]) == (4.0, 10.0)
    assert (a["all_hours_ratio"], a["all_hours_compliant"], a["all_hours_reason"]) == \
        (0.4, True, None)
    b = row_of(out, meter_id="B")      # lit 7 h at 6 kW and 5 h at 3 kW: 4.75 kW
    assert b["all_hours_ratio"] == pytest.approx(4.75 / 10)
    assert b["all_hours_compliant"] is True
    c = row_of(out, meter_id="C")
    assert (c["all_hours_ratio"], c["all_hours_compliant"], c["all_hours_reason"]) == \
        (None, None, "no last year")
    shifted = this.with_columns(pl.col("interval_end").dt.offset_by("4mo"))
    october = lighting_compliance(shifted, lights, month="2026-10", timezone=TZ,
                                  last_year=last_year)
    assert set(october["all_hours_reason"]) == {"not a peak month"}
    assert october["all_hours_compliant"].null_count() == 3


def test_lighting_all_hours_ratio_above_the_limit_is_not_compliant() -> None:
    last_year = profile("A", date(2025, 7, 1), 31, 60, street_light(10.0, 5.0))
    this = profile("A", date(2026, 7, 1), 31, 60, street_light(6.0, 6.0))
    out = lighting_compliance(this, pl.DataFrame({"meter_id": ["A"]}), month="2026-07",
                              timezone=TZ, last_year=last_year)
    assert (out["all_hours_ratio"][0], out["all_hours_compliant"][0]) == (0.6, False)


def advertising_load(peak_kw: float) -> Power:
    """``peak_kw`` in 17:30–22:30, 100 kW just before it, 1 kW otherwise."""
    def kw(t: datetime) -> float:
        if time(17, 0) <= t.time() < time(17, 30):
            return 100.0
        if time(17, 30) <= t.time() < time(22, 30):
            return peak_kw
        return 1.0
    return kw


def test_advertising_cut_in_the_evening_peak_against_last_year() -> None:
    def month_of(first: date, days: int, loads: dict[str, tuple[int, float]]) -> pl.DataFrame:
        return pl.concat([profile(m, first, days, minutes, advertising_load(kw))
                          for m, (minutes, kw) in loads.items()])

    meters = meter_table({"meter_id": "A", "tags": "shop, Advertising"},
                         {"meter_id": "B", "tags": "advertising"},
                         {"meter_id": "C", "tags": "hotel"}, {"meter_id": "D"})
    last_june = month_of(date(2025, 6, 1), 30, {"A": (30, 10.0), "B": (30, 10.0),
                                                 "C": (30, 10.0)})
    june = month_of(JUNE, 30, {"A": (30, 4.0), "B": (15, 6.0), "C": (30, 10.0)})
    out = advertising_compliance(june, meters, month="2026-06", timezone=TZ,
                                 last_year=last_june)
    assert out.columns == ["meter_id", "period", "peak_kw", "last_year_peak_kw", "cut_pct",
                           "compliant", "verdict"]
    assert out["meter_id"].to_list() == ["A", "B"]
    a, b = out.row(0, named=True), out.row(1, named=True)
    assert (a["peak_kw"], a["last_year_peak_kw"], a["cut_pct"]) == (4.0, 10.0, 60.0)
    assert (a["compliant"], a["verdict"]) == (True, "compliant")
    assert b["cut_pct"] == pytest.approx(40.0)
    assert (b["compliant"], b["verdict"]) == (False, "not_compliant")

    none = advertising_compliance(june, meters, month="2026-06", timezone=TZ)
    assert set(none["verdict"]) == {"insufficient_data"}
    assert none["compliant"].null_count() == 2

    last_oct = month_of(date(2025, 10, 1), 31, {"A": (30, 10.0), "B": (30, 10.0)})
    october = month_of(date(2026, 10, 1), 31, {"A": (30, 4.0), "B": (15, 6.0)})
    outside = advertising_compliance(october, meters, month="2026-10", timezone=TZ,
                                     last_year=last_oct)
    assert set(outside["verdict"]) == {"not_applicable"}
    assert outside["compliant"].null_count() == 2
    assert outside["cut_pct"].to_list() == pytest.approx([60.0, 40.0])
