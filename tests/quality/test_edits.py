"""VEE editing: manual corrections with who, when and why; originals kept in the audit."""

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ami.errors import InputError, NoDataError
from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from quality.edit_files import GRID_MINUTES, read_edits_csv
from quality.edits import (
    EDIT_LOG_SCHEMA,
    EDITS_SCHEMA,
    apply_edits,
    edit_sources,
    edits_for_day,
    effective_edits,
    read_edits,
    record_edit,
    record_edits,
)
from tests.quality.test_vee import DAY_START, write_landing
from warehouse import Warehouse, write_partition

DAY = "2026-10-01"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
WHO = "Nguyễn Văn An"
WHY = "tổ giảm tổn thất đọc chỉ số tại chỗ"


def end(k: int) -> datetime:
    """End of the k-th 30-minute interval of 2026-10-01 (k = 48: local midnight)."""
    return DAY_START + timedelta(minutes=30 * k)


@pytest.fixture
def silver(settings: Settings, tmp_path: Path) -> pl.DataFrame:
    """The silver day of the tiny landing zone of test_vee (meters TT-A, PC1–PC3)."""
    write_landing(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    return Warehouse.at(settings.warehouse).scan("readings", date=DAY).drop("date").collect()


def covering(meter: str, first: int, last: int) -> pl.Expr:
    return (pl.col("meter_id") == meter) & pl.col("interval_end").is_between(end(first), end(last))


# --- recording ------------------------------------------------------------------------


def test_recording_appends_and_keeps_history(silver: pl.DataFrame, settings: Settings) -> None:
    first = record_edit("PC1", end(20), end(29), kwh_import=0.5, by=WHO, reason=WHY,
                        settings=settings)
    before = read_edits(settings=settings)
    batch = pl.DataFrame({
        "meter_id": ["PC1", "PC2"],
        "first_interval_end": [end(22), end(25)],
        "last_interval_end": [end(23), end(48)],
        "kwh_import": [0.6, 0.4],
        "kwh_export": [None, None],
    })
    later = record_edits(batch, by="Trần Thị Bình", reason="biên bản kiểm tra số 12",
                         settings=settings)
    table = read_edits(settings=settings)

    assert len({first, *later}) == 3
    assert table["edit_id"].to_list() == [first, *later]
    assert dict(table.schema) == EDITS_SCHEMA
    # the earlier edit is kept as it was, and is still there after being superseded
    assert_frame_equal(table.filter(pl.col("edit_id") == first), before)
    row = before.row(0, named=True)
    assert (row["meter_id"], row["first_interval_end"], row["last_interval_end"]) == (
        "PC1", end(20), end(29))
    assert (row["kwh_import"], row["kwh_export"], row["edited_by"], row["reason"]) == (
        0.5, None, WHO, WHY)
    assert table["edited_at"].is_sorted()
    assert table["edited_at"].max() <= datetime.now(UTC)
    files = [p.name for p in Path(Warehouse.at(settings.warehouse).table_dir("edits")).iterdir()
             if p.suffix == ".parquet"]
    assert files == ["part-0.parquet"]


def test_local_instants_are_stored_in_utc(silver: pl.DataFrame, settings: Settings) -> None:
    midnight = datetime(2026, 10, 2, 0, 0, tzinfo=LOCAL)
    record_edit("PC3", midnight, midnight, kwh_import=0.2, by=WHO, reason=WHY,
                settings=settings)
    row = read_edits(settings=settings).row(0, named=True)
    assert row["first_interval_end"] == end(48)
    assert row["first_interval_end"].tzinfo is not None


BASE: dict[str, Any] = {"meter_id": "PC1", "first_end": end(3), "last_end": end(5),
                        "kwh_import": 0.5, "kwh_export": None, "by": WHO, "reason": WHY}


@pytest.mark.parametrize(
    ("change", "column", "needle"),
    [
        pytest.param({"by": "  "}, "edited_by", "by=", id="no-who"),
        pytest.param({"reason": ""}, "reason", "say why", id="no-why"),
        pytest.param({"first_end": end(6)}, "last_interval_end", "in order", id="first-after-last"),
        pytest.param({"kwh_import": -0.1}, "kwh_import", "≥ 0", id="negative-import"),
        pytest.param({"kwh_export": math.inf}, "kwh_export", "≥ 0", id="infinite-export"),
        pytest.param({"kwh_import": None}, "kwh_import", "at least one channel", id="no-value"),
        pytest.param({"meter_id": "PC9"}, "meter_id", "customer system", id="unknown-meter"),
        pytest.param({"meter_id": " "}, "meter_id", "meter's id", id="empty-meter"),
        pytest.param({"first_end": datetime(2026, 10, 1, 1, 0)}, "first_interval_end",
                     "zone", id="naive-instant"),
        pytest.param({"last_end": end(5) + timedelta(minutes=7)}, "last_interval_end",
                     "multiples of 5 minutes", id="off-grid"),
    ],
)
def test_invalid_edit_is_refused_with_column_and_fix(
    silver: pl.DataFrame, settings: Settings, change: dict[str, Any], column: str, needle: str,
) -> None:
    args = {**BASE, **change}
    with pytest.raises(InputError) as caught:
        record_edit(args.pop("meter_id"), args.pop("first_end"), args.pop("last_end"),
                    **args, settings=settings)
    assert caught.value.column == column
    assert caught.value.fix
    assert needle in str(caught.value)
    assert read_edits(settings=settings).is_empty()  # nothing recorded


def test_meters_must_be_loaded_first(settings: Settings) -> None:
    with pytest.raises(NoDataError, match="ami ingest"):
        record_edit(**BASE, settings=settings)


# --- corrections files ----------------------------------------------------------------

HEADER = "meter_id,first_interval_end,last_interval_end,kwh_import,kwh_export,edited_by,reason"
GOOD = "PC1,2026-10-01T10:00:00+07:00,2026-10-01T12:00:00+07:00,0.5,,Lê Văn Cường,thay công tơ"


def write_csv(folder: Path, *lines: str, header: str = HEADER) -> Path:
    path = folder / "edits.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_csv_is_typed_to_utc(tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, "PC2,2026-10-01T05:00:00Z,2026-10-01T05:00:00Z,,0.1,,")
    edits = read_edits_csv(path)
    assert edits["_row"].to_list() == [1, 2]
    first = edits.row(0, named=True)
    assert first["first_interval_end"] == datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
    assert (first["kwh_import"], first["kwh_export"], first["edited_by"]) == (
        0.5, None, "Lê Văn Cường")
    second = edits.row(1, named=True)
    assert (second["kwh_import"], second["kwh_export"]) == (None, 0.1)
    assert (second["edited_by"], second["reason"]) == (None, None)  # filled when recorded


@pytest.mark.parametrize(
    ("bad_line", "column", "needle"),
    [
        pytest.param("PC1,2026-10-01 10:00,2026-10-01T12:00:00+07:00,0.5,,a,b",
                     "first_interval_end", "ISO 8601", id="instant-without-zone"),
        pytest.param("PC1,2026-10-01T10:00:00+07:00,2026-10-01T12:00:00+07:00,\"0,5\",,a,b",
                     "kwh_import", "decimal point", id="decimal-comma"),
        pytest.param("PC1,2026-10-01T10:00:00+07:00,2026-10-01T12:00:00+07:00,,-1,a,b",
                     "kwh_export", "non-negative", id="negative-export"),
        pytest.param("PC1,2026-10-01T12:00:00+07:00,2026-10-01T10:00:00+07:00,0.5,,a,b",
                     "last_interval_end", "in order", id="reversed-range"),
        pytest.param(",2026-10-01T10:00:00+07:00,2026-10-01T12:00:00+07:00,0.5,,a,b",
                     "meter_id", "meter's id", id="empty-meter"),
        pytest.param("PC1,2026-10-01T10:00:00+07:00,2026-10-01T12:00:00+07:00,,,a,b",
                     "kwh_import", "at least one channel", id="no-value"),
        pytest.param("PC1,2026-10-01T10:00:00+07:00,2026-10-01T12:00:00+07:00,0.5,,a,b,c",
                     None, "extra fields", id="too-many-fields"),
    ],
)
def test_csv_bad_row_names_file_row_column(tmp_path: Path, bad_line: str, column: str | None,
                                           needle: str) -> None:
    path = write_csv(tmp_path, GOOD, bad_line, GOOD)
    with pytest.raises(InputError) as caught:
        read_edits_csv(path)
    message = str(caught.value)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), 2, column)
    assert "edits.csv" in message
    assert "row 2" in message
    assert needle in message


