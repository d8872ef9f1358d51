"""Landing files are streamed in blocks: huge files, malformed rows, faults deep inside."""

import gzip
import io
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from pipelines.filedrop import reader
from pipelines.filedrop.helpers import list_landing
from pipelines.filedrop.profiles import load_profiles
from tests.quality.test_vee import METERS, stamp
from warehouse import Warehouse

HEADER = "meter_id,interval_end,interval_minutes,kwh_import,kwh_export"


def day_lines(meters: int) -> list[str]:
    """One day of readings for ``meters`` meters PC0001…, every value distinct per row."""
    return [f"PC{m:04d},{stamp(k)},30,{m + k / 100:.2f}," for k in range(1, 49)
            for m in range(meters)]


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 16 KiB (about 400 rows) and a 4 KiB sniff, so small files span many."""
    monkeypatch.setattr(reader, "BLOCK_BYTES", 16 << 10)
    monkeypatch.setattr(reader, "BATCH_ROWS", 500)
    monkeypatch.setattr(reader, "SNIFF_BYTES", 4 << 10)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.usefixtures("small_blocks")
def test_a_big_file_is_read_in_bounded_batches_and_nothing_is_lost(tmp_path: Path,
                                                                  suffix: str) -> None:
    text = "\n".join([HEADER, *day_lines(100)]) + "\n"
    path = tmp_path / f"readings_2026-10-01{suffix}"
    if suffix == ".parquet":
        pl.read_csv(text.encode(), infer_schema=False).write_parquet(path, row_group_size=700)
    else:
        data = text.encode()
        path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    [file] = list_landing(tmp_path)
    batches = list(reader.open_raw(file, load_profiles()).batches)
    assert len(batches) >= 8
    assert max(b.num_rows for b in batches) <= 1000  # no batch holds the whole file
    rows = pl.from_arrow(pa.concat_tables(batches))
    assert isinstance(rows, pl.DataFrame)
    assert rows["_row"].to_list() == list(range(1, 4801))
    expected = pl.read_csv(text.encode(), infer_schema=False)
    assert rows.drop("_row").equals(expected)


@pytest.mark.usefixtures("small_blocks")
def test_malformed_rows_deep_in_a_file_are_kept_numbered_and_quarantined(
        settings: Settings, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "meters.csv").write_text(METERS, encoding="utf-8")
    lines = [f"PC1,{stamp(k)},30,0.5," for k in range(1, 49)]
    lines += [f"PC2,{stamp(k)},30,{k / 10}," for k in range(1, 49)] * 40  # many duplicates
    lines.insert(1500, f"PC3,{stamp(3)},30,0.3,,extra")  # data row 1501: a field too many
    lines.insert(1800, f"PC3,{stamp(4)},30")  # data row 1801: fields missing
    (landing / "readings_2026-10-01.csv").write_text("\n".join([HEADER, *lines]) + "\n")
    result = run_chain_direct(str(landing), settings=settings)
    assert result.quarantined == []
    [readings] = [f for f in result.files if f.kind == "readings"]
    assert readings.rows_seen == len(lines)  # every row reached bronze, malformed included
    wh = Warehouse.at(settings.warehouse)
    bronze = pl.read_parquet(wh.glob(f"{wh.bronze}/filedrop/readings/*.parquet")[0])
    assert bronze["_row"].sort().to_list() == list(range(1, len(lines) + 1))
    after = bronze.filter(pl.col("_row") == 1802).row(0, named=True)
    assert ",".join([after["meter_id"], after["interval_end"], after["interval_minutes"],
                     after["kwh_import"]]) + "," == lines[1801]
    quarantine = wh.scan("quarantine", date="2026-10-01").collect()
    malformed = quarantine.filter(pl.col("reason").str.contains("fields where the header"))
    assert sorted(malformed["_row"].to_list()) == [1501, 1801]
    assert all("fix the export" in r for r in malformed["reason"])


@pytest.mark.usefixtures("small_blocks")
def test_a_fault_deep_inside_a_file_quarantines_it_and_nothing_of_it_becomes_current(
        settings: Settings, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "meters.csv").write_text(METERS, encoding="utf-8")
    good = "\n".join([HEADER, *day_lines(60)]) + "\n"
    broken = good.encode()[:-2000] + b"PC\xff\xfe9,2026-10-01T00:00:00Z,30,1,\n"
    (landing / "readings_2026-10-01.csv").write_bytes(broken)
    (landing / "readings_2026-10-02.csv.gz").write_bytes(gzip.compress(good.encode())[:-3000])
    result = run_chain_direct(str(landing), settings=settings)
    reasons = {f.name: f.reason or "" for f in result.quarantined}
    assert "changes encoding" in reasons["readings_2026-10-01.csv"]
    assert "gzip" in reasons["readings_2026-10-02.csv.gz"]
    assert all(f.rows_loaded == 0 for f in result.quarantined)
    assert Warehouse.at(settings.warehouse).partitions("readings", "date") == []


def test_a_cut_parquet_file_is_quarantined_but_a_bug_of_ours_surfaces(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers catch what broken files raise (``READ_ERRORS``); a code bug is not a file's fault."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "meters.csv").write_text(METERS, encoding="utf-8")
    rows = pl.read_csv(io.StringIO("\n".join([HEADER, *day_lines(20)])), infer_schema=False)
    whole = io.BytesIO()
    rows.write_parquet(whole)
    (landing / "readings_2026-10-01.parquet").write_bytes(whole.getvalue()[:-100])
    result = run_chain_direct(str(landing), settings=settings)
    [bad] = result.quarantined
    assert bad.name == "readings_2026-10-01.parquet" and "cannot be read" in (bad.reason or "")

    (landing / "readings_2026-10-01.parquet").unlink()
    (landing / "readings_2026-10-02.csv").write_text("\n".join([HEADER, *day_lines(20)]) + "\n")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise TypeError("a bug in the mapping onto the contract")

    monkeypatch.setattr(reader, "to_canonical", broken)
    with pytest.raises(PipelineStepFailed) as error:  # dlt wraps what its source raised
        run_chain_direct(str(landing), settings=settings)
    causes: list[BaseException] = []
    cause: BaseException | None = error.value
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any(isinstance(c, TypeError) and "a bug in the mapping" in str(c) for c in causes)
