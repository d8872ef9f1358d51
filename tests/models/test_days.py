"""The day features on arrays (``day_table``) are the row-wise Polars definition's.

``reference_day_table`` is ``day_table`` as it was before the arrays (Polars group-bys, a
Spearman correlation per meter-day, five lagged joins for the clock slack): every case
here must give the same table, exactly on counts and days and to 1e-9 on features, and
the usual readings must take the array way (readings it cannot hold fall back to the
rows, and give the same table too).
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from models.anomaly import days as day_features
from models.anomaly.days import (
    CLOCK_SLACK_HOURS,
    DAY_SCHEMA,
    EVENING_HOURS,
    FEATURE_DECIMALS,
    LOG_FLOOR_KW,
    LOG_FLOOR_KWH,
    MIN_DAY_COVERAGE,
    MIN_PEER_METERS,
    MORNING_HOURS,
    SPIKE_CAP,
    ZERO_KW,
    day_table,
)
from models.anomaly.readings import normalise_readings
from models.anomaly.signals import history_days
from tests.models.anomaly_fixture import build_province, to_daily
from tests.realdata import real_readings

LONDON = Settings(timezone="Europe/London")
HANOI = Settings()  # Asia/Ho_Chi_Minh
TOLERANCE = 1e-9


def reference_day_table(readings: pl.LazyFrame, *, settings: Settings, first_day: date,
                        end_day: date, groups: pl.DataFrame | None = None) -> pl.DataFrame:
    """``days.day_table`` before the arrays, verbatim: the definition of the features."""
    minutes = pl.col("interval_minutes")
    start = (pl.col("interval_end") - pl.duration(minutes=minutes)).dt.convert_time_zone(
        settings.timezone)
    hours = minutes.cast(pl.Float64) / 60.0
    kwh = pl.col("kwh_import")
    floor = LOG_FLOOR_KW * hours
    lf = (
        readings.with_columns(start=start)
        .with_columns(day=pl.col("start").dt.date(), hour=pl.col("start").dt.hour())
        .filter(pl.col("day").is_between(first_day, end_day))
    )
    cap = SPIKE_CAP * kwh.quantile(0.9).over("meter_id", "day")
    lf = (
        lf
        .with_columns(kwh_import=kwh.clip(upper_bound=cap))
        .with_columns(micro=(kwh * 1e6).round().cast(pl.Int64))
        .sort("meter_id", "interval_end")
        .with_columns(lx=(kwh + floor).log())
        .with_columns(
            lx_prev=pl.col("lx").shift(1).over("meter_id", "day"),
            prev=kwh.shift(1).over("meter_id", "day"),
        )
    )
    if groups is not None:
        sizes = groups.group_by("customer_group").agg(pl.len())
        small = sizes.filter(pl.col("len") < MIN_PEER_METERS)["customer_group"]
        pooled = groups.select("meter_id", pl.when(pl.col("customer_group").is_in(
            small.implode())).then(None).otherwise(pl.col("customer_group"))
            .alias("customer_group"))
        lf = lf.join(pooled.lazy(), on="meter_id", how="left")
    else:
        lf = lf.with_columns(customer_group=pl.lit(None, pl.String))
    per_day = (1440 // minutes).cast(pl.Float64)
    days = lf.group_by("meter_id", "day").agg(
        pl.col("customer_group").first(),
        n_valid=kwh.count().cast(pl.Int32),
        per_day=per_day.first(),
        kwh=pl.col("micro").sum() / 1e6,
        zero_share=(kwh <= ZERO_KW * hours).mean(),
        roughness=(pl.col("lx") - pl.col("lx_prev")).abs().median(),
        smoothness=pl.corr("lx", "lx_prev", method="spearman"),
        repeat_share=((kwh == pl.col("prev")) & (kwh > 0)).filter(
            pl.col("prev").is_not_null()).mean(),
        evening_share=pl.col("micro").filter(
            pl.col("hour").is_between(*EVENING_HOURS, closed="left")).sum()
        / pl.col("micro").sum(),
        morning_share=pl.col("micro").filter(
            pl.col("hour").is_between(*MORNING_HOURS, closed="left")).sum()
        / pl.col("micro").sum(),
    ).filter(pl.col("n_valid") >= MIN_DAY_COVERAGE * pl.col("per_day"))
    shares = lf.join(days.select("meter_id", "day"), on=["meter_id", "day"], how="semi") \
        .group_by("meter_id", "day", "customer_group", "hour").agg(micro=pl.col("micro").sum()) \
        .with_columns(share=pl.col("micro") / pl.col("micro").sum().over("meter_id", "day"))
    peers = shares.group_by("day", "customer_group", "hour").agg(peer=pl.col("share").median())
    lagged = [
        shares.join(peers.with_columns(hour=(pl.col("hour") + lag) % 24),
                    on=["day", "customer_group", "hour"], how="left", nulls_equal=True)
        .group_by("meter_id", "day").agg(corr=pl.corr("share", "peer", method="spearman"))
        for lag in range(-CLOCK_SLACK_HOURS, CLOCK_SLACK_HOURS + 1)
    ]
    shape = pl.concat(lagged).group_by("meter_id", "day").agg(
        peer_shape=pl.col("corr").fill_nan(None).max())
    level = (pl.col("kwh") * pl.col("per_day") / pl.col("n_valid") + LOG_FLOOR_KWH).log()
    out = days.join(shape, on=["meter_id", "day"], how="left").with_columns(
        level=level - level.median().over("day", "customer_group"),
        peer_shape=pl.col("peer_shape").fill_nan(0.0).fill_null(0.0),
        smoothness=pl.col("smoothness").fill_nan(0.0).fill_null(0.0),
        evening_share=pl.col("evening_share").fill_nan(0.0),
        morning_share=pl.col("morning_share").fill_nan(0.0),
    ).select(list(DAY_SCHEMA)).sort("meter_id", "day")
    return out.collect(engine="streaming").cast(DAY_SCHEMA).with_columns(  # type: ignore[arg-type]
        pl.col(pl.Float64).round(FEATURE_DECIMALS))


@pytest.fixture
def arrays_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if ``day_table`` falls back to the row-wise way: the arrays must hold the rows."""
    def refuse(*args: object, **kwargs: object) -> pl.LazyFrame:
        raise AssertionError("day_table fell back to the row-wise way")
    monkeypatch.setattr(day_features, "_day_table_rows", refuse)