def test_csv_unknown_column_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, header=HEADER.replace("kwh_import", "kwh_imprt"))
    with pytest.raises(InputError, match="kwh_imprt") as caught:
        read_edits_csv(path)
    assert caught.value.column == "kwh_imprt"
    assert "kwh_import" in str(caught.value.fix)


def test_csv_errors_of_recording_name_file_and_row(silver: pl.DataFrame, settings: Settings,
                                                  tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, GOOD.replace("PC1", "PC404"))
    with pytest.raises(InputError, match="PC404") as caught:
        record_edits(read_edits_csv(path), by=WHO, settings=settings)
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), 2, "meter_id")

    no_reason = write_csv(tmp_path, GOOD, GOOD.removesuffix("thay công tơ"))
    with pytest.raises(InputError, match="row 2") as caught:
        record_edits(read_edits_csv(no_reason), by=WHO, settings=settings)
    assert caught.value.column == "reason"
    assert read_edits(settings=settings).is_empty()


def test_csv_rows_keep_their_own_who_and_why(silver: pl.DataFrame, settings: Settings,
                                            tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, GOOD.removesuffix(",Lê Văn Cường,thay công tơ") + ",,")
    record_edits(read_edits_csv(path), by=WHO, reason="nhập hàng loạt", settings=settings)
    table = read_edits(settings=settings)
    assert table["edited_by"].to_list() == ["Lê Văn Cường", WHO]
    assert table["reason"].to_list() == ["thay công tơ", "nhập hàng loạt"]


