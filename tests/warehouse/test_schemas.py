"""Schemas declared once with units; writes conform to them; changes are migrations."""

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.cli import main
from tests.warehouse.frames import meter_day as day_rows
from warehouse import Warehouse, partition_meta, write_partition
from warehouse.layout import TABLE_LAYERS
from warehouse.maintenance import verify
from warehouse.migrations import MIGRATIONS, migrate, outdated
from warehouse.schemas import TABLES, Column, SchemaError


def meter_day(n: int = 3) -> pl.DataFrame:
    return day_rows([f"M{i}" for i in range(n)], [1.5] * n).with_columns(
        pl.lit(0.25).alias("kwh_export"))


def test_every_table_is_declared_with_units() -> None:
    assert set(TABLES) == set(TABLE_LAYERS)
    for table in TABLES.values():
        for column in table.columns:
            if "kwh" in column.name:
                assert column.unit == "kWh", (table.name, column.name)
            if column.dtype == pl.Datetime("us", "UTC"):
                assert column.unit == "UTC", (table.name, column.name)


def test_writes_conform_to_the_schema(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    shuffled = meter_day().select(reversed(meter_day().columns)).with_columns(
        pl.col("n_intervals").cast(pl.Int32))  # lossless: Int32 → Int64
    write_partition(shuffled, "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    assert_frame_equal(wh.read("meter_day", {"date": "2026-10-01"}), meter_day())
    with pytest.raises(SchemaError, match="missing measured_share; unexpected share"):
        write_partition(meter_day().rename({"measured_share": "share"}), "meter_day",
                        {"date": "2026-10-02"}, warehouse=wh)
    with pytest.raises(SchemaError, match="column kwh_import of table meter_day is String"):
        write_partition(meter_day().with_columns(pl.lit("1,5").alias("kwh_import")),
                        "meter_day", {"date": "2026-10-02"}, warehouse=wh)
    assert wh.partitions("meter_day", "date") == ["2026-10-01"]  # nothing half-written


def test_a_schema_change_is_an_explicit_migration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    wh = Warehouse.at(tmp_path)
    monkeypatch.setenv("AMI_WAREHOUSE", str(tmp_path))
    write_partition(meter_day(), "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                    sources={"readings:2026-10-01": "abc"})
    old = TABLES["meter_day"]
    monkeypatch.setitem(TABLES, "meter_day", dataclasses.replace(
        old, version=2, columns=(*old.columns, Column("kwh_net", pl.Float64(), "kWh", "net"))))
    [behind] = outdated(wh)
    assert (behind.table, behind.version, behind.current) == ("meter_day", 1, 2)
    [problem] = verify(wh)
    assert "schema version 1" in problem.problem and "migrate" in problem.fix
    with pytest.raises(SchemaError, match="no migration of table meter_day from schema "
                                          "version 1 to 2"):
        migrate(wh)
    monkeypatch.setitem(MIGRATIONS, ("meter_day", 1), lambda f: f.with_columns(
        (pl.col("kwh_import") - pl.col("kwh_export")).alias("kwh_net")))
    assert main(["warehouse", "migrate", "--dry-run"]) == 0
    assert "schema version 1 → 2" in capsys.readouterr().out
    assert outdated(wh)  # a dry run changes nothing
    assert main(["warehouse", "migrate"]) == 0
    meta = partition_meta(wh, "meter_day", {"date": "2026-10-01"})
    assert meta is not None and meta.schema_version == 2
    assert meta.sources == {"readings:2026-10-01": "abc"}
    assert wh.read("meter_day", {"date": "2026-10-01"})["kwh_net"].to_list() == [1.25] * 3
    assert verify(wh) == [] and outdated(wh) == []