def _same_as_reference(readings: pl.DataFrame, settings: Settings, first_day: date,
                       end_day: date, groups: pl.DataFrame | None = None) -> pl.DataFrame:
    """``day_table`` of the readings, checked against the reference; returns it."""
    expected = reference_day_table(readings.lazy(), settings=settings, first_day=first_day,
                                   end_day=end_day, groups=groups)
    table = day_table(readings.lazy(), settings=settings, first_day=first_day,
                      end_day=end_day, groups=groups)
    assert_frame_equal(table, expected, check_exact=False, rel_tol=0.0, abs_tol=TOLERANCE)
    return table


# --- real households and generated provinces --------------------------------------------

def _real(first: datetime, days: int, meters: int) -> pl.DataFrame:
    frame = real_readings(first=first, days=days).with_columns(
        pl.col("interval_end").str.to_datetime(time_zone="UTC").dt.cast_time_unit("us"),
        pl.col("interval_minutes").cast(pl.Int32),
        pl.col("kwh_import").cast(pl.Float64),
    )
    chosen = frame["meter_id"].unique().sort().head(meters)
    return frame.filter(pl.col("meter_id").is_in(chosen.implode()))


@pytest.mark.parametrize(("first", "settings"), [
    pytest.param(datetime(2013, 3, 1, tzinfo=UTC), LONDON, id="spring-dst-london"),
    pytest.param(datetime(2013, 9, 20, tzinfo=UTC), LONDON, id="autumn-dst-london"),
    pytest.param(datetime(2013, 6, 1, tzinfo=UTC), HANOI, id="summer-hanoi"),
])
def test_real_households_give_the_reference_features(
        first: datetime, settings: Settings, arrays_only: None) -> None:
    """30 real London households × 60 days (their gaps, ties, DST days), in three groups."""
    readings = _real(first, 60, 30)
    meters = readings["meter_id"].unique().sort()
    # two groups large enough to be peers, and three meters too few (pooled with all)
    groups = pl.DataFrame({"meter_id": meters, "customer_group": ["a"] * 15 + ["b"] * 12
                           + ["c"] * 3})
    first_day = first.date() + timedelta(days=1)
    table = _same_as_reference(readings, settings, first_day, first_day + timedelta(days=57),
                               groups)
    assert table["meter_id"].n_unique() == 30
    assert table.height > 30 * 50