# --- applying -------------------------------------------------------------------------


def test_apply_changes_exactly_the_covered_intervals(silver: pl.DataFrame,
                                                     settings: Settings) -> None:
    edit_id = record_edit("PC1", end(20), end(29), kwh_import=0.5, by=WHO, reason=WHY,
                          settings=settings)
    new, audit = apply_edits(silver, edits_for_day(DAY, settings=settings))

    covered = covering("PC1", 20, 29)
    assert new.schema == silver.schema
    assert new.select("meter_id", "interval_end").equals(silver.select("meter_id", "interval_end"))
    assert_frame_equal(new.filter(~covered), silver.filter(~covered))
    edited = new.filter(covered)
    assert edited.height == 10
    assert edited["kwh_import"].to_list() == [0.5] * 10
    assert edited["kwh_export"].to_list() == silver.filter(covered)["kwh_export"].to_list()
    assert set(edited["quality"]) == {"edited"}
    assert set(edited["rule"]) == {f"manual_edit:{edit_id}"}

    assert dict(audit.schema) == EDIT_LOG_SCHEMA
    assert audit["interval_end"].to_list() == [end(k) for k in range(20, 30)]
    assert set(audit["original_quality"]) == {"missing"}  # the 5 h gap VEE left unfilled
    # (interval 20 also had a row stamped 7 minutes late: quarantined, named by its rule)
    assert set(audit["original_rule"]) == {"no_reading", "off_grid_timestamp"}
    assert audit["original_kwh_import"].null_count() == 10
    assert audit["new_kwh_import"].to_list() == [0.5] * 10
    assert set(audit["edited_by"]) == {WHO}
    assert set(audit["reason"]) == {WHY}


