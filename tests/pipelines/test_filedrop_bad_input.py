"""Bad deliveries to the landing zone: nothing lost, nothing doubled, a clear reason."""

from pathlib import Path

import polars as pl
import pytest

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from tests.quality.test_vee import METERS, stamp, write_landing
from warehouse import Warehouse

HEADER = "meter_id,interval_end,interval_minutes,kwh_import,kwh_export"


def landing_with(tmp_path: Path, name: str, content: bytes) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "meters.csv").write_text(METERS, encoding="utf-8")
    (landing / name).write_bytes(content)
    return landing


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(b"", "empty (0 bytes)", id="zero-byte"),
        pytest.param("Mã công tơ,thời gian\n".encode("utf-16"), "none of the known encodings",
                     id="wrong-encoding"),
        pytest.param(b"meter_id,kwh_import\nPC1,1\n", "no source profile matches",
                     id="missing-column"),
    ],
)
def test_unreadable_files_are_quarantined_whole(settings: Settings, tmp_path: Path,
                                                content: bytes, says: str) -> None:
    landing = landing_with(tmp_path, "readings_2026-10-01.csv", content)
    result = run_chain_direct(str(landing), settings=settings)
    [bad] = result.quarantined
    assert bad.name == "readings_2026-10-01.csv"
    assert says in (bad.reason or "")
    assert "readings_2026-10-01.csv" in (bad.reason or "")


def test_header_only_file_loads_nothing_and_is_not_an_error(settings: Settings,
                                                          tmp_path: Path) -> None:
    landing = landing_with(tmp_path, "readings_2026-10-01.csv", (HEADER + "\n").encode())
    result = run_chain_direct(str(landing), settings=settings)
    assert result.quarantined == []
    readings = [f for f in result.files if f.kind == "readings"]
    assert [(f.status, f.rows_seen) for f in readings] == [("loaded", 0)]


def test_extra_columns_are_kept_in_bronze(settings: Settings, tmp_path: Path) -> None:
    rows = [HEADER + ",firmware"] + [f"PC1,{stamp(k)},30,0.5,,v2.1" for k in range(1, 49)]
    landing = landing_with(tmp_path, "readings_2026-10-01.csv", "\n".join(rows).encode())
    run_chain_direct(str(landing), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    bronze = pl.read_parquet(wh.glob(f"{wh.bronze}/filedrop/readings/*.parquet")[0])
    assert set(bronze["firmware"]) == {"v2.1"}
    silver = wh.scan("readings", date="2026-10-01").filter(pl.col("meter_id") == "PC1")
    assert silver.collect()["quality"].to_list() == ["measured"] * 48


def test_files_out_of_order_and_a_corrected_redelivery(settings: Settings,
                                                       tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_landing(landing)
    day1 = (landing / "readings_2026-10-01.csv").read_text()
    (landing / "readings_2026-10-01.csv").unlink()
    # day 2 arrives first (its rows are day 1's shifted by 24 h)
    day2 = day1.replace("2026-09-30T", "2026-10-01X").replace("2026-10-01T", "2026-10-02T") \
        .replace("2026-10-01X", "2026-10-01T")
    (landing / "readings_2026-10-02.csv").write_text(day2)
    run_chain_direct(str(landing), settings=settings)
    (landing / "readings_2026-10-01.csv").write_text(day1)
    run_chain_direct(str(landing), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    assert wh.partitions("readings", "date") == ["2026-10-01", "2026-10-02"]
    before = wh.scan("readings", date="2026-10-01").collect()
    # a corrected re-delivery of day 1 replaces what it corrects, nothing is doubled
    (landing / "readings_2026-10-01.csv").write_text(day1.replace(",0.3,", ",0.35,"))
    result = run_chain_direct(str(landing), settings=settings)
    assert [f.name for f in result.files if f.status == "loaded"] == ["readings_2026-10-01.csv"]
    after = wh.scan("readings", date="2026-10-01").collect()
    assert after.height == before.height
    pc3 = after.filter(pl.col("meter_id") == "PC3", pl.col("quality") == "measured")
    assert set(pc3["kwh_import"].round(3)) <= {0.35, 500.0, 0.9}


def test_unchanged_files_are_not_read_again_and_a_touched_copy_loads_nothing(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from pipelines.filedrop import helpers

    hashed: list[str] = []
    real = helpers.sha256_of

    def counting(fs: object, path: str) -> str:
        hashed.append(path.rsplit("/", 1)[-1])
        return real(fs, path)  # type: ignore[arg-type]

    monkeypatch.setattr(helpers, "sha256_of", counting)
    landing = tmp_path / "landing"
    write_landing(landing)
    run_chain_direct(str(landing), settings=settings)
    assert sorted(hashed) == ["meters.csv", "readings_2026-10-01.csv"]
    hashed.clear()
    second = run_chain_direct(str(landing), settings=settings)
    assert hashed == []  # same name, size and modification time: not read at all
    assert {f.status for f in second.files} == {"unchanged"}
    readings = landing / "readings_2026-10-01.csv"
    os.utime(readings, (readings.stat().st_atime, readings.stat().st_mtime + 60))
    third = run_chain_direct(str(landing), settings=settings)
    assert hashed == ["readings_2026-10-01.csv"]  # touched: fingerprinted again …
    assert {f.status for f in third.files} == {"unchanged"}  # … same bytes: nothing loads