def test_real_households_shuffled_and_ungrouped(arrays_only: None) -> None:
    """Rows in any order, one peer group for all: the same table."""
    readings = _real(datetime(2013, 10, 10, tzinfo=UTC), 30, 20).sample(
        fraction=1.0, shuffle=True, seed=3)
    _same_as_reference(readings, LONDON, date(2013, 10, 11), date(2013, 11, 7))


def test_small_chunks_layouts_and_blocks(monkeypatch: pytest.MonkeyPatch,
                                         arrays_only: None) -> None:
    """Rows read in many chunks, meter-days laid out in many parts: the same table."""
    monkeypatch.setattr(day_features, "ROWS_PER_CHUNK", 1000)
    monkeypatch.setattr(day_features, "CELLS_PER_LAYOUT", 50 * 300)
    monkeypatch.setattr(day_features, "CELLS_PER_BLOCK", 50 * 7)
    readings = _real(datetime(2013, 3, 20, tzinfo=UTC), 20, 25).sample(
        fraction=1.0, shuffle=True, seed=4)
    _same_as_reference(readings, LONDON, date(2013, 3, 21), date(2013, 4, 8))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Generated provinces of 30- and 15-minute meters (their thefts, faults and moves)."""
    roots = {}
    for minutes in (30, 15):
        root = tmp_path_factory.mktemp(f"province{minutes}")
        generate_province(ProvinceSpec(meters=300, start=date(2026, 9, 26), days=8,
                                       seed=11 + minutes, interval_minutes=minutes,
                                       file_format="csv", write_true_readings=False),
                          root / "landing", root / "truth")
        roots[minutes] = root
    return roots


def _landing(root: Path, prefix: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A generated province's readings (normalised, as written) and its meters' groups."""
    readings = pl.concat(
        pl.read_csv(f, schema_overrides={"kwh_export": pl.Float64})
        for f in sorted((root / "landing").glob("readings_*"))
    ).with_columns(pl.col("interval_end").str.to_datetime(time_zone="UTC"),
                   pl.lit("measured").alias("quality"))
    readings = normalise_readings(readings.lazy()).collect() \
        .with_columns((pl.lit(prefix) + pl.col("meter_id")).alias("meter_id"))
    meters = pl.read_csv(root / "landing" / "meters.csv", infer_schema=False)
    groups = meters.unique("meter_id", keep="last").select(
        (pl.lit(prefix) + pl.col("meter_id")).alias("meter_id"), "customer_group")
    return readings, groups


def test_a_generated_province_gives_the_reference_features(
        generated: dict[int, Path], arrays_only: None) -> None:
    """300 generated meters × 8 days, one row per meter and instant (silver)."""
    readings, groups = _landing(generated[30], "")
    unique = readings.unique(["meter_id", "interval_end"], keep="first", maintain_order=True)
    table = _same_as_reference(unique, HANOI, date(2026, 9, 26), date(2026, 10, 3), groups)
    assert table.height > 250 * 7