def test_null_edit_value_keeps_the_current_one(silver: pl.DataFrame, settings: Settings) -> None:
    record_edit("PC3", end(1), end(2), kwh_import=None, kwh_export=0.1, by=WHO, reason=WHY,
                settings=settings)
    new, audit = apply_edits(silver, edits_for_day(DAY, settings=settings))
    edited = new.filter(covering("PC3", 1, 2))
    assert edited["kwh_import"].to_list() == [0.3, 0.3]
    assert edited["kwh_export"].to_list() == [0.1, 0.1]
    assert audit["original_kwh_import"].to_list() == audit["new_kwh_import"].to_list()
    assert audit["original_quality"].to_list() == ["measured", "measured"]


def test_latest_edit_wins_on_overlap(silver: pl.DataFrame, settings: Settings) -> None:
    bypass = record_edit("PC2", end(25), end(48), kwh_import=0.4, by=WHO,
                         reason="công tơ bị nối tắt: lấy mức tiêu thụ trước đó", settings=settings)
    outage = record_edit("PC2", end(30), end(31), kwh_import=0.0, by="Trần Thị Bình",
                         reason="mất điện 1 giờ theo lịch", settings=settings)
    day_edits = edits_for_day(DAY, settings=settings)
    new, audit = apply_edits(silver, day_edits)

    def rules(frame: pl.DataFrame) -> dict[datetime, str | None]:
        pc2 = frame.filter(pl.col("meter_id") == "PC2")
        return dict(zip(pc2["interval_end"], pc2["rule"], strict=True))

    after, before = rules(new), rules(silver)
    assert {k: after[end(k)] for k in (24, 25, 29, 30, 31, 32, 48)} == {
        24: before[end(24)], 25: f"manual_edit:{bypass}", 29: f"manual_edit:{bypass}",
        30: f"manual_edit:{outage}", 31: f"manual_edit:{outage}",
        32: f"manual_edit:{bypass}", 48: f"manual_edit:{bypass}",
    }
    assert new.filter(covering("PC2", 30, 31))["kwh_import"].to_list() == [0.0, 0.0]
    assert audit.height == 24  # one audit row per edited interval, by the edit that applies
    assert read_edits(settings=settings).height == 2  # the superseded edit stays
    # the day's edits already resolve the overlap: the bypass edit in two pieces
    assert day_edits["edit_id"].to_list() == [bypass, bypass, outage]
    # and give the same result as the raw, overlapping edits
    raw_new, raw_audit = apply_edits(silver, read_edits(settings=settings))
    assert_frame_equal(raw_new, new)
    assert_frame_equal(raw_audit, audit)


def test_absent_intervals_are_reported_not_invented(silver: pl.DataFrame,
                                                    settings: Settings) -> None:
    edit_id = record_edit("PC3", end(1), end(2), kwh_import=0.7, by=WHO, reason=WHY,
                          settings=settings)
    without_pc3 = silver.filter(pl.col("meter_id") != "PC3")
    new, audit = apply_edits(without_pc3, edits_for_day(DAY, settings=settings))
    assert_frame_equal(new, without_pc3)
    assert audit.select("edit_id", "interval_end", "original_quality", "original_kwh_import",
                        "new_kwh_import").rows() == [
        (edit_id, end(1), "absent", None, 0.7), (edit_id, end(2), "absent", None, 0.7)]


def test_no_edits_leave_silver_as_it_is(silver: pl.DataFrame, settings: Settings) -> None:
    new, audit = apply_edits(silver, edits_for_day(DAY, settings=settings))
    assert new is silver
    assert audit.is_empty()
    assert dict(audit.schema) == EDIT_LOG_SCHEMA


