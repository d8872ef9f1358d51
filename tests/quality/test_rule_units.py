"""VEE rules, parsing and de-duplication on hand-built inputs: a hit, a near miss, an edge.

Expected answers follow from each docstring and the ``Settings`` thresholds (read, not copied).
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ami.settings import Settings
from ami.vocabulary import CustomerGroup, Finding, Rule
from quality.grid import ESTIMATED, MEASURED, MISSING, Block
from quality.intake import deduplicate, parse_readings
from quality.rules import (
    clock_events,
    flat_lines,
    from_runs,
    group_range,
    register_mismatch,
    reverse_energy,
    spikes,
    zero_runs,
)

S = Settings()
DAY = "2026-10-01"
START = datetime(2026, 9, 30, 17, tzinfo=UTC)  # local midnight of DAY (UTC+7)


def block(rows: list[np.ndarray], *, minutes: int = 30,
          quality: np.ndarray | None = None, export: np.ndarray | None = None) -> Block:
    """A block of measured values (NaN cells and ``quality`` overrides allowed)."""
    values = np.array(rows, dtype=np.float64)
    assert values.shape[1] == 1440 // minutes
    codes = np.where(np.isnan(values), MISSING, MEASURED).astype(np.int8)
    return Block(meter_ids=pl.Series([f"M{i}" for i in range(len(values))]), minutes=minutes,
                 start=START, kwh_import=values,
                 kwh_export=np.full(values.shape, np.nan) if export is None else export,
                 quality=codes if quality is None else quality,
                 rule=np.zeros(values.shape, dtype=np.int16))


def flat(value: float, per: int = 48) -> np.ndarray:
    return np.full(per, value)


NAN1 = np.array([np.nan])  # one meter: register delta / record unknown


# --- spikes ---------------------------------------------------------------------------------

#: Interval floor of a spike at 30 minutes [kWh] (a rate of spike_floor_kwh_per_hour).
FLOOR_30 = S.spike_floor_kwh_per_hour / 2


@pytest.mark.parametrize(("record", "flagged"), [
    pytest.param(np.nan, True, id="no-history"), pytest.param(4.99, True, id="above-record"),
    pytest.param(5.0, False, id="equals-its-record"),
])
def test_a_lone_peak_without_register_is_flagged_not_rejected(record: float,
                                                              flagged: bool) -> None:
    day = flat(0.25)
    day[20] = 5.0  # median 0.25, MAD 0, 4·p90 = 1.0: far above all three limits
    spike, high = spikes(block([day]), NAN1, np.array([record]), settings=S)
    assert not spike.any()
    assert np.flatnonzero(high[0]).tolist() == ([20] if flagged else [])


@pytest.mark.parametrize(("minutes", "value", "flagged"), [
    pytest.param(30, FLOOR_30, False, id="30min-at-floor"),
    pytest.param(30, FLOOR_30 + 0.01, True, id="30min-just-above-floor"),
    pytest.param(15, FLOOR_30 / 2 + 0.01, True, id="15min-floor-halves"),
    pytest.param(60, FLOOR_30 + 0.01, False, id="60min-floor-doubles"),
])
def test_the_spike_floor_is_a_rate_scaled_to_the_cadence(minutes: int, value: float,
                                                          flagged: bool) -> None:
    day = flat(0.01, 1440 // minutes)  # p90 and MAD tiny: only the floor limits
    day[5] = value
    _, high = spikes(block([day], minutes=minutes), NAN1, NAN1, settings=S)
    assert bool(high[0, 5]) is flagged
    assert int(high.sum()) == int(flagged)


def test_a_busy_evening_raises_the_p90_limit_when_no_register_judges() -> None:
    day = flat(0.25)
    day[38:47] = 1.5     # 9 evening half hours: p90 = 1.5, so 4·p90 = 6 kWh
    day[47] = 5.0        # above median+MAD and the floor, below 4·p90
    assert S.spike_p90_factor * 1.5 > 5.0
    _, high = spikes(block([day]), NAN1, NAN1, settings=S)
    assert not high.any()


# measured: 47 × 0.25 + 5.0 = 16.75 kWh (exact in binary); tolerance max(0.5, 2 %) = 0.5
@pytest.mark.parametrize(("register", "rejected"), [
    pytest.param(16.75 - S.register_tolerance_kwh, False, id="excess-equal-to-tolerance"),
    pytest.param(16.0, True, id="excess-beyond-tolerance"),
    pytest.param(11.75, True, id="register-says-no-peak-at-all"),
])
def test_the_register_tolerance_decides_a_spike(register: float, rejected: bool) -> None:
    day = flat(0.25)
    day[20] = 5.0
    spike, high = spikes(block([day]), np.array([register]), NAN1, settings=S)
    assert bool(spike[0, 20]) is rejected
    assert int(spike.sum()) == int(rejected)
    assert not high.any()  # a known register never leaves a high_value flag


def test_only_measured_cells_are_judged_and_give_the_statistics() -> None:
    day = flat(0.25)
    day[:24] = np.nan           # half the day missing: the rest still has median 0.25
    day[30], day[40] = 5.0, 6.0
    quality = np.where(np.isnan(day), MISSING, MEASURED).astype(np.int8)[None, :]
    quality[0, 40] = ESTIMATED  # an estimate is not a measured outlier
    _, high = spikes(block([day], quality=quality), NAN1, NAN1, settings=S)
    assert np.flatnonzero(high[0]).tolist() == [30]


# --- flat lines -------------------------------------------------------------------------------

def ramp() -> np.ndarray:
    """48 distinct non-zero values: no two neighbours equal."""
    return np.linspace(0.1, 1.0, 48)


@pytest.mark.parametrize(("length", "flagged"), [
    pytest.param(S.flat_line_intervals, True, id="at-threshold"),
    pytest.param(S.flat_line_intervals - 1, False, id="one-short"),
])
def test_a_flat_line_needs_its_length(length: int, flagged: bool) -> None:
    day = ramp()
    day[10:10 + length] = 0.37
    found = flat_lines(block([day]), settings=S)
    expected = np.zeros(48, dtype=bool)
    if flagged:
        expected[10:10 + length] = True
    assert found[0].tolist() == expected.tolist()


@pytest.mark.parametrize(("value", "breaker"), [
    (0.37, MISSING), (0.37, ESTIMATED), pytest.param(0.0, MEASURED, id="zeros")])
def test_a_long_run_that_is_not_a_flat_line(value: float, breaker: int) -> None:
    day = ramp()
    day[5:35] = value  # 30 equal values, but the 15th is not a measured one (or all zero)
    quality = np.full((1, 48), MEASURED, dtype=np.int8)
    quality[0, 19] = breaker
    day[19] = np.nan if breaker == MISSING else day[19]
    assert not flat_lines(block([day], quality=quality), settings=S).any()


def test_two_long_flat_lines_back_to_back_are_both_flagged() -> None:
    day = np.concatenate([flat(0.3, 24), flat(0.4, 24)])
    assert flat_lines(block([day]), settings=S).all()


def test_values_repeating_in_pairs_are_not_a_flat_line() -> None:
    day = np.repeat(np.tile([0.1, 0.2], 12), 2)  # 0.1,0.1,0.2,0.2,…: never 3 alike in a row
    assert not flat_lines(block([day]), settings=S).any()


# --- zero runs --------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes", [15, 30, 60])
@pytest.mark.parametrize(("short", "flagged"), [(0, True), (1, False)])
def test_a_zero_run_lasts_zero_run_minutes(minutes: int, short: int, flagged: bool) -> None:
    per, need = 1440 // minutes, S.zero_run_minutes // minutes
    day = flat(0.2, per)
    day[2:2 + need - short] = 0.0
    found = zero_runs(block([day], minutes=minutes), np.array([True]), settings=S)
    assert int(found.sum()) == (need if flagged else 0)
    assert bool(found[0, 2]) is flagged


def test_zero_runs_need_an_eligible_meter_and_no_gap() -> None:
    need = S.zero_run_minutes // 30
    gapped = flat(0.2)
    gapped[0:2 * need - 1] = 0.0  # long enough twice over, but a missing cell in the middle
    gapped[need - 1] = np.nan
    days = block([flat(0.0), flat(0.0), gapped])
    found = zero_runs(days, np.array([False, True, True]), settings=S)  # M0: solar
    assert found.sum(axis=1).tolist() == [0, 48, 0]


# --- reverse energy, findings from runs, clock events ----------------------------------------

@pytest.mark.parametrize(("export", "solar", "expected", "quality", "found"), [
    pytest.param(0.02, False, True, MEASURED, True, id="export-no-solar"),
    pytest.param(0.01, False, True, MEASURED, False, id="at-0.01-kWh-noise"),
    pytest.param(5.0, True, True, MEASURED, False, id="solar-exports"),
    pytest.param(5.0, False, False, MEASURED, False, id="meter-not-expected"),
    pytest.param(5.0, False, True, ESTIMATED, False, id="estimated-export-ignored"),
])
def test_reverse_energy(export: float, solar: bool, expected: bool, quality: int,
                        found: bool) -> None:
    exports = np.full((1, 48), np.nan)
    exports[0, 24] = export
    codes = np.full((1, 48), MEASURED, dtype=np.int8)
    codes[0, 24] = quality
    day = block([flat(0.2)], export=exports, quality=codes)
    result = reverse_energy(day, np.array([solar]), np.array([expected]))
    assert result.height == int(found)
    if found:
        row = result.row(0, named=True)
        assert row["rule"] == Finding.REVERSE_ENERGY and row["node_id"] == "M0"
        assert row["n_intervals"] == 48
        assert (row["first_interval_end"], row["last_interval_end"]) == (
            START + timedelta(minutes=30), START + timedelta(days=1))


def test_from_runs_gives_one_finding_per_run() -> None:
    mask = np.zeros((2, 48), dtype=bool)
    mask[0, 3:6] = mask[0, 40] = mask[1, 47] = True
    found = from_runs(block([flat(0.2), flat(0.3)]), mask, Rule.ZERO_RUN, "flagged")
    step = timedelta(minutes=30)
    assert found.select("node_id", "first_interval_end", "last_interval_end",
                        "n_intervals").rows() == [
        ("M0", START + 4 * step, START + 6 * step, 3),
        ("M0", START + 41 * step, START + 41 * step, 1),
        ("M1", START + 48 * step, START + 48 * step, 1),
    ]
    assert set(found["rule"]) == {Rule.ZERO_RUN}


def test_clock_events_one_finding_per_event_covering_one_interval() -> None:
    at = datetime(2026, 10, 1, 3, tzinfo=UTC)
    events = pl.DataFrame({"meter_id": ["M1", "M2"], "event_at": [at, at + timedelta(hours=1)],
                           "event_code": ["clock_adjusted", "time_sync"]})
    found = clock_events(events, timedelta(minutes=30))
    assert found["rule"].to_list() == [Finding.CLOCK_ADJUSTED] * 2
    assert found["last_interval_end"].to_list() == [at + timedelta(minutes=30),
                                                    at + timedelta(minutes=90)]
    assert "time_sync" in found["evidence"][1]


# --- register mismatch ------------------------------------------------------------------------

def sums(kwh: float, delta: float | None) -> pl.DataFrame:
    return pl.DataFrame({"meter_id": ["M"], "kwh": [kwh], "register_delta_kwh": [delta],
                         "first_interval_end": [START + timedelta(minutes=30)],
                         "last_interval_end": [START + timedelta(days=1)], "n_intervals": [48]},
                        schema_overrides={"register_delta_kwh": pl.Float64})


@pytest.mark.parametrize(("kwh", "delta", "flagged"), [
    pytest.param(10.0 + S.register_tolerance_kwh, 10.0, False, id="absolute-tolerance-edge"),
    pytest.param(10.75, 10.0, True, id="beyond-absolute-tolerance"),
    pytest.param(9.25, 10.0, True, id="short-of-register"),
    pytest.param(101.9, 100.0, False, id="within-2pct-of-a-large-day"),
    pytest.param(102.1, 100.0, True, id="beyond-2pct"),
    pytest.param(10.0, None, False, id="register-unknown"),
])
def test_register_mismatch(kwh: float, delta: float | None, flagged: bool) -> None:
    found = register_mismatch(sums(kwh, delta), settings=S)
    assert found.height == int(flagged)
    if flagged:
        assert found["rule"][0] == Finding.REGISTER_MISMATCH


# --- group range -------------------------------------------------------------------------------

#: log(kWh/kW + 0.01) of an ordinary group: 10 at -0.1, 11 at 0, 10 at +0.1, so with one
#: outlier added the median is 0 and the MAD 0.1: a robust deviation is 0.14826.
ORDINARY = [-0.1] * 10 + [0.0] * 11 + [0.1] * 10
SIGMA = 1.4826 * 0.1


def group(xs: list[float], kw: list[float] | None = None,
          name: CustomerGroup = CustomerGroup.RESIDENTIAL) -> pl.DataFrame:
    kw = kw or [1.0] * len(xs)
    return pl.DataFrame({
        "meter_id": [f"{name}{i}" for i in range(len(xs))],
        "customer_group": [name.value] * len(xs), "contracted_kw": kw,
        "kwh": [k * (np.exp(x) - 0.01) for x, k in zip(xs, kw, strict=True)],
        "first_interval_end": [START + timedelta(minutes=30)] * len(xs),
        "last_interval_end": [START + timedelta(days=1)] * len(xs), "n_intervals": [48] * len(xs),
    })


@pytest.mark.parametrize(("z", "rule"), [
    pytest.param(S.group_range_z + 0.3, Finding.GROUP_HIGH, id="high"),
    pytest.param(S.group_range_z - 0.3, None, id="just-inside-high"),
    pytest.param(-S.group_range_z - 0.3, Finding.GROUP_LOW, id="low"),
    pytest.param(-S.group_range_z + 0.3, None, id="just-inside-low"),
])
def test_group_range_z_threshold(z: float, rule: Finding | None) -> None:
    found = group_range(group([*ORDINARY, z * SIGMA]), settings=S)
    assert found.select("node_id", "rule").rows() == ([] if rule is None else [
        (f"{CustomerGroup.RESIDENTIAL}{len(ORDINARY)}", rule)])


def test_each_group_has_its_own_range_per_contracted_kw() -> None:
    kw = [1.0] * len(ORDINARY) + [40.0]  # a large customer: 40 × the energy, same per kW
    shops = group([x + 3.0 for x in ORDINARY], name=CustomerGroup.COMMERCIAL)  # ×20 per kW
    both = pl.concat([group([*ORDINARY, 0.0], kw), shops])
    assert group_range(both, settings=S).height == 0


def test_a_group_too_small_is_not_ranged() -> None:
    members, far = S.group_range_min_meters, 10 * S.group_range_z * SIGMA
    small = group([0.0] * (members - 2) + [far])
    assert group_range(small, settings=S).height == 0
    enough = group([0.0] * (members - 1) + [far])  # one member more: ranged, and flagged
    assert group_range(enough, settings=S)["rule"].to_list() == [Finding.GROUP_HIGH]


def test_meters_without_contracted_kw_are_left_out() -> None:
    extra = pl.int_range(pl.len()) >= len(ORDINARY)  # two meters using 500 kWh
    frame = group([*ORDINARY, 0.0, 0.0]).with_columns(
        pl.Series("contracted_kw", [1.0] * len(ORDINARY) + [0.0, None]),
        pl.when(extra).then(500.0).otherwise(pl.col("kwh")).alias("kwh"))
    assert group_range(frame, settings=S)["node_id"].to_list() == []


# --- parsing bronze rows -------------------------------------------------------------------------

LOADED = "1790899200.5"     # the load's Unix time: 2026-10-02T00:00:00Z, after the day
EARLY = "1790798400.0"      # 2026-09-30T20:00:00Z = 03:00 local on the day itself


def parse(*rows: dict[str, str], first_day: str = DAY,
          ) -> tuple[pl.DataFrame, pl.DataFrame]:
    base = {"meter_id": "M1", "interval_end": "2026-10-01T12:00:00+07:00",
            "interval_minutes": "30", "kwh_import": "0.5", "kwh_export": "0",
            "_dlt_load_id": LOADED}
    raw = pl.DataFrame([{**base, **row} for row in rows], schema={
        **dict.fromkeys(base, pl.String)}).with_columns(
        pl.lit("readings_a.csv").alias("_file"), pl.int_range(1, len(rows) + 1).alias("_row"),
        pl.lit("readings_a.csv").alias("_entry"))
    return parse_readings(raw.lazy(), DAY, {"readings_a.csv": first_day}, settings=S)


def test_a_good_row_is_typed() -> None:
    good, bad = parse({"meter_id": " M1 ", "kwh_export": ""})
    assert bad.height == 0
    row = good.row(0, named=True)
    assert row["meter_id"] == "M1" and row["kwh_import"] == 0.5 and row["kwh_export"] is None
    assert row["interval_end"] == datetime(2026, 10, 1, 5, tzinfo=UTC)
    assert row["interval_minutes"] == 30


@pytest.mark.parametrize(("row", "rule"), [
    pytest.param({"meter_id": "  "}, Rule.UNPARSABLE, id="empty-meter"),
    pytest.param({"interval_end": "2026-10-01T12:00:00"}, Rule.UNPARSABLE, id="no-zone"),
    pytest.param({"interval_end": "01/10/2026 12:00"}, Rule.UNPARSABLE, id="not-iso"),
    pytest.param({"interval_minutes": "half hour"}, Rule.UNPARSABLE, id="minutes-text"),
    pytest.param({"interval_minutes": "20"}, Rule.UNPARSABLE, id="minutes-not-allowed"),
    pytest.param({"interval_end": "2026-10-01T12:15:00+07:00"}, Rule.OFF_GRID_TIMESTAMP,
                 id="off-30min-grid"),
    pytest.param({"interval_end": "2026-10-01T12:00:30+07:00"}, Rule.OFF_GRID_TIMESTAMP,
                 id="seconds"),
    pytest.param({"interval_end": "2026-10-01T04:00:00+07:00", "_dlt_load_id": EARLY},
                 Rule.FUTURE_TIMESTAMP, id="after-its-load"),
    pytest.param({"kwh_import": ""}, Rule.UNPARSABLE, id="import-empty"),
    pytest.param({"kwh_import": "0,5"}, Rule.UNPARSABLE, id="import-decimal-comma"),
    pytest.param({"kwh_import": "-0.1"}, Rule.NEGATIVE_VALUE, id="import-negative"),
    pytest.param({"kwh_export": "n/a"}, Rule.UNPARSABLE, id="export-text"),
    pytest.param({"kwh_export": "-0.2"}, Rule.NEGATIVE_VALUE, id="export-negative"),
    pytest.param({"interval_end": "2026-10-01T12:15:00+07:00", "kwh_import": "-1"},
                 Rule.OFF_GRID_TIMESTAMP, id="first-failed-check-wins"),
])
def test_a_bad_row_is_quarantined_with_its_rule(row: dict[str, str], rule: Rule) -> None:
    good, bad = parse(row)
    assert good.height == 0
    assert bad["rule"].to_list() == [rule]
    assert bad["reason"][0]
    assert (bad["_file"][0], bad["_row"][0]) == ("readings_a.csv", 1)


@pytest.mark.parametrize(("row", "accepted"), [
    pytest.param({"interval_end": "2026-10-01T12:15:00+07:00", "interval_minutes": "15"}, 1,
                 id="on-its-15min-grid"),
    pytest.param({"interval_end": "2026-10-01T03:30:00+07:00", "_dlt_load_id": EARLY}, 1,
                 id="one-interval-after-its-load"),
    pytest.param({"interval_minutes": ""}, 1, id="cadence-defaults"),
    pytest.param({"interval_end": "2026-10-02T00:00:00+07:00"}, 1, id="midnight-ends-the-day"),
    pytest.param({"interval_end": "2026-09-30T17:30:00Z"}, 1, id="first-interval-in-utc"),
    pytest.param({"interval_end": "2026-10-01T00:00:00+07:00"}, 0, id="previous-day"),
    pytest.param({"interval_end": "2026-10-02T00:30:00+07:00"}, 0, id="next-day"),
])
def test_near_misses_are_accepted_other_days_left_alone(row: dict[str, str],
                                                        accepted: int) -> None:
    good, bad = parse(row)
    assert (good.height, bad.height) == (accepted, 0)


def test_an_unreadable_instant_is_quarantined_on_its_files_first_day_only() -> None:
    row = {"interval_end": "garbage"}
    assert parse(row, first_day=DAY)[1].height == 1
    assert parse(row, first_day="2026-09-30")[1].height == 0


def test_the_grid_is_the_local_one_in_a_half_hour_zone() -> None:
    raw = pl.DataFrame({"meter_id": "M1", "interval_end": "2026-10-01T12:00:00+05:30",
                        "interval_minutes": "60", "kwh_import": "0.5", "kwh_export": "0",
                        "_dlt_load_id": LOADED, "_file": "f", "_row": 1, "_entry": "f"})
    good, bad = parse_readings(raw.lazy(), DAY, {"f": DAY}, settings=S.in_zone("Asia/Kolkata"))
    assert (good.height, bad["rule"].to_list()) == (1, [])


# --- de-duplication ----------------------------------------------------------------------------

T1 = datetime(2026, 10, 1, 5, tzinfo=UTC)


def copies(*rows: tuple[str, int, float, float | None, datetime]) -> pl.DataFrame:
    """Typed rows sharing cells: (file, row, import, export, interval end)."""
    return pl.DataFrame(rows, orient="row", schema={
        "_file": pl.String, "_row": pl.Int64, "kwh_import": pl.Float64,
        "kwh_export": pl.Float64, "interval_end": pl.Datetime("us", "UTC")}).with_columns(
        meter_id=pl.lit("M1"), interval_minutes=pl.lit(30), _dlt_load_id=pl.lit("1"),
        _entry=pl.col("_file"))


def test_equal_copies_are_dropped_and_counted() -> None:
    kept, dropped, quarantined, findings, per_entry = deduplicate(copies(
        ("b.csv", 4, 0.5, None, T1), ("a.csv", 9, 0.5, None, T1)))
    assert kept.select("_file", "_row").rows() == [("a.csv", 9)]  # first by (file, row)
    assert (dropped, quarantined.height) == (1, 0)
    assert findings.select("rule", "action").rows() == [(Finding.DUPLICATE_EQUAL, "dropped")]
    assert per_entry.filter(pl.col("_entry") == "b.csv")["dropped"].to_list() == [1]


def test_conflicting_copies_keep_the_first_and_quarantine_the_others() -> None:
    later = T1 + timedelta(minutes=30)
    kept, dropped, quarantined, findings, per_entry = deduplicate(copies(
        ("a.csv", 2, 0.5, 0.0, T1), ("b.csv", 1, 0.5, 0.0, T1), ("b.csv", 2, 0.7, 0.0, T1),
        ("a.csv", 3, 1.0, 0.0, later), ("b.csv", 3, 1.0, 0.0, later)))
    assert kept.sort("interval_end").select("_file", "_row", "kwh_import").rows() == [
        ("a.csv", 2, 0.5), ("a.csv", 3, 1.0)]
    assert dropped == 2  # b.csv rows 1 and 3 repeat what a.csv delivered
    assert quarantined.select("kwh_import", "rule", "_file", "_row").rows() == [
        ("0.7", Finding.DUPLICATE_CONFLICTING, "b.csv", 2)]
    assert "a.csv row 2" in quarantined["reason"][0]
    assert findings.sort("first_interval_end").select("rule", "action").rows() == [
        (Finding.DUPLICATE_CONFLICTING, "quarantined"), (Finding.DUPLICATE_EQUAL, "dropped")]
    assert per_entry.rows() == [("b.csv", 2, 1)]  # a.csv lost nothing


def test_the_first_delivered_copy_is_the_one_of_the_earlier_load() -> None:
    # readings_10.csv sorts before readings_9.csv, but was delivered a load later
    rows = copies(("readings_10.csv", 1, 0.9, 0.0, T1), ("readings_9.csv", 1, 0.5, 0.0, T1))
    rows = rows.with_columns(_dlt_load_id=pl.Series(["1765000200.5", "1765000100.25"]))
    kept, _, quarantined, _, _ = deduplicate(rows)
    assert kept.select("_file", "kwh_import").rows() == [("readings_9.csv", 0.5)]
    assert quarantined["_file"].to_list() == ["readings_10.csv"]


def test_copies_differing_in_export_only_are_reported_as_conflicting() -> None:
    _, dropped, quarantined, findings, _ = deduplicate(copies(
        ("a.csv", 1, 0.5, 0.0, T1), ("a.csv", 2, 0.5, 0.3, T1)))
    assert (dropped, quarantined["rule"].to_list()) == (0, [Finding.DUPLICATE_CONFLICTING])
    assert findings.select("rule", "action").rows() == [
        (Finding.DUPLICATE_CONFLICTING, "quarantined")]