def test_a_province_of_15_and_30_minute_meters(generated: dict[int, Path],
                                               arrays_only: None) -> None:
    """Two resolutions side by side: each its own arrays, peers and levels shared."""
    parts = [_landing(generated[minutes], f"R{minutes}-") for minutes in (30, 15)]
    readings = pl.concat([r for r, _ in parts]).unique(
        ["meter_id", "interval_end"], keep="first", maintain_order=True)
    groups = pl.concat([g for _, g in parts])
    table = _same_as_reference(readings, HANOI, date(2026, 9, 27), date(2026, 10, 2), groups)
    assert table.filter(pl.col("meter_id").str.starts_with("R15"))["n_valid"].max() == 96


def test_duplicated_rows_take_the_row_way_with_the_same_features(
        generated: dict[int, Path]) -> None:
    """Raw landing rows (a meter's instant twice): the rows' way, the same table."""
    readings, groups = _landing(generated[30], "")
    assert readings.height > readings.unique(["meter_id", "interval_end"]).height
    _same_as_reference(readings, HANOI, date(2026, 9, 26), date(2026, 10, 3), groups)


def test_the_history_of_a_readings_file_is_the_reference_one(
        monkeypatch: pytest.MonkeyPatch, arrays_only: None) -> None:
    """``history_days`` (deduplicated, outages blanked) on the anomaly fixture's faults."""
    province = build_province()

    def days() -> pl.DataFrame:
        return history_days(normalise_readings(province.readings.lazy()), province.meters,
                            settings=HANOI, first_day=date(2026, 3, 1),
                            end_day=date(2026, 4, 29), unique=False)

    table = days()
    monkeypatch.setattr("models.anomaly.signals.day_table", reference_day_table)
    assert_frame_equal(table, days(), check_exact=False, rel_tol=0.0, abs_tol=TOLERANCE)
    assert table["meter_id"].n_unique() == 40  # customers only


def test_daily_readings(arrays_only: None) -> None:
    """One reading a day (no intraday features to speak of): the same table."""
    daily = to_daily(build_province().readings)
    _same_as_reference(daily, HANOI, date(2026, 3, 1), date(2026, 4, 29))


# --- hand-made days ----------------------------------------------------------------------

DAY = date(2026, 10, 24)  # Europe/London: the 25th has 25 hours (DST ends)
PROFILE = 0.1 + 0.5 * np.exp(-((np.arange(96) / 4 + 0.125 - 19) ** 2) / 4)


def _meter(meter_id: str, kwh: Sequence[float | None], *, minutes: int = 30,
           day: date = DAY, zone: str = "Europe/London", drop: tuple[int, ...] = ()
           ) -> pl.DataFrame:
    """One meter's readings from local midnight of ``day``: ``kwh`` per interval (None: a
    row without energy), the intervals ``drop`` missing."""
    start = datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    frame = pl.DataFrame({
        "meter_id": meter_id,
        "interval_end": [start + timedelta(minutes=minutes * (k + 1)) for k in range(len(kwh))],
        "interval_minutes": pl.Series([minutes] * len(kwh), dtype=pl.Int32),
        "kwh_import": pl.Series([None if v is None else float(v) for v in kwh],
                                dtype=pl.Float64),
    }).with_columns(pl.col("interval_end").dt.cast_time_unit("us"))
    return frame.filter(~pl.int_range(pl.len()).is_in(list(drop)))


def _profile(slots: int, scale: float, seed: int) -> list[float | None]:
    rng = np.random.default_rng(seed)
    shape = np.interp(np.linspace(0, 95, slots), np.arange(96), PROFILE)
    return [round(float(v), 3) for v in shape * scale * rng.lognormal(0.0, 0.3, slots)]