def test_audit_rows_fit_the_edit_log_table(silver: pl.DataFrame, settings: Settings) -> None:
    record_edit("PC1", end(20), end(21), kwh_import=0.5, by=WHO, reason=WHY, settings=settings)
    _, audit = apply_edits(silver, edits_for_day(DAY, settings=settings))
    wh = Warehouse.at(settings.warehouse)
    write_partition(audit, "edit_log", {"date": DAY}, warehouse=wh,
                    sort_by=("meter_id", "interval_end"))
    assert Path(wh.partition_dir("edit_log", {"date": DAY})).parts[-3:] == (
        "silver", "edit_log", f"date={DAY}")
    assert_frame_equal(wh.scan("edit_log", date=DAY).drop("date").collect(), audit)


# --- the edits of a day ---------------------------------------------------------------


def test_interval_ending_at_local_midnight_belongs_to_the_day_before(
    silver: pl.DataFrame, settings: Settings,
) -> None:
    midnight = datetime(2026, 10, 2, 0, 0, tzinfo=LOCAL)
    at_midnight = record_edit("PC1", midnight, midnight, kwh_import=0.1, by=WHO, reason=WHY,
                              settings=settings)
    after = record_edit("PC1", midnight + timedelta(minutes=30), midnight + timedelta(hours=1),
                        kwh_import=0.2, by=WHO, reason=WHY, settings=settings)
    assert edits_for_day("2026-10-01", settings=settings)["edit_id"].to_list() == [at_midnight]
    assert edits_for_day("2026-10-02", settings=settings)["edit_id"].to_list() == [after]


def test_edits_for_day_cut_ranges_to_the_day(silver: pl.DataFrame, settings: Settings) -> None:
    record_edit("TT-A", datetime(2026, 10, 1, 23, 0, tzinfo=LOCAL),
                datetime(2026, 10, 2, 1, 0, tzinfo=LOCAL), kwh_import=1.2, by=WHO, reason=WHY,
                settings=settings)
    first = edits_for_day("2026-10-01", settings=settings).row(0, named=True)
    second = edits_for_day("2026-10-02", settings=settings).row(0, named=True)
    assert (first["first_interval_end"], first["last_interval_end"]) == (
        datetime(2026, 10, 1, 23, 0, tzinfo=LOCAL), datetime(2026, 10, 2, 0, 0, tzinfo=LOCAL))
    assert (second["first_interval_end"], second["last_interval_end"]) == (
        datetime(2026, 10, 2, 0, 5, tzinfo=LOCAL), datetime(2026, 10, 2, 1, 0, tzinfo=LOCAL))
    assert edits_for_day("2026-09-30", settings=settings).is_empty()


def test_edit_sources_change_only_for_the_touched_day(silver: pl.DataFrame,
                                                      settings: Settings) -> None:
    days = ("2026-10-01", "2026-10-02")
    empty = {day: edit_sources(day, settings=settings) for day in days}
    assert empty == dict.fromkeys(days, "")

    record_edit("PC1", datetime(2026, 10, 2, 8, 0, tzinfo=LOCAL),
                datetime(2026, 10, 2, 9, 0, tzinfo=LOCAL), kwh_import=0.3, by=WHO, reason=WHY,
                settings=settings)
    one = {day: edit_sources(day, settings=settings) for day in days}
    assert one["2026-10-01"] == ""
    assert one["2026-10-02"] != ""
    assert edit_sources("2026-10-02", settings=settings) == one["2026-10-02"]  # stable

    record_edit("PC1", end(3), end(4), kwh_import=0.3, by=WHO, reason=WHY, settings=settings)
    two = {day: edit_sources(day, settings=settings) for day in days}
    assert two["2026-10-01"] not in ("", one["2026-10-01"])
    assert two["2026-10-02"] == one["2026-10-02"]


# --- invariants -----------------------------------------------------------------------

START = DAY_START
FINISH = DAY_START + timedelta(days=1)
CADENCES = {"M15": 15, "M30": 30, "M60": 60}
SLOTS = 24 * 60 // GRID_MINUTES


