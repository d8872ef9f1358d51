"""CMIS source: SQL meters into bronze, incremental on updated_at, SCD 2 kept into silver."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from ami.errors import TerminalError
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from pipelines.cmis.run import ingest_cmis, load_cmis_from_meters_csv
from quality.meters import parse_meters
from warehouse import Warehouse
from warehouse.state import read_json


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres")])
def cmis_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty CMIS database: SQLite file or a fresh database on the real server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cmis.db'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"cmis_{tmp_path.name.lower().replace('-', '_')}"[:60]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.dispose()


@pytest.fixture
def meters_csv(tmp_path: Path) -> Path:
    """The canonical meters.csv of a tiny synthetic province (some meters moved)."""
    landing = tmp_path / "landing"
    spec = ProvinceSpec(meters=120, days=3, seed=2, move_share=0.05, file_format="csv")
    generate_province(spec, landing, tmp_path / "truth")
    return landing / "meters.csv"


def bronze(settings: Settings) -> pl.DataFrame:
    """Every bronze CMIS meter row (all versions)."""
    wh = Warehouse.at(settings.warehouse)
    return pl.read_parquet(wh.glob(f"{wh.bronze}/cmis/meters/*.parquet"),
                           missing_columns="insert")


def current(raw: pl.DataFrame) -> pl.DataFrame:
    """Latest version of each (meter_id, valid_from)."""
    return (raw.sort("_dlt_load_id", "_row")
            .unique(["meter_id", "valid_from"], keep="last", maintain_order=True))


def test_cmis_load_incremental_and_history(cmis_url: str, meters_csv: Path,
                                           settings: Settings) -> None:
    expected = pl.read_csv(meters_csv, infer_schema=False)
    written = load_cmis_from_meters_csv(meters_csv, cmis_url,
                                        updated_at=datetime(2026, 10, 1, tzinfo=UTC))
    assert written == expected.height

    first = ingest_cmis(cmis_url, settings=settings)
    assert (first.rows_seen, first.rows_loaded) == (expected.height, expected.height)
    raw = bronze(settings)
    assert raw.height == expected.height
    assert set(raw["_source"]) == {"cmis"} and set(raw["_file"]) == {"table:meters"}
    assert raw.schema["meter_id"] == pl.String and raw.schema["contracted_kw"] == pl.String
    silver = parse_meters(current(raw))
    assert silver.height == expected.height
    assert read_json(Warehouse.at(settings.warehouse), f"ingest/cmis/{first.load_id}.json")

    again = ingest_cmis(cmis_url, settings=settings)
    assert (again.rows_seen, again.rows_loaded) == (0, 0)
    assert bronze(settings).height == expected.height

    # A grid reconfiguration moves one customer meter to another TBA (SCD 2 in CMIS).
    stable = silver.filter((pl.col("meter_role") == "customer")
                           & pl.col("valid_to").is_null()).row(0, named=True)
    other = silver.filter(pl.col("transformer_id") != stable["transformer_id"]).row(0, named=True)
    moved_at = datetime(2026, 10, 2, 5, 30, tzinfo=UTC)
    bumped = datetime(2026, 10, 3, tzinfo=UTC)
    engine = sa.create_engine(cmis_url)
    try:
        meters = sa.Table("meters", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            old = conn.execute(sa.select(meters).where(
                meters.c.meter_id == stable["meter_id"])).mappings().one()
            conn.execute(meters.update().where(meters.c.meter_id == stable["meter_id"])
                         .values(valid_to=moved_at, updated_at=bumped))
            conn.execute(meters.insert().values(
                {**old, "transformer_id": other["transformer_id"],
                 "feeder_id": other["feeder_id"], "branch_id": other["branch_id"],
                 "valid_from": moved_at, "valid_to": None, "updated_at": bumped}))
    finally:
        engine.dispose()

    change = ingest_cmis(cmis_url, settings=settings)
    assert (change.rows_seen, change.rows_loaded) == (2, 2)
    raw = bronze(settings)
    assert raw.height == expected.height + 2
    silver = parse_meters(current(raw))
    assert silver.height == expected.height + 1
    periods = silver.filter(pl.col("meter_id") == stable["meter_id"]).sort("valid_from")
    assert periods["transformer_id"].to_list() == [stable["transformer_id"],
                                                   other["transformer_id"]]
    assert periods["valid_to"].to_list() == [moved_at, None]
    assert periods["valid_from"][1] == moved_at
    assert ingest_cmis(cmis_url, settings=settings).rows_loaded == 0



def test_cmis_cursor_is_inclusive_at_equal_timestamps(cmis_url: str, meters_csv: Path,
                                                     settings: Settings) -> None:
    stamp = datetime(2026, 10, 1, tzinfo=UTC)
    written = load_cmis_from_meters_csv(meters_csv, cmis_url, updated_at=stamp)
    assert ingest_cmis(cmis_url, settings=settings).rows_loaded == written
    # A transaction that commits late with the very same updated_at as the last row
    # loaded is not missed (the cursor is inclusive), and nothing loaded is read twice.
    engine = sa.create_engine(cmis_url)
    try:
        meters = sa.Table("meters", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            row = conn.execute(sa.select(meters).where(
                meters.c.meter_role == "customer")).mappings().first()
            conn.execute(meters.insert().values({**row, "meter_id": "PC-LATE"}))
    finally:
        engine.dispose()
    tie = ingest_cmis(cmis_url, settings=settings)
    assert (tie.rows_seen, tie.rows_loaded) == (1, 1)
    assert bronze(settings).filter(pl.col("meter_id") == "PC-LATE").height == 1
    assert bronze(settings).height == written + 1
    assert ingest_cmis(cmis_url, settings=settings).rows_loaded == 0


def test_cmis_missing_table_is_terminal(cmis_url: str, settings: Settings) -> None:
    with pytest.raises(TerminalError, match=r"meters.*not found") as caught:
        ingest_cmis(cmis_url, settings=settings)
    assert caught.value.fix and "load_cmis_from_meters_csv" in caught.value.fix


@pytest.mark.parametrize("url", [
    pytest.param("sqlite:////nonexistent/folder/cmis.db", id="sqlite-path"),
    pytest.param("nosuchdriver://host/db", id="driver"),
])
def test_cmis_bad_url_is_terminal(url: str, settings: Settings) -> None:
    with pytest.raises(TerminalError, match="CMIS database") as caught:
        ingest_cmis(url, settings=settings)
    assert caught.value.fix


def test_cmis_unknown_postgres_database_is_terminal(postgres_url: str,
                                                    settings: Settings) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(TerminalError, match="no_such_db"):
        ingest_cmis(url, settings=settings)


def test_timestamps_without_zone_are_local_time_of_the_customer_system() -> None:
    from datetime import UTC, datetime

    from pipelines.cmis.helpers import to_text

    local = datetime(2026, 1, 1, 7, 0)  # a database column "timestamp without time zone"
    assert to_text(local) == "2026-01-01T07:00:00Z"
    assert to_text(local, timezone="Asia/Ho_Chi_Minh") == "2026-01-01T00:00:00Z"
    assert to_text(datetime(2026, 1, 1, 7, tzinfo=UTC), timezone="Asia/Ho_Chi_Minh") \
        == "2026-01-01T07:00:00Z"  # a zoned value keeps its zone