def _peers(count: int, *, prefix: str = "P", slots: int = 48, seed: int = 0
           ) -> list[pl.DataFrame]:
    return [_meter(f"{prefix}{i:02d}", _profile(slots, 1.0 + i / 10, seed + i),
                   minutes=1440 // slots) for i in range(count)]


def _case_gaps() -> list[pl.DataFrame]:
    values = _profile(48, 1.0, 99)
    nulled = [None if i in (5, 6, 20) else v for i, v in enumerate(values)]
    return [*_peers(12),
            _meter("gap-rows", values, drop=(10, 11, 30)),  # lag-1 pairs skip missing rows
            _meter("gap-nulls", nulled),                    # ... a row without energy breaks
            _meter("gap-both", nulled, drop=(7, 40, 47)),
            _meter("gap-first", values, drop=(0, 1))]


def _case_zero_flat_spike() -> list[pl.DataFrame]:
    spiky = _profile(48, 1.0, 5)
    spiky[30] = 40.0
    ties = [0.2] * 40 + [0.5] * 4 + [9.0] * 4  # ties at the 90th percentile
    return [*_peers(12),
            _meter("zero-day", [0.0] * 48), _meter("flat-day", [0.37] * 48),
            _meter("one-interval", [0.0] * 47 + [1.0]), _meter("spike", spiky),
            _meter("ties", ties), _meter("tiny", [0.0004, 0.0] * 24)]


def _case_resolutions() -> list[pl.DataFrame]:
    return [*_peers(12), _meter("q15", _profile(96, 0.5, 3), minutes=15),
            _meter("h60", _profile(24, 2.0, 4), minutes=60),
            _meter("q15-gaps", _profile(96, 0.5, 8), minutes=15, drop=(3, 50, 51, 52))]


def _case_coverage() -> list[pl.DataFrame]:
    values = _profile(48, 1.0, 6)
    return [*_peers(12),
            _meter("at-coverage", values, drop=tuple(range(4))),     # 44 of 48: counts
            _meter("below-coverage", values, drop=tuple(range(5))),  # 43 of 48: does not
            _meter("all-null", [None] * 48)]


def _case_peers() -> list[pl.DataFrame]:
    start = (pl.col("interval_end") - pl.duration(minutes=30)).dt.convert_time_zone(
        "Europe/London")
    no_hour3 = [frame.filter(start.dt.hour() != 3) for frame in _peers(12, prefix="H")]
    # most of a group has days without energy: the peers' median share is NaN, as Polars'
    dark = [_meter(f"Z-dark{i:02d}", [0.0] * 48) for i in range(7)] \
        + _peers(5, prefix="Z", seed=7)
    return [*no_hour3, *dark, _meter("shifted", _profile(48, 1.0, 1)[4:] + [0.1] * 4)]


def _case_partly_dark() -> list[pl.DataFrame]:
    """Peers whose median share is NaN in some hours only (fewer of them have rows)."""
    start = (pl.col("interval_end") - pl.duration(minutes=30)).dt.convert_time_zone(
        "Europe/London")
    lit = _peers(7, prefix="Y", seed=30)
    lit = [frame.filter(start.dt.hour() != (2 if i < 3 else 14)) if i < 6 else frame
           for i, frame in enumerate(lit)]
    return [*lit, *[_meter(f"Y-dark{i:02d}", [0.0] * 48) for i in range(5)], *_peers(12)]


def _case_negative() -> list[pl.DataFrame]:
    """Energies below zero (a readings file without VEE): logs of 0 and below, shares of a
    day that sums to 0."""
    floor = -LOG_FLOOR_KW * 0.5  # log(kwh + floor) is -inf
    cancel = [_meter(f"X-cancel{i:02d}", [0.3 + i / 10] * 24 + [-0.3 - i / 10] * 24)
              for i in range(7)]
    return [*_peers(12), *cancel, *_peers(5, prefix="X", seed=50),
            _meter("neg-inf-steps", [floor, 0.3] * 24),
            _meter("neg-nan-logs", [-0.5] * 48),
            _meter("neg-mixed", [v * (-1) ** i for i, v in enumerate(_profile(48, 1.0, 51))]),
            _meter("neg-day", [-0.1 - i / 100 for i in range(48)])]


def _case_dst_and_days() -> list[pl.DataFrame]:
    day_before = DAY - timedelta(days=1)
    long_day = DAY + timedelta(days=1)  # 25 local hours
    frames = []
    for i in range(12):
        frames += [_meter(f"D{i:02d}", _profile(48, 1.0, 20 + i), day=day_before),
                   _meter(f"D{i:02d}", _profile(48, 1.0, 40 + i)),
                   _meter(f"D{i:02d}", _profile(50, 1.0, 60 + i), day=long_day)]
    return [*frames, _meter("D-q15", _profile(100, 0.5, 9), minutes=15, day=long_day),
            _meter("D-missing-day", _profile(48, 1.0, 10), day=long_day)]


def _groups_for(frames: list[pl.DataFrame]) -> pl.DataFrame:
    meters = pl.concat(frames)["meter_id"].unique().sort()
    return pl.DataFrame({"meter_id": meters}).with_columns(
        customer_group=pl.when(pl.col("meter_id").str.starts_with("Z")).then(pl.lit("dark"))
        .when(pl.col("meter_id").str.starts_with("Y")).then(pl.lit("partly-dark"))
        .when(pl.col("meter_id").str.starts_with("X")).then(pl.lit("cancelling"))
        .when(pl.col("meter_id").str.starts_with("H")).then(pl.lit("no-hour"))
        .when(pl.col("meter_id").str.contains("q15|h60")).then(pl.lit("few"))
        .when(pl.col("meter_id").str.starts_with("gap-first")).then(None)
        .otherwise(pl.lit("main"))).filter(pl.col("meter_id") != "spike")  # no group


@pytest.mark.parametrize("case", [
    pytest.param(_case_gaps, id="gaps"),
    pytest.param(_case_zero_flat_spike, id="zero-flat-spike-ties"),
    pytest.param(_case_resolutions, id="15-and-60-minute-meters"),
    pytest.param(_case_coverage, id="coverage"),
    pytest.param(_case_peers, id="peers-without-an-hour-and-nan-medians"),
    pytest.param(_case_partly_dark, id="peers-nan-in-some-hours"),
    pytest.param(_case_negative, id="negative-energies"),
    pytest.param(_case_dst_and_days, id="dst-day-and-missing-days"),
])
@pytest.mark.parametrize("grouped", [True, False], ids=["groups", "one-group"])
def test_hand_made_days(case: object, grouped: bool, arrays_only: None) -> None:
    frames = case()  # type: ignore[operator]
    readings = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=1)
    groups = _groups_for(frames) if grouped else None
    _same_as_reference(readings, LONDON, DAY - timedelta(days=1), DAY + timedelta(days=1),
                       groups)


def test_the_coverage_rule_and_the_gaps_are_the_definition_s(arrays_only: None) -> None:
    """What the hand-made days mean: 44 of 48 intervals count, 43 do not; gaps are no zero."""
    table = _same_as_reference(pl.concat(_case_coverage() + _case_gaps()[-4:]), LONDON, DAY,
                               DAY, None)
    days = {row["meter_id"]: row for row in table.iter_rows(named=True)}
    assert days["at-coverage"]["n_valid"] == 44
    assert "below-coverage" not in days
    assert "all-null" not in days
    assert days["gap-nulls"]["n_valid"] == 45
    assert days["gap-rows"]["zero_share"] == 0.0


def test_a_day_without_any_energy(arrays_only: None) -> None:
    """Rows all without energy: no day counts, on the arrays as in the rows."""
    readings = pl.concat(_peers(3)).with_columns(pl.lit(None, pl.Float64).alias("kwh_import"))
    assert _same_as_reference(readings, LONDON, DAY, DAY).height == 0


def test_meter_ids_sort_as_polars_sorts_them(arrays_only: None) -> None:
    """Lexical order of the ids (digits, case, non-ASCII), in rows of any order."""
    ids = ["a9", "a10", "B", "b", "Ä", "a", "a-1", "Đ01", "z", "0"]
    frames = [_meter(meter_id, _profile(48, 1.0, i)) for i, meter_id in enumerate(ids)]
    frames += _peers(4)
    readings = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=2)
    table = _same_as_reference(readings, LONDON, DAY, DAY)
    assert table["meter_id"].to_list() == sorted(table["meter_id"].to_list())