def day_silver(values: list[float | None]) -> pl.DataFrame:
    rows = [(meter, START + timedelta(minutes=minutes * k), minutes)
            for meter, minutes in CADENCES.items() for k in range(1, 1440 // minutes + 1)]
    return pl.DataFrame(
        {
            "meter_id": [r[0] for r in rows],
            "interval_end": [r[1] for r in rows],
            "interval_minutes": [r[2] for r in rows],
            "kwh_import": [values[i % len(values)] for i in range(len(rows))],
            "kwh_export": [None] * len(rows),
            "quality": ["measured" if values[i % len(values)] is not None else "missing"
                        for i in range(len(rows))],
            "rule": [None] * len(rows),
        },
        schema={"meter_id": pl.String, "interval_end": pl.Datetime("us", "UTC"),
                "interval_minutes": pl.Int32, "kwh_import": pl.Float64,
                "kwh_export": pl.Float64, "quality": pl.String, "rule": pl.String},
    )


edit_rows = st.lists(
    st.tuples(
        st.sampled_from([*CADENCES, "GHOST"]),
        st.integers(-12, SLOTS + 12), st.integers(0, 60),          # first slot, length
        st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
        st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
        st.integers(0, 2),                                        # edited_at (ties likely)
    ),
    max_size=6,
)


def edits_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    slot = timedelta(minutes=GRID_MINUTES)
    return pl.DataFrame(
        {
            "edit_id": [f"E{i:08d}" for i in range(1, len(rows) + 1)],
            "meter_id": [r[0] for r in rows],
            "first_interval_end": [START + r[1] * slot for r in rows],
            "last_interval_end": [START + (r[1] + r[2]) * slot for r in rows],
            "kwh_import": [r[3] for r in rows],
            "kwh_export": [r[4] for r in rows],
            "edited_by": ["x"] * len(rows),
            "edited_at": [START + timedelta(hours=r[5]) for r in rows],
            "reason": ["y"] * len(rows),
        },
        schema=EDITS_SCHEMA,
    )


def expected(silver: pl.DataFrame, edits: pl.DataFrame) -> list[tuple[Any, ...]]:
    """Oracle, row by row: the latest edit covering each interval sets what it gives."""
    records = sorted(edits.iter_rows(named=True), key=lambda e: (e["edited_at"], e["edit_id"]))
    out = []
    for row in silver.iter_rows(named=True):
        winner = None
        for e in records:
            if (e["meter_id"] == row["meter_id"]
                    and e["first_interval_end"] <= row["interval_end"] <= e["last_interval_end"]):
                winner = e
        if winner is None:
            out.append((row["kwh_import"], row["kwh_export"], row["quality"], row["rule"]))
        else:
            out.append((
                row["kwh_import"] if winner["kwh_import"] is None else winner["kwh_import"],
                row["kwh_export"] if winner["kwh_export"] is None else winner["kwh_export"],
                "edited", f"manual_edit:{winner['edit_id']}",
            ))
    return out


@hypothesis.settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(0, 3, allow_nan=False)), min_size=1,
                       max_size=7),
       rows=edit_rows)
def test_apply_matches_the_row_by_row_rule(values: list[float | None],
                                           rows: list[tuple[Any, ...]]) -> None:
    silver = day_silver(values)
    edits = edits_frame(rows)
    new, audit = apply_edits(silver, edits)
    assert new.select("kwh_import", "kwh_export", "quality", "rule").rows() == expected(
        silver, edits)
    assert new.select("meter_id", "interval_end", "interval_minutes").equals(
        silver.select("meter_id", "interval_end", "interval_minutes"))
    # one audit row per edited interval; the others name intervals silver does not hold
    present = audit.filter(pl.col("original_quality") != "absent")
    assert present.height == new.filter(pl.col("quality") == "edited").height
    # cutting the edits to the day first (what edits_for_day does) changes nothing
    cut_new, cut_audit = apply_edits(silver, effective_edits(edits, START, FINISH))
    assert_frame_equal(cut_new, new)
    in_day = pl.col("interval_end").is_between(START, FINISH, closed="right")
    assert_frame_equal(cut_audit, audit.filter(in_day))
    # applying the same edits again changes no value
    assert_frame_equal(apply_edits(new, edits)[0], new)
