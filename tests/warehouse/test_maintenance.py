"""Catalog audits and housekeeping: status, verify, compaction, retention, faults."""

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ami.cli import main
from ami.errors import TransientError
from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from quality.schedule import pending_days
from quality.sources import current_files, scan_bronze
from tests.quality.test_vee import write_landing
from tests.warehouse.frames import meter_day
from warehouse import Warehouse, partition_meta, write_partition
from warehouse.maintenance import compact_bronze, retain_bronze, status, verify
from warehouse.state import read_manifest


def ami(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the CLI; its exit code and everything it printed."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def two_days(landing: Path, settings: Settings) -> None:
    """Day 1, then day 2 in a second load (two bronze files per table)."""
    write_landing(landing)
    run_chain_direct(str(landing), settings=settings)
    day1 = (landing / "readings_2026-10-01.csv").read_text()
    day2 = day1.replace("2026-09-30T", "2026-10-01X").replace("2026-10-01T", "2026-10-02T") \
        .replace("2026-10-01X", "2026-10-01T")
    (landing / "readings_2026-10-02.csv").write_text(day2)
    run_chain_direct(str(landing), settings=settings)


def bronze_rows(wh: Warehouse) -> pl.DataFrame:
    files = current_files(read_manifest(wh), "readings")
    return scan_bronze(wh, "readings", files).collect().sort("_file", "_row")


@pytest.fixture
def chain(settings: Settings, tmp_path: Path) -> Warehouse:
    two_days(tmp_path / "landing", settings)
    return Warehouse.at(settings.warehouse)


def test_status_lists_every_partition(chain: Warehouse,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    partitions, bronze = status(chain)
    readings = partitions.filter(pl.col("table") == "readings")
    assert readings["partition"].to_list() == ["date=2026-10-01", "date=2026-10-02"]
    assert readings["rows"].to_list() == [4 * 48, 4 * 48]
    assert readings["time_min"][0].startswith("2026-09-30 17:30")
    assert (readings["sources"] > 0).all()
    assert bronze.filter(pl.col("table") == "readings")["files"].item() == 2
    code, text = ami(capsys, "warehouse", "status", "--table", "readings")
    assert code == 0, text
    assert "date=2026-10-02" in text and "balance_day" not in text


def test_verify_names_a_corrupted_file(chain: Warehouse,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(chain) == []
    assert ami(capsys, "warehouse", "verify")[0] == 0
    damaged = Path(chain.data_file("readings", {"date": "2026-10-02"}))
    damaged.write_bytes(damaged.read_bytes()[:-100])  # cut short, as a failing disk would
    changed = Path(chain.data_file("meter_day", {"date": "2026-10-01"}))
    pl.read_parquet(changed).head(1).write_parquet(changed)  # rewritten behind our back
    leftover = Path(chain.partition_dir("readings", {"date": "2026-10-01"})) / ".x.tmp"
    leftover.write_bytes(b"half")
    problems = {p.path: p.problem for p in verify(chain)}
    assert set(problems) == {"silver/readings/date=2026-10-02/part-0.parquet",
                             "gold/meter_day/date=2026-10-01/part-0.parquet",
                             "silver/readings/date=2026-10-01/.x.tmp"}
    assert "Parquet" in problems["silver/readings/date=2026-10-02/part-0.parquet"]
    assert "checksum" in problems["gold/meter_day/date=2026-10-01/part-0.parquet"]
    code, text = ami(capsys, "warehouse", "verify")
    assert code == 1
    assert "silver/readings/date=2026-10-02/part-0.parquet" in text


def test_compaction_merges_without_losing_or_doubling(chain: Warehouse) -> None:
    before = bronze_rows(chain)
    assert [c.table for c in compact_bronze(chain, dry_run=True)] == ["readings"]
    assert len(chain.bronze_parts("filedrop", "readings")) == 2  # a dry run changes nothing
    done = {c.table: c for c in compact_bronze(chain)}
    assert done["readings"].inputs == 2 and done["readings"].rows == before.height
    parts = chain.bronze_parts("filedrop", "readings")
    assert [p.rsplit("/", 1)[-1] for p in parts] == [done["readings"].output]
    assert_frame_equal(bronze_rows(chain), before)
    assert compact_bronze(chain) == []  # one file left per table: nothing more to merge
    assert pending_days(settings=Settings()) == []  # silver does not see a change


def test_a_compaction_cut_short_doubles_nothing(chain: Warehouse) -> None:
    folder = Path(chain.bronze) / "filedrop" / "readings"
    inputs = {p.name: p.read_bytes() for p in folder.glob("*.parquet")}
    before = bronze_rows(chain)
    compact_bronze(chain)
    for name, content in inputs.items():  # as if the process died before deleting them
        (folder / name).write_bytes(content)
    assert len(list(folder.glob("*.parquet"))) == 3
    assert_frame_equal(bronze_rows(chain), before)


def test_retention_retires_old_deliveries(chain: Warehouse,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    silver_day1 = chain.scan("readings", date="2026-10-01").collect()
    dry = retain_bronze(chain, before=date(2026, 10, 2), dry_run=True)
    assert dry.retired_entries == ["readings_2026-10-01.csv"]
    assert len(dry.deleted_files) == 1 and dry.deleted_rows > 0
    assert read_manifest(chain)["readings_2026-10-01.csv"].status == "loaded"
    done = retain_bronze(chain, before=date(2026, 10, 2))
    assert done.deleted_files == dry.deleted_files
    assert read_manifest(chain)["readings_2026-10-01.csv"].status == "retired"
    assert len(chain.bronze_parts("filedrop", "readings")) == 1
    # silver of the retired day stays, and is not rebuilt from the bronze that is gone
    assert_frame_equal(chain.scan("readings", date="2026-10-01").collect(), silver_day1)
    assert pending_days(settings=Settings()) == []
    code, text = ami(capsys, "warehouse", "retain", "--before", "2026-10-03", "--dry-run")
    assert code == 0 and "1 deliveries before 2026-10-03 retired" in text
    code, text = ami(capsys, "warehouse", "retain")
    assert code == 2 and "--keep-days" in text


def small_frame(n: int) -> pl.DataFrame:
    return meter_day([f"M{i}" for i in range(n)], [float(i) for i in range(n)])


def test_a_full_disk_fails_clearly_and_keeps_the_previous_version(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    meta = write_partition(small_frame(10), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    # The child may write files of at most 64 KiB (RLIMIT_FSIZE): a bigger partition hits
    # "file too large", as a full disk would stop it part-way.
    script = f"""
import resource, signal, sys
import polars as pl
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
from ami.errors import AmiError
from warehouse import Warehouse, write_partition
from tests.warehouse.frames import meter_day
frame = meter_day([f"M{{i}}" for i in range(400_000)], [i * 0.37 for i in range(400_000)])
try:
    write_partition(frame, "meter_day", {{"date": "2026-10-01"}}, warehouse=Warehouse.at({str(tmp_path)!r}))
except AmiError as exc:
    print(exc); sys.exit(3)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, env=os.environ.copy())
    assert done.returncode == 3, done.stderr
    assert "could not write meter_day/date=2026-10-01" in done.stdout
    assert "previous version of the partition is unchanged" in done.stdout
    assert partition_meta(wh, "meter_day", {"date": "2026-10-01"}) == meta
    assert_frame_equal(wh.read("meter_day", {"date": "2026-10-01"}), small_frame(10))
    assert verify(wh) == []


def test_two_writers_of_one_partition_take_turns(tmp_path: Path) -> None:
    wh = Warehouse.at(tmp_path)
    # another process holds the partition for 3 s
    script = f"""
import time, polars as pl
import warehouse.writer as w
from warehouse import Warehouse, write_partition
real = w.write_atomic
def slow(*args, **kw):
    print("writing", flush=True); time.sleep(3); return real(*args, **kw)
w.write_atomic = slow
from tests.warehouse.frames import meter_day
write_partition(meter_day(["FIRST"], [1.0]), "meter_day",
                {{"date": "2026-10-01"}}, warehouse=Warehouse.at({str(tmp_path)!r}))
"""
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env=os.environ.copy())
    assert other.stdout is not None and other.stdout.readline().strip() == "writing"
    with pytest.raises(TransientError, match="another process has been writing "
                                             "meter_day/date=2026-10-01"):
        write_partition(small_frame(2), "meter_day", {"date": "2026-10-01"}, warehouse=wh,
                        lock_timeout=0.5)
    start = time.monotonic()
    write_partition(small_frame(2), "meter_day", {"date": "2026-10-01"}, warehouse=wh)
    assert time.monotonic() - start > 0.5  # it waited for the first writer to finish
    assert other.wait(timeout=30) == 0
    other.stdout.close()
    assert_frame_equal(wh.read("meter_day", {"date": "2026-10-01"}), small_frame(2))
    assert verify(wh) == []


def test_a_corrected_silver_day_marks_its_gold_day_and_month(
        chain: Warehouse, settings: Settings, tmp_path: Path) -> None:
    from models.balances import build_day, build_month, months_of, pending_gold_days

    month = partition_meta(chain, "balance_month", {"month": "2026-10"})
    assert pending_gold_days(settings=settings) == []
    # a corrected re-delivery of day 2: its silver is rewritten ...
    landing = tmp_path / "landing"
    day2 = landing / "readings_2026-10-02.csv"
    def silver_pc3() -> float:
        return chain.read("readings", {"date": "2026-10-02"}).filter(
            pl.col("meter_id") == "PC3")["kwh_import"].sum()

    silver_before = silver_pc3()
    day2.write_text(day2.read_text().replace(",0.3,", ",0.45,"))
    from pipelines.ingest import ingest_landing
    from quality.schedule import vee_pending

    ingest_landing(str(landing), settings=settings)
    assert vee_pending(settings=settings) == ["2026-10-02"]
    # ... so exactly that gold day is stale, and the month it belongs to is rebuilt
    assert pending_gold_days(settings=settings) == ["2026-10-02"]
    before = chain.read("meter_day", {"date": "2026-10-02"}).filter(
        pl.col("meter_id") == "PC3")["kwh_import"].item()
    for day in pending_gold_days(settings=settings):
        build_day(day, settings=settings)
    for m in months_of(["2026-10-02"]):
        build_month(m, settings=settings)
    after = chain.read("meter_day", {"date": "2026-10-02"}).filter(
        pl.col("meter_id") == "PC3")["kwh_import"].item()
    assert silver_pc3() - silver_before > 6  # 0.3 → 0.45 kWh in most of 48 intervals
    assert after - before == pytest.approx(silver_pc3() - silver_before)
    rebuilt = partition_meta(chain, "balance_month", {"month": "2026-10"})
    assert month is not None and rebuilt is not None and rebuilt.checksum != month.checksum
    assert pending_gold_days(settings=settings) == []
