"""Atomic, idempotent partition writes and their catalog records."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from warehouse import Warehouse, read_meta, write_partition


def frame(n: int, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame({"meter_id": [f"M{i % 7}" for i in range(n)],
                         "kwh_import": [i * 0.25 + offset for i in range(n)]})


def test_round_trip_and_catalog(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    data = frame(50)
    meta = write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                           sort_by=("meter_id", "kwh_import"))
    back = wh.scan("meter_day", date="2026-10-01").drop("date").collect()
    assert_frame_equal(back, data.sort("meter_id", "kwh_import"))
    assert meta.rows == 50
    assert read_meta(wh.partition_dir("meter_day", {"date": "2026-10-01"})) == meta


def test_rewrite_is_byte_identical_and_replaces(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    first = write_partition(frame(30), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    again = write_partition(frame(30), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    assert first.checksum == again.checksum
    changed = write_partition(frame(10, 1.0), "meter_day", {"date": "2026-10-01"},
                              warehouse=wh)
    assert changed.checksum != first.checksum
    assert wh.scan("meter_day").collect().height == 10  # replaced, not appended
    leftovers = [p.name for p in wh.table_dir("meter_day").rglob(".*tmp")]
    assert leftovers == []


def test_duckdb_reads_the_tree(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for day in ("2026-10-01", "2026-10-02"):
        write_partition(frame(5), "meter_day", {"date": day}, warehouse=wh)
    pattern = str(wh.table_dir("meter_day") / "*" / "*.parquet")
    rows = duckdb.sql(
        f"select date, count(*) from read_parquet('{pattern}', hive_partitioning=true) "
        "group by date order by date").fetchall()
    assert [(str(d), n) for d, n in rows] == [("2026-10-01", 5), ("2026-10-02", 5)]


def test_killed_writer_leaves_previous_version(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    write_partition(frame(20), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    script = f"""
import os, signal, polars as pl
from warehouse import Warehouse, write_partition
import warehouse.writer as w
real = pl.DataFrame.write_parquet
def dying(self, path, **kw):
    real(self.head(3), path, **kw)  # half a file on disk, then the process dies
    os.kill(os.getpid(), signal.SIGKILL)
pl.DataFrame.write_parquet = dying
write_partition(pl.DataFrame({{"meter_id": ["X"] * 99, "kwh_import": [1.0] * 99}}),
                "meter_day", {{"date": "2026-10-01"}}, warehouse=Warehouse(__import__("pathlib").Path({str(tmp_path)!r})))
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, env=os.environ.copy())
    assert done.returncode == -9
    back = wh.scan("meter_day", date="2026-10-01").collect()
    assert back.height == 20 and set(back["meter_id"]) == {f"M{i}" for i in range(7)}


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=40))
def test_write_read_identity(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    wh = Warehouse(tmp_path_factory.mktemp("wh"))
    data = pl.DataFrame({"meter_id": [f"M{i:03d}" for i in range(len(values))],
                         "kwh_import": values}, schema={"meter_id": pl.String,
                                                        "kwh_import": pl.Float64})
    write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                    sort_by=("meter_id",))
    if data.height:
        assert_frame_equal(wh.scan("meter_day").drop("date").collect(), data)
    else:
        assert read_meta(wh.partition_dir("meter_day", {"date": "2026-10-01"})).rows == 0