@pytest.mark.parametrize("change", [
    pytest.param("naive", id="naive-instants"),
    pytest.param("duplicate", id="duplicated-rows"),
    pytest.param("resolution", id="resolution-changes-within-a-day"),
    pytest.param("second", id="instant-off-the-minute"),
    pytest.param("empty", id="no-rows"),
    pytest.param("absurd", id="absurd-energy"),
])
def test_readings_the_arrays_cannot_hold_give_the_same_table(change: str) -> None:
    readings = pl.concat(_peers(12))
    row = pl.int_range(pl.len()) == 30
    changed = {
        "naive": lambda f: f.with_columns(pl.col("interval_end").dt.replace_time_zone(None)),
        "duplicate": lambda f: pl.concat([f, f.head(3)]),
        "resolution": lambda f: f.with_columns(
            interval_minutes=pl.when(row).then(15).otherwise("interval_minutes")),
        "second": lambda f: f.with_columns(
            pl.when(row).then(pl.col("interval_end") + timedelta(seconds=1))
            .otherwise("interval_end").alias("interval_end")),
        "empty": lambda f: f.head(0),
        "absurd": lambda f: f.with_columns(
            kwh_import=pl.when(row).then(2e7).otherwise("kwh_import")),
    }[change](readings)
    _same_as_reference(changed, LONDON, DAY, DAY, _groups_for(_peers(12)))


