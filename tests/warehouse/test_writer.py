"""Atomic, idempotent partition writes and their catalog records."""

import math
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

from tests.warehouse.frames import meter_day
from warehouse import Warehouse, partition_meta, write_partition


def frame(n: int, offset: float = 0.0) -> pl.DataFrame:
    return meter_day([f"M{i % 7}" for i in range(n)], [i * 0.25 + offset for i in range(n)])


def test_round_trip_and_catalog(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    data = frame(50)
    meta = write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                           sort_by=("meter_id", "kwh_import"))
    back = wh.scan("meter_day", date="2026-10-01").drop("date").collect()
    assert_frame_equal(back, data.sort("meter_id", "kwh_import"))
    assert meta.rows == 50
    assert partition_meta(wh, "meter_day", {"date": "2026-10-01"}) == meta


def test_rewrite_is_byte_identical_and_replaces(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    first = write_partition(frame(30), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    again = write_partition(frame(30), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    assert first.checksum == again.checksum
    changed = write_partition(frame(10, 1.0), "meter_day", {"date": "2026-10-01"},
                              warehouse=wh)
    assert changed.checksum != first.checksum
    assert wh.scan("meter_day").collect().height == 10  # replaced, not appended
    leftovers = [p.name for p in Path(wh.table_dir("meter_day")).rglob(".*tmp")]
    assert leftovers == []


def test_duckdb_reads_the_tree(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    for day in ("2026-10-01", "2026-10-02"):
        write_partition(frame(5), "meter_day", {"date": day}, warehouse=wh)
    pattern = f"{wh.table_dir('meter_day')}/*/*.parquet"
    rows = duckdb.sql(
        f"select date, count(*) from read_parquet('{pattern}', hive_partitioning=true) "
        "group by date order by date").fetchall()
    assert [(str(d), n) for d, n in rows] == [("2026-10-01", 5), ("2026-10-02", 5)]


def test_killed_writer_leaves_previous_version(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    write_partition(frame(20), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    script = f"""
import os, signal, polars as pl
from tests.warehouse.frames import meter_day
from warehouse import Warehouse, write_partition
import warehouse.writer as w
real = pl.DataFrame.write_parquet
def dying(self, path, **kw):
    real(self.head(3), path, **kw)  # half a file on disk, then the process dies
    os.kill(os.getpid(), signal.SIGKILL)
pl.DataFrame.write_parquet = dying
write_partition(meter_day(["X"] * 99, [1.0] * 99),
                "meter_day", {{"date": "2026-10-01"}}, warehouse=Warehouse.at({str(tmp_path)!r}))
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, env=os.environ.copy())
    assert done.returncode == -9
    back = wh.scan("meter_day", date="2026-10-01").collect()
    assert back.height == 20 and set(back["meter_id"]) == {f"M{i}" for i in range(7)}


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=40))
def test_write_read_identity(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    wh = Warehouse.at(tmp_path_factory.mktemp("wh"))
    data = meter_day([f"M{i:03d}" for i in range(len(values))], values)
    write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                    sort_by=("meter_id",))
    if data.height:
        assert_frame_equal(wh.scan("meter_day").drop("date").collect(), data)
    else:
        assert partition_meta(wh, "meter_day", {"date": "2026-10-01"}).rows == 0


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1,
                       max_size=30))
def test_writing_the_same_frame_twice_keeps_one_copy(
        tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    wh = Warehouse.at(tmp_path_factory.mktemp("wh"))
    data = meter_day([f"M{i % 3}" for i in range(len(values))], values)
    first = write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                            sort_by=("meter_id", "kwh_import"))
    second = write_partition(data, "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                             sort_by=("meter_id", "kwh_import"))
    assert first.checksum == second.checksum
    assert wh.scan("meter_day").collect().height == len(values)


QUALITIES = ["measured", "estimated", "edited", "missing"]


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(st.tuples(st.sampled_from(["PC1", "PC2", "PC3"]),
                                st.integers(min_value=1, max_value=48),
                                st.floats(min_value=0, max_value=50, allow_nan=False),
                                st.sampled_from(QUALITIES)),
                      min_size=1, max_size=120, unique_by=lambda c: (c[0], c[1])))
def test_gold_meter_day_energy_is_the_sum_of_silver_intervals(
        cells: list[tuple[str, int, float, str]]) -> None:
    from datetime import UTC, datetime, timedelta

    from models.balances import meter_day

    start = datetime(2026, 9, 30, 17, tzinfo=UTC)
    silver = pl.DataFrame({
        "meter_id": [c[0] for c in cells],
        "interval_end": [start + timedelta(minutes=30 * c[1]) for c in cells],
        "kwh_import": [None if c[3] == "missing" else c[2] for c in cells],
        "kwh_export": [None] * len(cells),
        "quality": [c[3] for c in cells],
    }, schema_overrides={"kwh_import": pl.Float64, "kwh_export": pl.Float64})
    gold = {r["meter_id"]: r for r in meter_day(silver).iter_rows(named=True)}
    for meter in {c[0] for c in cells}:
        mine = [c for c in cells if c[0] == meter]
        counted = [c[2] for c in mine if c[3] != "missing"]
        expected = math.fsum(counted)
        # energy is summed in whole micro-kWh (models/figures.py): each interval may move
        # by half of one, never more
        assert abs(gold[meter]["kwh_import"] - expected) <= 0.5e-6 * len(counted) + 1e-9
        assert gold[meter]["n_intervals"] == len(mine)
        assert gold[meter]["n_measured"] == sum(c[3] == "measured" for c in mine)
