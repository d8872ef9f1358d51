"""Silver temperature and DR events: typed, latest row wins, bad rows named by file and row."""

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ami.cli import main
from ami.settings import Settings
from warehouse import Warehouse

METERS = """meter_id,meter_role,customer_group,transformer_id,branch_id,dr_participant,tags
PC1,customer,commercial,A,LS01,true,advertising
PC2,customer,production,A,LS01,true,
PC3,customer,residential,A,LS01,false,
"""
READINGS = """meter_id,interval_end,interval_minutes,kwh_import
PC1,2026-07-01T00:30:00+07:00,30,1.0
PC2,2026-07-01T00:30:00+07:00,30,2.0
PC3,2026-07-01T00:30:00+07:00,30,0.5
"""
TEMPERATURE = "date,temp_c_mean\n2026-07-01,28.5\n2026-07-02,29.1\n"
DR = """event_id,start_at,end_at,participants,target_kw
DR1,2026-07-01T17:30:00+07:00,2026-07-01T20:30:00+07:00,PC1;PC2,50
DR2,2026-07-02T10:30:00Z,2026-07-02T13:30:00Z,,
"""


def landing(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir(exist_ok=True)
    for name, text in {"meters.csv": METERS, "readings_2026-07-01.csv": READINGS,
                       **{k.replace("_csv", ".csv"): v for k, v in files.items()}}.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_temperature_and_events_reach_silver(settings: Settings, tmp_path: Path) -> None:
    folder = landing(tmp_path, temperature_csv=TEMPERATURE, dr_events_csv=DR)
    assert main(["ingest", "--landing", str(folder)]) == 0
    warehouse = Warehouse.at(settings.warehouse)
    temps = warehouse.read("temperature")
    assert temps["temp_c_mean"].to_list() == [28.5, 29.1]
    assert temps["date"].dtype == pl.Date
    events = warehouse.read("dr_events")
    dr1 = events.filter(pl.col("event_id") == "DR1")
    assert dr1["meter_id"].to_list() == ["PC1", "PC2"]
    assert dr1["start_at"][0] == datetime(2026, 7, 1, 10, 30, tzinfo=UTC)
    assert dr1["target_kw"].to_list() == [50.0, 50.0]
    # no participants listed: every meter the customer system enrols
    assert events.filter(pl.col("event_id") == "DR2")["meter_id"].to_list() == ["PC1", "PC2"]
    assert warehouse.read("meters").filter(pl.col("meter_id") == "PC1")["tags"][0] \
        == "advertising"


def test_a_later_file_corrects_a_day(settings: Settings, tmp_path: Path) -> None:
    folder = landing(tmp_path, temperature_csv=TEMPERATURE)
    assert main(["ingest", "--landing", str(folder)]) == 0
    (folder / "temperature_fix.csv").write_text("date,temp_c_mean\n2026-07-02,27.0\n",
                                                encoding="utf-8")
    assert main(["ingest", "--landing", str(folder)]) == 0
    temps = Warehouse.at(settings.warehouse).read("temperature")
    assert temps.height == 2
    assert temps.filter(pl.col("date") == pl.date(2026, 7, 2))["temp_c_mean"][0] == 27.0


@pytest.mark.parametrize(("files", "says"), [
    ({"temperature_csv": "date,temp_c_mean\n2026-07-01,28\n01/07/2026,29\n"},
     "temperature.csv, row 2, column 'date'"),
    ({"temperature_csv": "date,temp_c_mean\n2026-07-01,85\n"},
     "row 1, column 'temp_c_mean'"),
    ({"dr_events_csv": "event_id,start_at,end_at,participants\n"
                       "D,2026-07-01T17:30:00+07:00,2026-07-01T20:30:00+07:00,PC1;PC9\n"},
     "column 'participants'"),
    ({"dr_events_csv": "event_id,start_at,end_at,participants\n"
                       "D1,2026-07-01T17:30:00+07:00,2026-07-01T20:30:00+07:00,PC1\n"
                       "D2,2026-07-01T19:30:00+07:00,2026-07-01T21:30:00+07:00,PC1\n"},
     "overlap"),
    ({"dr_events_csv": "event_id,start_at,end_at\n"
                       "D1,2026-07-01T17:30:00,2026-07-01T20:30:00+07:00\n"},
     "column 'start_at'"),
    ({"dr_events_csv": "event_id,start_at,end_at\n"
                       "D1,2026-07-01T20:30:00+07:00,2026-07-01T17:30:00+07:00\n"},
     "column 'end_at'"),
])
def test_bad_rows_are_named(files: dict[str, str], says: str, settings: Settings,
                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = landing(tmp_path, **files)
    assert main(["ingest", "--landing", str(folder)]) != 0
    err = capsys.readouterr().err
    assert says in err, err
    assert "Traceback" not in err
