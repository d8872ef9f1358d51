"""The generator's meter faults work on any meters × intervals matrix, not only a province."""

from datetime import UTC, date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from ami.province import (
    FAULT_KINDS,
    advance_registers,
    apply_faults,
    day_ends,
    delivered_readings,
    fault_events,
    fault_truth,
    never_reporting,
    plan_faults,
    registers_frame,
)

DAY = date(2013, 1, 10)
METERS = np.array([f"M{i:02d}" for i in range(12)])


def real_day(seed: int = 1) -> np.ndarray:
    """A day of household-like energy [kWh] for 12 meters, 48 half hours."""
    return np.round(np.random.default_rng(seed).gamma(2.0, 0.1, (len(METERS), 48)), 3)


def one_fault(kind: str, *, onset: int = 0, end: int = 0) -> dict[int, dict[str, float | str | int]]:
    return {3: {"kind": kind, "onset": onset, "end": end, "seed": 99}}


def test_plan_deals_every_kind_in_turn_within_the_period() -> None:
    plan = plan_faults(list(range(30)), 28, np.random.default_rng(5))
    kinds = [str(f["kind"]) for f in plan.values()]
    assert kinds[: len(FAULT_KINDS)] == list(FAULT_KINDS)
    for f in plan.values():
        assert 0 <= int(f["onset"]) <= int(f["end"]) <= 27
        if f["kind"] == "never_reporting":
            assert (f["onset"], f["end"]) == (0, 27)
        else:  # starts within 10–60 % of the period
            assert 2 <= int(f["onset"]) <= 16


@pytest.mark.parametrize(("zone", "count"), [
    pytest.param("Asia/Ho_Chi_Minh", 48, id="no-dst"),
    pytest.param("UTC", 48, id="utc"),
    pytest.param("Europe/London", 46, id="spring-forward"),
])
def test_day_ends_follow_the_local_day(zone: str, count: int) -> None:
    day = date(2013, 3, 31)
    ends = day_ends(day, 30, ZoneInfo(zone))
    assert len(ends) == count
    assert ends[-1] == datetime(2013, 4, 1, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert all(b - a == ends[1] - ends[0] for a, b in pairwise(ends))


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "never_reporting"])
def test_a_fault_never_fills_a_real_gap(kind: str) -> None:
    values = real_day()
    present = np.ones_like(values, dtype=bool)
    present[3, ::2] = False  # the meter delivered only every other half hour
    faults = apply_faults(one_fault(kind), 0, values.copy(), present=present)
    ends = day_ends(DAY, 30, ZoneInfo("UTC"))
    rows = delivered_readings(METERS, faults, ends=ends, export=np.full(values.shape, np.nan))
    gaps = {ends[k].replace(tzinfo=None) for k in range(0, 48, 2)}
    shift = pl.duration(minutes=60 if kind == "clock_offset" else 0)
    delivered = rows.filter(pl.col("meter_id") == "M03").select(
        (pl.col("interval_end") - shift).dt.replace_time_zone(None))["interval_end"]
    assert gaps.isdisjoint(delivered.to_list())
    cells, days = fault_truth(METERS, faults, DAY, ends)
    assert days == [("M03", DAY, kind)]
    # the truth lists only intervals the fault really changed in the delivery
    assert all(k % 2 == 1 for _, k, _ in faults.cells)
    assert {meter for meter, _, _ in cells} <= {"M03"}


def test_the_faults_do_what_the_generator_says() -> None:
    values = real_day()
    ends = day_ends(DAY, 30, ZoneInfo("UTC"))
    plan = {0: {"kind": "stuck", "onset": 0, "end": 0, "seed": 1},
            1: {"kind": "multiplier", "onset": 0, "end": 0, "seed": 2},
            2: {"kind": "register_jump", "onset": 0, "end": 0, "seed": 3},
            4: {"kind": "never_reporting", "onset": 0, "end": 0, "seed": 4},
            5: {"kind": "clock_offset", "onset": 0, "end": 0, "seed": 5},
            6: {"kind": "gaps", "onset": 1, "end": 2, "seed": 6}}  # not active on day 0
    faults = apply_faults(plan, 0, values.copy())
    registers = advance_registers(np.full(len(METERS), 100.0), faults)
    counted = registers - 100.0
    assert counted[0] == pytest.approx(48 * max(values[0, 0], 0.05))
    assert counted[1] / values[1].sum() == pytest.approx(float(faults.reported[1, 0] / values[1, 0]))
    assert 5 <= counted[2] - values[2].sum() <= 50
    assert counted[7] == pytest.approx(values[7].sum())
    rows = delivered_readings(METERS, faults, ends=ends, export=np.full(values.shape, np.nan))
    assert "M04" not in set(rows["meter_id"])
    assert rows.filter(pl.col("meter_id") == "M06").height == 48
    first = rows.filter(pl.col("meter_id") == "M05")["interval_end"].min()
    assert first == datetime(2013, 1, 10, 1, 30, tzinfo=UTC)  # an hour ahead
    reads = registers_frame(METERS, DAY, imports=registers,
                            exports=np.full(len(METERS), np.nan),
                            silent=never_reporting(METERS, plan), tz=ZoneInfo("UTC"))
    assert reads.height == len(METERS) - 1
    assert reads["read_at"].unique().to_list() == [datetime(2013, 1, 11, tzinfo=UTC)]
    assert reads["register_kwh_export"].null_count() == reads.height
    events = fault_events(METERS, plan, 0, DAY, ZoneInfo("UTC"))
    assert events == [("M05", datetime(2013, 1, 10, 23, 54, tzinfo=UTC), "clock_adjusted")]
