"""Event and register evidence per meter: hand-built cases, then a synthetic province."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.errors import InputError
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from models.anomaly.channels import read_events, read_registers
from models.anomaly.events import EVENT_SIGNAL_COLUMNS, event_signals
from models.anomaly.readings import Window
from models.anomaly.registers import REGISTER_SIGNAL_COLUMNS, register_signals
from pipelines.ingest import ingest_landing
from quality.meters import build_meters
from quality.schedule import vee_pending
from warehouse import Warehouse

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST, RECENT, END = date(2026, 10, 1), date(2026, 10, 15), date(2026, 10, 21)
# 14 history days (1-14 Oct) and 7 recent days (15-21 Oct); as_of = local midnight after END.
WINDOW = Window(datetime(2026, 10, 21, 17, 0, tzinfo=UTC), FIRST, RECENT, END)
UTC_US = pl.Datetime("us", "UTC")


def local(day: date, hour: float = 0.0) -> datetime:
    """UTC instant of a local (Asia/Ho_Chi_Minh) day and hour."""
    return (datetime.combine(day, time(0), TZ) + timedelta(hours=hour)).astimezone(UTC)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=d) for d in range((last - first).days + 1)]


# --- events ------------------------------------------------------------------------------


def events_frame(rows: list[tuple[str, datetime, str]]) -> pl.LazyFrame:
    return pl.LazyFrame(rows, schema={"meter_id": pl.String, "event_at": UTC_US,
                                      "event_code": pl.String}, orient="row")


def by_meter(frame: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {row["meter_id"]: row for row in frame.iter_rows(named=True)}


def test_tamper_power_off_and_clean_meters() -> None:
    events = events_frame([
        # T: two tamper events in the recent window (one delivered twice, one spelt
        # differently), one in history, two outside the window.
        ("T", local(date(2026, 10, 16), 10), "cover_open"),
        ("T", local(date(2026, 10, 16), 10), "cover_open"),
        ("T", local(date(2026, 10, 18), 9), "Magnetic Tamper"),
        ("T", local(date(2026, 10, 3), 10), "terminal-cover-open"),
        ("T", local(date(2026, 9, 30), 23), "cover_open"),
        ("T", local(date(2026, 10, 22), 0.5), "cover_open"),
        # C: only codes that count nothing (its first event starts the feed on 1 Oct).
        ("C", local(date(2026, 10, 1), 8), "clock_adjusted"),
        ("C", local(date(2026, 10, 16), 8), "power_on"),
        ("C", local(date(2026, 10, 17), 8), "firmware_upgrade"),
        # P: outages only; 00:30 local on 15 Oct is still 14 Oct in UTC but a recent day.
        ("P", local(date(2026, 10, 5), 3), "power_off"),
        ("P", local(date(2026, 10, 5), 4), "power_on"),
        ("P", local(date(2026, 10, 9), 3), "POWER_OFF"),
        ("P", local(date(2026, 10, 15), 0.5), "power_off"),
        ("R", local(date(2026, 10, 20), 12), "reverse_current"),
    ])
    out = event_signals(events, WINDOW)
    assert out.columns == list(EVENT_SIGNAL_COLUMNS)
    assert out["meter_id"].to_list() == ["P", "R", "T"]  # C has nothing counted
    rows = by_meter(out)
    t, p, r = rows["T"], rows["P"], rows["R"]
    assert (t["tamper_events_recent"], t["power_off_events_recent"]) == (2, 0)
    assert t["tamper_events_hist_per_day"] == pytest.approx(1 / 14)
    assert t["last_tamper_at"] == local(date(2026, 10, 18), 9)
    assert (p["tamper_events_recent"], p["power_off_events_recent"]) == (0, 1)
    assert p["power_off_events_hist_per_day"] == pytest.approx(2 / 14)
    assert p["tamper_events_hist_per_day"] == 0.0
    assert p["last_tamper_at"] is None
    assert (r["reverse_events_recent"], r["tamper_events_recent"]) == (1, 0)
    assert {row["event_hist_days"] for row in rows.values()} == {14}
    assert out.schema["last_tamper_at"] == UTC_US


def test_history_rates_start_with_the_event_feed() -> None:
    # The feed's first event is on 8 Oct: history rates are over 8-14 Oct (7 days).
    events = events_frame([
        ("A", local(date(2026, 10, 8), 12), "power_off"),
        ("A", local(date(2026, 10, 16), 12), "power_off"),
    ])
    row = event_signals(events, WINDOW).row(0, named=True)
    assert row["event_hist_days"] == 7
    assert row["power_off_events_hist_per_day"] == pytest.approx(1 / 7)


def test_no_history_events_gives_null_rates_not_zero() -> None:
    events = events_frame([("A", local(date(2026, 10, 16), 12), "cover_open")])
    row = event_signals(events, WINDOW).row(0, named=True)
    assert row["tamper_events_recent"] == 1
    assert row["tamper_events_hist_per_day"] is None
    assert row["event_hist_days"] is None


def test_events_as_iso_text_are_parsed() -> None:
    events = pl.LazyFrame({"meter_id": ["A"], "event_at": ["2026-10-15T17:30:00+07:00"],
                           "event_code": ["magnetic_tamper"]})
    row = event_signals(events, WINDOW).row(0, named=True)
    assert row["last_tamper_at"] == local(date(2026, 10, 15), 17.5)


def test_a_missing_event_column_is_named() -> None:
    events = pl.LazyFrame({"meter_id": ["A"], "event_at": [local(date(2026, 10, 16))]})
    with pytest.raises(InputError, match="event_code") as caught:
        event_signals(events, WINDOW)
    assert caught.value.column == "event_code"
    assert "data contract" in str(caught.value)  # points to where the columns are


def test_empty_events_give_an_empty_typed_table() -> None:
    out = event_signals(events_frame([]), WINDOW)
    assert out.height == 0
    assert out.columns == list(EVENT_SIGNAL_COLUMNS)


# --- registers ---------------------------------------------------------------------------


def reads(meter: str, values: list[float], *, first: date = FIRST,
          hour: float = 0.0) -> list[tuple[str, datetime, float]]:
    """Daily reads at local ``hour`` from ``first`` on, with the given register values."""
    return [(meter, local(first + timedelta(days=k), hour), v) for k, v in enumerate(values)]


def registers_frame(rows: list[tuple[str, datetime, float]]) -> pl.LazyFrame:
    return pl.LazyFrame(rows, schema={"meter_id": pl.String, "read_at": UTC_US,
                                      "register_kwh_import": pl.Float64}, orient="row")


def energy(meter: str, kwh: float, on: list[date]) -> list[tuple[str, date, float]]:
    return [(meter, d, kwh) for d in on]


def energy_frame(rows: list[tuple[str, date, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"meter_id": pl.String, "day": pl.Date,
                                      "kwh": pl.Float64}, orient="row")


# Reads at local midnight from 1 Oct to 22 Oct 00:00: 21 spans, one per window day.
MIDNIGHTS = 22


def test_register_ahead_of_the_profile_gives_the_gap_share() -> None:
    out = register_signals(
        registers_frame(reads("A", [1000.0 + 10 * k for k in range(MIDNIGHTS)])),
        energy_frame(energy("A", 6.0, days(FIRST, END))),
        WINDOW,
    )
    assert out.columns == list(REGISTER_SIGNAL_COLUMNS)
    row = out.row(0, named=True)
    assert row["register_kwh_recent"] == pytest.approx(70.0)
    assert row["interval_kwh_recent"] == pytest.approx(42.0)
    assert row["register_gap_share_recent"] == pytest.approx(0.4)
    assert row["register_days_recent"] == pytest.approx(7.0)
    assert row["register_kwh_hist"] == pytest.approx(140.0)
    assert row["register_gap_share_hist"] == pytest.approx(0.4)
    assert row["register_days_hist"] == pytest.approx(14.0)
    assert row["register_resets"] == 0


def test_a_register_reset_is_flagged_not_counted_as_a_gap() -> None:
    # The meter is replaced on 10 Oct: the new register starts at 5 kWh.
    values = [100.0 + 10 * k for k in range(9)] + [5.0 + 10 * k for k in range(MIDNIGHTS - 9)]
    out = register_signals(registers_frame(reads("B", values)),
                           energy_frame(energy("B", 10.0, days(FIRST, END))), WINDOW)
    row = out.row(0, named=True)
    assert row["register_resets"] == 1
    assert row["register_kwh_hist"] == pytest.approx(130.0)  # 13 of 14 days compared
    assert row["register_gap_share_hist"] == pytest.approx(0.0, abs=1e-12)
    assert row["register_gap_share_recent"] == pytest.approx(0.0, abs=1e-12)


def test_missing_profile_days_give_null_not_zero() -> None:
    # No profile energy in the recent window; 5 Oct missing in history.
    hist_days = [d for d in days(FIRST, RECENT - timedelta(days=1)) if d != date(2026, 10, 5)]
    out = register_signals(
        registers_frame(reads("C", [10.0 * k for k in range(MIDNIGHTS)])),
        energy_frame(energy("C", 6.0, hist_days)),
        WINDOW,
    )
    row = out.row(0, named=True)
    for column in ("register_kwh_recent", "interval_kwh_recent", "register_gap_share_recent",
                   "register_days_recent"):
        assert row[column] is None, column
    assert row["register_days_hist"] == pytest.approx(13.0)
    assert row["interval_kwh_hist"] == pytest.approx(78.0)
    assert row["register_gap_share_hist"] == pytest.approx(0.4)


def test_reads_at_noon_split_each_day_between_two_spans() -> None:
    # Reads at 12:00 local from 1 Oct to 22 Oct; the last one is after the window.
    out = register_signals(
        registers_frame(reads("D", [10.0 * k for k in range(MIDNIGHTS)], hour=12)),
        energy_frame(energy("D", 6.0, days(FIRST, END))),
        WINDOW,
    )
    row = out.row(0, named=True)
    # Spans ending 15..21 Oct are recent: 7 spans of 10 kWh against 7 × 6 kWh.
    assert row["register_kwh_recent"] == pytest.approx(70.0)
    assert row["interval_kwh_recent"] == pytest.approx(42.0)
    assert row["register_gap_share_recent"] == pytest.approx(0.4)
    assert row["register_days_hist"] == pytest.approx(13.0)  # 2..14 Oct 12:00


def test_a_register_that_does_not_move_has_no_share() -> None:
    out = register_signals(
        registers_frame(reads("E", [500.0] * MIDNIGHTS) + reads("F", [7.0])),
        energy_frame(energy("E", 6.0, days(FIRST, END))),
        WINDOW,
    )
    assert out["meter_id"].to_list() == ["E"]  # F has a single read: nothing to compare
    row = out.row(0, named=True)
    assert row["register_kwh_recent"] == 0.0
    assert row["interval_kwh_recent"] == pytest.approx(42.0)
    assert row["register_gap_share_recent"] is None


def test_duplicate_reads_and_energy_rows_never_double_count() -> None:
    rows = reads("G", [10.0 * k for k in range(MIDNIGHTS)])
    day_rows = energy("G", 6.0, days(FIRST, END))
    out = register_signals(registers_frame(rows + rows), energy_frame(day_rows + day_rows),
                           WINDOW)
    row = out.row(0, named=True)
    assert row["register_kwh_recent"] == pytest.approx(70.0)
    assert row["interval_kwh_recent"] == pytest.approx(42.0)


@pytest.mark.parametrize(
    ("frame", "column"),
    [
        pytest.param(pl.DataFrame({"meter_id": ["A"], "day": [FIRST]}), "kwh", id="no-kwh"),
        pytest.param(pl.DataFrame({"meter_id": ["A"], "day": ["2026-10-01"], "kwh": [1.0]}),
                     "day", id="day-as-text"),
    ],
)
def test_bad_day_energy_is_named(frame: pl.DataFrame, column: str) -> None:
    with pytest.raises(InputError) as caught:
        register_signals(registers_frame(reads("A", [1.0, 2.0])), frame, WINDOW)
    assert caught.value.column == column


def test_a_missing_register_column_is_named() -> None:
    bad = pl.LazyFrame({"meter_id": ["A"], "read_at": [local(FIRST)]})
    with pytest.raises(InputError, match="register_kwh_import"):
        register_signals(bad, energy_frame([]), WINDOW)


# --- the warehouse: a synthetic province through the ingest ------------------------------

START = date(2026, 10, 1)
SPEC = ProvinceSpec(meters=200, days=12, start=START, seed=7, fault_share=0.1,
                    theft_share=0.1, file_format="csv", write_true_readings=False)
PROVINCE_WINDOW = Window(local(START + timedelta(days=12)), START,
                         START + timedelta(days=6), START + timedelta(days=11))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("evidence")
    generate_province(SPEC, root / "landing", root / "truth")
    settings = Settings(data_dir=root, landing=str(root / "landing"),
                        warehouse=str(root / "warehouse"))
    ingest_landing(str(root / "landing"), settings=settings)
    build_meters(settings=settings)
    vee_pending(settings=settings)  # silver events and registers, as the chain builds them
    return settings, root


def landing_rows(landing: Path, kind: str, instant: str) -> pl.DataFrame:
    frames = [pl.read_csv(f, infer_schema=False) for f in sorted(landing.glob(f"{kind}_*.csv"))]
    frame = pl.concat(frames)
    return frame.with_columns(
        pl.col(instant).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
        *[pl.col(c).cast(pl.Float64) for c in frame.columns if c.startswith("register_")],
    )


def test_silver_events_are_the_landing_events(ingested: tuple[Settings, Path]) -> None:
    settings, root = ingested
    wh = Warehouse.at(settings.warehouse)
    landing = landing_rows(root / "landing", "events", "event_at")
    assert landing.filter(pl.col("event_code") == "power_off").height >= 1
    lf = read_events(wh, START, START + timedelta(days=11))
    assert lf is not None
    got = lf.collect()
    assert got.schema == pl.Schema({"meter_id": pl.String, "event_at": UTC_US,
                                    "event_code": pl.String})
    assert_frame_equal(got.sort(pl.all()), landing.sort(pl.all()))
    # A narrower window: only the events of those local days.
    first, last = START + timedelta(days=3), START + timedelta(days=5)
    part = read_events(wh, first, last)
    expected = landing.filter(
        pl.col("event_at").dt.convert_time_zone(settings.timezone).dt.date().is_between(first,
                                                                                         last))
    if expected.height == 0:
        assert part is None or part.collect().height == 0
    else:
        assert part is not None
        assert_frame_equal(part.collect().sort(pl.all()), expected.sort(pl.all()))
    # Event meters are known meters of the customer system.
    meters = set(wh.read("meters")["meter_id"])
    assert set(got["meter_id"]) <= meters


def test_silver_registers_are_the_landing_reads(ingested: tuple[Settings, Path]) -> None:
    settings, root = ingested
    wh = Warehouse.at(settings.warehouse)
    landing = landing_rows(root / "landing", "registers", "read_at")
    lf = read_registers(wh, START, START + timedelta(days=11))
    assert lf is not None
    got = lf.collect()
    assert got.schema == pl.Schema({"meter_id": pl.String, "read_at": UTC_US,
                                    "register_kwh_import": pl.Float64,
                                    "register_kwh_export": pl.Float64})
    assert got.height == landing.height > 0
    assert_frame_equal(got.sort("meter_id", "read_at"), landing.sort("meter_id", "read_at"))
    # Days 3-5: the reads at the midnights opening day 3 … closing day 5.
    part = read_registers(wh, START + timedelta(days=3), START + timedelta(days=5))
    assert part is not None
    instants = part.collect().group_by("meter_id").agg(pl.col("read_at").sort())
    expected = [local(START + timedelta(days=d)) for d in range(3, 7)]
    assert {tuple(v) for v in instants["read_at"].to_list()} == {tuple(expected)}
    # After the data: nothing current touches those days.
    assert read_registers(wh, date(2027, 1, 1), date(2027, 1, 5)) is None


def test_province_evidence_finds_the_injected_meters(ingested: tuple[Settings, Path]) -> None:
    settings, root = ingested
    wh = Warehouse.at(settings.warehouse)
    window = PROVINCE_WINDOW
    injections = pl.read_csv(root / "truth" / "injections.csv")
    thefts = injections.filter(pl.col("category") == "theft").iter_rows(named=True)
    tampered = {row["meter_id"] for row in thefts if json.loads(row["params"])["tamper_event"]}
    outages = set(injections.filter(pl.col("category") == "outage")["meter_id"])
    assert tampered, "the seed should give at least one tamper event"
    events = read_events(wh, window.first_day, window.end_day)
    assert events is not None
    ev = event_signals(events, window, settings=settings)
    some = {
        kind: set(ev.filter((pl.col(f"{kind}_events_recent") > 0)
                            | (pl.col(f"{kind}_events_hist_per_day").fill_null(0.0) > 0))
                  ["meter_id"])
        for kind in ("tamper", "power_off", "reverse")
    }
    assert some == {"tamper": tampered, "power_off": outages, "reverse": set()}

    # Profile energy of complete local days (by interval start), straight from the landing.
    readings = pl.concat([
        pl.read_csv(f, schema_overrides={"kwh_import": pl.Float64, "kwh_export": pl.Float64})
        for f in sorted((root / "landing").glob("readings_*.csv"))
    ])
    start = pl.col("interval_end").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC") \
        - timedelta(minutes=SPEC.interval_minutes)
    day_energy = (
        readings.with_columns(day=start.dt.convert_time_zone(settings.timezone).dt.date())
        .group_by("meter_id", "day")
        .agg(kwh=pl.col("kwh_import").sum(), n=pl.len())
        .filter(pl.col("n") == 1440 // SPEC.interval_minutes)
        .drop("n")
    )
    registers = read_registers(wh, window.first_day, window.end_day)
    assert registers is not None
    reg = register_signals(registers, day_energy, window, settings=settings).with_columns(
        gap_kwh=pl.sum_horizontal("register_kwh_recent", "register_kwh_hist")
        - pl.sum_horizontal("interval_kwh_recent", "interval_kwh_hist")
    )
    labels = pl.read_parquet(root / "truth" / "meters.parquet")
    clean = set(labels.filter(pl.col("category") == "clean")["meter_id"])
    jumped = set(labels.filter(pl.col("label") == "register_jump")["meter_id"])
    assert jumped
    # Clean meters: the register counts what the profile shows (to the rounding).
    clean_rows = reg.filter(pl.col("meter_id").is_in(list(clean)))
    assert clean_rows.height == len(clean)
    assert clean_rows["register_days_hist"].min() == pytest.approx(5.0)  # days 1-5
    assert clean_rows["register_days_recent"].min() == pytest.approx(6.0)  # days 6-11
    assert clean_rows["gap_kwh"].abs().max() < 0.01
    assert clean_rows["register_resets"].sum() == 0
    # A register that skipped ahead (5-50 kWh a fault day) is ahead of its profile.
    jump_rows = reg.filter(pl.col("meter_id").is_in(list(jumped)))
    assert jump_rows.height == len(jumped)
    assert jump_rows["gap_kwh"].min() >= 5.0 - 0.01
    shares = jump_rows.select(pl.max_horizontal("register_gap_share_recent",
                                                "register_gap_share_hist"))
    assert (shares.to_series() > 0).all()


def test_only_the_current_version_of_a_file_is_read(settings: Settings) -> None:
    landing = Path(settings.landing)
    landing.mkdir(parents=True)
    # a day of readings (local 2026-10-02): VEE builds the silver day, its events and reads
    day = datetime(2026, 10, 1, 17, tzinfo=UTC)
    (landing / "readings_2026-10-02.csv").write_text(
        "meter_id,interval_end,interval_minutes,kwh_import\n" + "".join(
            f"PC01,{day + timedelta(minutes=30 * k):%Y-%m-%dT%H:%M:%SZ},30,0.{k % 7 + 1}\n"
            for k in range(1, 49)), encoding="utf-8")
    (landing / "events_crew.csv").write_text(
        "meter_id,event_at,event_code\nPC01,2026-10-02T03:00:00Z,cover_open\n", encoding="utf-8")
    (landing / "registers_a.csv").write_text(
        "meter_id,read_at,register_kwh_import,register_kwh_export\n"
        "PC01,2026-10-01T17:00:00Z,100.5,3.0\n", encoding="utf-8")
    ingest_landing(str(landing), settings=settings)
    build_meters(settings=settings)
    assert vee_pending(settings=settings) == ["2026-10-02"]
    # A corrected re-delivery, and a second registers file without the optional column.
    (landing / "events_crew.csv").write_text(
        "meter_id,event_at,event_code\nPC01,2026-10-02T03:00:00Z,Magnetic Tamper\n",
        encoding="utf-8")
    (landing / "registers_b.csv").write_text(
        "meter_id,read_at,register_kwh_import\nPC01,2026-10-02T17:00:00Z,110.25\n",
        encoding="utf-8")
    ingest_landing(str(landing), settings=settings)
    assert vee_pending(settings=settings) == ["2026-10-02"]  # its channels changed
    wh = Warehouse.at(settings.warehouse)
    events = read_events(wh, date(2026, 10, 1), date(2026, 10, 5))
    assert events is not None
    assert events.collect().rows() == [  # the code as VEE reads it (ami.vocabulary)
        ("PC01", datetime(2026, 10, 2, 3, tzinfo=UTC), "magnetic_tamper")]
    registers = read_registers(wh, date(2026, 10, 1), date(2026, 10, 5))
    assert registers is not None
    assert registers.collect().sort("read_at").rows() == [
        ("PC01", datetime(2026, 10, 1, 17, tzinfo=UTC), 100.5, 3.0),
        ("PC01", datetime(2026, 10, 2, 17, tzinfo=UTC), 110.25, None),
    ]
