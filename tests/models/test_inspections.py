"""Inspection outcomes: the gold table the anomaly scoring learns from."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.cli import main
from ami.errors import InputError
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from models.anomaly.inspections import (
    CLI_SOURCE,
    RecordResult,
    ingest_landing_inspections,
    read_inspection_file,
    read_inspections,
    record_inspections,
)
from models.anomaly.labels import validate_labels
from pipelines.ingest import ingest_landing
from warehouse import Warehouse, partition_meta
from warehouse.schemas import schema_of

T1 = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 9, 3, 0, tzinfo=UTC)
HEADER = "meter_id,inspected_at,outcome,recovered_kwh,note\n"
ROWS = ("PC01,2026-10-05,theft,120.5,dây vượt công tơ\n"
        "PC02,2026-10-06T09:30:00+07:00,no_issue,,\n"
        "PC03,2026-10-07T02:00:00Z,meter_fault,0,kẹt số\n")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def data_file(wh: Warehouse) -> Path:
    return Path(wh.data_file("inspections"))


def test_round_trip_through_the_warehouse(tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    assert read_inspections(wh) is None
    frame = read_inspection_file(write(tmp_path / "i.csv", HEADER + ROWS))
    done = record_inspections(frame, warehouse=wh, source=CLI_SOURCE, recorded_at=T1)
    assert done == RecordResult(added=3, duplicates=0, total=3, updated=0)
    table = read_inspections(wh)
    assert table is not None
    expected = pl.DataFrame({
        "meter_id": ["PC01", "PC02", "PC03"],
        "inspected_at": [utc(2026, 10, 5), utc(2026, 10, 6, 2, 30), utc(2026, 10, 7, 2)],
        "outcome": ["theft", "no_issue", "meter_fault"],
        "recovered_kwh": [120.5, None, 0.0],
        "note": ["dây vượt công tơ", None, "kẹt số"],
        "source": ["cli"] * 3,
        "recorded_at": [T1] * 3,
        "recorded_by": [None] * 3,
        "photo_ref": [None] * 3,
    }, schema=schema_of("inspections").polars)
    assert_frame_equal(table, expected)
    meta = partition_meta(wh, "inspections")
    assert meta is not None and meta.rows == 3
    # the scorer takes the table as its labels
    labels = validate_labels(table)
    assert labels.columns == ["meter_id", "inspected_at", "outcome"]
    assert labels["outcome"].to_list() == ["theft", "no_issue", "meter_fault"]


def test_parquet_input_with_typed_columns(tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    path = tmp_path / "i.parquet"
    pl.DataFrame({"meter_id": ["PC09"], "inspected_at": [date(2026, 10, 8)],
                  "outcome": ["billing_error"], "recovered_kwh": [42]}).write_parquet(path)
    record_inspections(read_inspection_file(path), warehouse=wh, source="cli", recorded_at=T1)
    table = read_inspections(wh)
    assert table is not None
    assert table.row(0, named=True) == {
        "meter_id": "PC09", "inspected_at": utc(2026, 10, 8), "outcome": "billing_error",
        "recovered_kwh": 42.0, "note": None, "source": "cli", "recorded_at": T1,
        "recorded_by": None, "photo_ref": None}


def test_recording_the_same_file_again_changes_nothing(tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    path = write(tmp_path / "i.csv", HEADER + ROWS)
    record_inspections(read_inspection_file(path), warehouse=wh, source="cli", recorded_at=T1)
    before = data_file(wh).read_bytes()
    meta = partition_meta(wh, "inspections")
    again = record_inspections(read_inspection_file(path), warehouse=wh, source="cli",
                               recorded_at=T2)
    assert again == RecordResult(added=0, duplicates=3, total=3, updated=0)
    assert data_file(wh).read_bytes() == before
    assert partition_meta(wh, "inspections") == meta  # not even rewritten
    table = read_inspections(wh)
    assert table is not None and set(table["recorded_at"]) == {T1}


def test_the_later_record_wins(tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    record_inspections(read_inspection_file(write(tmp_path / "a.csv", HEADER + ROWS)),
                       warehouse=wh, source="cli", recorded_at=T1)
    later = write(tmp_path / "b.csv", HEADER
                  + "PC02,2026-10-06T02:30:00Z,theft,80,re-inspected: hook on the line\n"
                  + "PC04,2026-10-09,no_issue,,\n")
    done = record_inspections(read_inspection_file(later), warehouse=wh, source="b.csv",
                              recorded_at=T2)
    assert done == RecordResult(added=1, duplicates=1, total=4, updated=1)
    table = read_inspections(wh)
    assert table is not None
    assert table["meter_id"].to_list() == ["PC01", "PC02", "PC03", "PC04"]
    pc02 = table.row(1, named=True)
    assert (pc02["outcome"], pc02["recovered_kwh"], pc02["note"]) == (
        "theft", 80.0, "re-inspected: hook on the line")
    assert (pc02["source"], pc02["recorded_at"]) == ("b.csv", T2)
    # rows the later file does not change keep when and from where they were recorded
    assert table.filter(pl.col("meter_id") == "PC01")["recorded_at"].to_list() == [T1]


def test_within_one_file_the_last_row_wins(tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    path = write(tmp_path / "i.csv", HEADER + "PC01,2026-10-05,no_issue,,\n"
                 "PC01,2026-10-05, Theft ,12,\n")
    done = record_inspections(read_inspection_file(path), warehouse=wh, source="cli")
    assert done == RecordResult(added=1, duplicates=1, total=1, updated=0)
    table = read_inspections(wh)
    assert table is not None
    assert table.select("outcome", "recovered_kwh").row(0) == ("theft", 12.0)


@pytest.mark.parametrize(
    ("rows", "row", "column", "says"),
    [
        pytest.param("PC01,2026-10-05,theft,1,\nPC02,2026-10-06,stolen,,\n", 2, "outcome",
                     "unknown inspection outcome 'stolen'", id="bad-outcome"),
        pytest.param("PC01,05/10/2026,theft,,\n", 1, "inspected_at", "is not a date",
                     id="bad-date"),
        pytest.param("PC01,2026-10-05,theft,,\nPC02,2026-10-06,theft,5,\n"
                     "PC03,2026-10-07,theft,-3.5,\n", 3, "recovered_kwh", "is negative",
                     id="negative-recovered-kwh"),
        pytest.param("PC01,2026-10-05,theft,\"1,5\",\n", 1, "recovered_kwh",
                     "is not a number", id="decimal-comma"),
        pytest.param("PC01,2026-10-05,theft,,\n,2026-10-06,theft,,\n", 2, "meter_id",
                     "meter_id is empty", id="empty-meter-id"),
        pytest.param("PC01,,theft,,\n", 1, "inspected_at", "inspected_at is empty",
                     id="empty-date"),
    ],
)
def test_bad_values_are_located(rows: str, row: int, column: str, says: str,
                                tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    path = write(tmp_path / "bad.csv", HEADER + rows)
    with pytest.raises(InputError, match=says) as caught:
        record_inspections(read_inspection_file(path), warehouse=wh, source="cli")
    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), row, column)
    assert caught.value.fix
    assert f"file {path}, row {row}, column '{column}'" in str(caught.value)
    assert read_inspections(wh) is None  # nothing written


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "meter_id,inspected_at\nPC01,2026-10-05\n")
    with pytest.raises(InputError, match="lack a required column") as caught:
        read_inspection_file(path)
    assert (caught.value.file, caught.value.column) == (str(path), "outcome")


def test_a_bad_file_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    wh = Warehouse.at(str(tmp_path / "wh"))
    record_inspections(read_inspection_file(write(tmp_path / "a.csv", HEADER + ROWS)),
                       warehouse=wh, source="cli", recorded_at=T1)
    before = data_file(wh).read_bytes()
    bad = pl.DataFrame({"meter_id": ["PC05", "PC06"], "inspected_at": ["2026-10-05"] * 2,
                        "outcome": ["theft", "maybe"]})
    with pytest.raises(InputError, match="row 2, column 'outcome'"):
        record_inspections(bad, warehouse=wh, source="cli")
    assert data_file(wh).read_bytes() == before


def test_existing_callers_keep_three_columns() -> None:
    # ``ami anomalies score --labels`` files may carry the optional columns: unchanged output
    labels = pl.DataFrame({"meter_id": ["A"], "inspected_at": ["2026-10-05"],
                           "outcome": ["theft"], "recovered_kwh": ["-1"], "note": ["x"]})
    assert validate_labels(labels).columns == ["meter_id", "inspected_at", "outcome"]
    with pytest.raises(InputError, match="is negative"):
        validate_labels(labels, details=True)


# --- command line --------------------------------------------------------------------------


def test_cli_records_and_counts(settings: Settings, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "outcomes.csv", HEADER + ROWS)
    assert main(["anomalies", "inspections", "--file", str(path)]) == 0
    first = capsys.readouterr().out.strip()
    assert first.startswith("outcomes.csv: 3 added, 0 duplicate(s);")
    assert len(first.splitlines()) == 1
    assert main(["anomalies", "inspections", "--file", str(path)]) == 0
    assert capsys.readouterr().out.startswith("outcomes.csv: 0 added, 3 duplicate(s);")
    table = read_inspections(Warehouse.at(settings.warehouse))
    assert table is not None and set(table["source"]) == {"cli"}


def test_cli_bad_input_is_one_clear_line(settings: Settings, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "bad.csv", HEADER + "PC01,2026-10-05,theft,-2,\n")
    assert main(["anomalies", "inspections", "--file", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ami: error:")
    assert f"file {path}, row 1, column 'recovered_kwh'" in err
    assert len(err.splitlines()) == 1
    assert read_inspections(Warehouse.at(settings.warehouse)) is None


def test_console_script_exit_code(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", HEADER + "PC01,2026-13-45,theft,,\n")
    ami = Path(sys.executable).with_name("ami")
    done = subprocess.run([str(ami), "anomalies", "inspections", "--file", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, check=False,
                          env={**os.environ, "AMI_WAREHOUSE": str(tmp_path / "wh")})
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "row 1, column 'inspected_at'" in done.stderr and "is not a date" in done.stderr
    assert not (tmp_path / "wh").exists()


# --- landing zone --------------------------------------------------------------------------


def test_landing_files_are_recorded_once(settings: Settings) -> None:
    landing = Path(settings.landing)
    landing.mkdir(parents=True)
    write(landing / "inspections_2026-10.csv", HEADER + ROWS)
    write(landing / "inspections_extra.csv", "meter_id,inspected_at,outcome\n"
          "PC07,2026-10-08,no_issue\n")
    ingest_landing(str(landing), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    done = ingest_landing_inspections(wh, recorded_at=T1)
    assert done == RecordResult(added=4, duplicates=0, total=4, updated=0)
    table = read_inspections(wh)
    assert table is not None
    assert dict(zip(table["meter_id"], table["source"], strict=True)) == {
        "PC01": "inspections_2026-10.csv", "PC02": "inspections_2026-10.csv",
        "PC03": "inspections_2026-10.csv", "PC07": "inspections_extra.csv"}
    before = data_file(wh).read_bytes()

    # A correction from the command line is later than the delivered file: a new ingest
    # run must not put the file's old outcome back.
    fix = write(landing.parent / "fix.csv", HEADER + "PC02,2026-10-06T02:30:00Z,theft,3,\n")
    record_inspections(read_inspection_file(fix), warehouse=wh, source="cli", recorded_at=T2)
    corrected = data_file(wh).read_bytes()
    assert corrected != before
    ingest_landing(str(landing), settings=settings)
    assert ingest_landing_inspections(wh).added == 0
    assert data_file(wh).read_bytes() == corrected

    # A corrected re-delivery of the file is a later record: it wins.
    write(landing / "inspections_extra.csv", "meter_id,inspected_at,outcome,note\n"
          "PC07,2026-10-08,meter_fault,seal broken\n")
    ingest_landing(str(landing), settings=settings)
    again = ingest_landing_inspections(wh)
    assert again == RecordResult(added=0, duplicates=1, total=4, updated=1)
    table = read_inspections(wh)
    assert table is not None
    assert table.filter(pl.col("meter_id") == "PC07").select("outcome", "note").row(0) == (
        "meter_fault", "seal broken")
    assert table.filter(pl.col("meter_id") == "PC02")["outcome"].to_list() == ["theft"]


def test_a_bad_landing_file_is_located(settings: Settings) -> None:
    landing = Path(settings.landing)
    landing.mkdir(parents=True)
    write(landing / "inspections_crew7.csv", HEADER + ROWS + "PC08,2026-10-09,theft,abc,\n")
    ingest_landing(str(landing), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    with pytest.raises(InputError, match="recovered_kwh 'abc' is not a number") as caught:
        ingest_landing_inspections(wh)
    assert (caught.value.file, caught.value.row, caught.value.column) == (
        "inspections_crew7.csv", 4, "recovered_kwh")
    assert read_inspections(wh) is None


def test_ami_ingest_records_landing_inspections(settings: Settings) -> None:
    landing = Path(settings.landing)
    spec = ProvinceSpec(meters=20, start=date(2026, 10, 1), days=2, seed=3, file_format="csv")
    generate_province(spec, landing, settings.truth_dir)
    meter = pl.read_csv(landing / "meters.csv", infer_schema=False)["meter_id"][0]
    write(landing / "inspections_2026-10.csv", HEADER + f"{meter},2026-10-02,theft,7.5,\n")
    assert main(["ingest", "--landing", str(landing)]) == 0
    table = read_inspections(Warehouse.at(settings.warehouse))
    assert table is not None
    assert table.select("meter_id", "outcome", "recovered_kwh", "source").rows() == [
        (meter, "theft", 7.5, "inspections_2026-10.csv")]