# --- random awkward readings -------------------------------------------------------------

def _awkward(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Random meters over a DST change: resolutions, gaps, nulls, zeros, ties, spikes."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(int(rng.integers(15, 40))):
        minutes = int(rng.choice([30, 30, 30, 15, 60]))
        for day in (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)):
            if rng.random() < 0.1:
                continue  # a day without readings
            slots = (50 if day == DAY + timedelta(days=1) else 48) * 30 // minutes
            values = np.round(rng.lognormal(-2.0, 1.0, slots), int(rng.choice([1, 2, 3])))
            values[rng.random(slots) < rng.choice([0.0, 0.1, 0.6])] = 0.0
            if rng.random() < 0.05:
                values[:] = 0.0 if rng.random() < 0.5 else values[0]
            values[rng.random(slots) < 0.02] *= 50  # spikes
            kwh: list[float | None] = [None if rng.random() < 0.03 else float(v)
                                       for v in values]
            drop = tuple(int(i) for i in np.flatnonzero(
                rng.random(slots) < rng.choice([0.0, 0.03, 0.15])))
            frames.append(_meter(f"M{i:02d}", kwh, minutes=minutes, day=day, drop=drop))
    readings = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)
    meters = readings["meter_id"].unique().sort()
    groups = pl.DataFrame({"meter_id": meters, "customer_group": rng.choice(
        ["x", "y", "z"], meters.len(), p=[0.6, 0.3, 0.1]).tolist()})
    return readings, groups.filter(pl.Series(rng.random(meters.len()) > 0.05))


@pytest.mark.parametrize("seed", range(12))
def test_random_awkward_readings(seed: int, arrays_only: None) -> None:
    readings, groups = _awkward(seed)
    _same_as_reference(readings, LONDON, DAY - timedelta(days=1), DAY + timedelta(days=1),
                       groups if seed % 3 else None)
