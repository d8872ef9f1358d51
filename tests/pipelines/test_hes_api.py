"""HES REST API source against the real simulator on 127.0.0.1: paging, faults, resume."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from ami.errors import TerminalError, TransientError
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from pipelines.hes_api.run import ingest_api
from pipelines.hes_api.simulator import Faults, start_simulator
from warehouse import Warehouse
from warehouse.state import state_path

TOKEN = "test-token"
PAGE = 500


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny province's landing zone (40 meters, 2 days, CSV)."""
    root = tmp_path_factory.mktemp("hes")
    generate_province(ProvinceSpec(meters=40, days=2, seed=1, file_format="csv"),
                      root / "landing", root / "truth")
    return root / "landing"


def source_rows(landing: Path) -> int:
    """Readings rows in the landing zone."""
    return sum(pl.read_csv(p, infer_schema=False).height for p in landing.glob("readings*"))


def bronze_table(settings: Settings) -> pl.DataFrame:
    """Every bronze row of the HES API readings table."""
    wh = Warehouse.at(settings.warehouse)
    files = wh.glob(f"{wh.bronze}/hes_api/readings/**/*.parquet")
    if not files:
        return pl.DataFrame()
    frames = [pl.DataFrame(pq.read_table(f)) for f in files]
    return pl.concat(frames, how="vertical_relaxed")


def test_full_load_then_nothing(landing: Path, settings: Settings) -> None:
    expected = source_rows(landing)
    with start_simulator(landing, token=TOKEN, faults=Faults()) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        first = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE)
        second = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE)
    assert first.rows_loaded == expected == sim.row_count
    assert first.pages == -(-expected // PAGE)
    bronze = bronze_table(settings)
    assert bronze.height == expected
    assert {"_source", "_file", "_row", "_dlt_load_id", "meter_id", "kwh_import"} <= set(
        bronze.columns)
    assert bronze["_source"].unique().to_list() == ["hes_api"]
    assert bronze["kwh_import"].dtype == pl.String
    assert bronze.select("meter_id", "interval_end").unique().height == expected
    assert second.rows_loaded == 0
    state = Path(state_path(Warehouse.at(settings.warehouse), "ingest/api"))
    records = [json.loads(p.read_text()) for p in state.glob("*.json")]
    assert sum(r["rows_loaded"] for r in records) == expected


def test_500_then_recover(landing: Path, settings: Settings) -> None:
    with start_simulator(landing, token=TOKEN, faults=Faults(fail_first=3)) as sim:
        result = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE, backoff=0.01)
    assert sim.requests > result.pages
    assert result.rows_loaded == bronze_table(settings).height == sim.row_count


def test_429_honours_retry_after(landing: Path, settings: Settings) -> None:
    with start_simulator(landing, token=TOKEN, faults=Faults(too_many_pages={1})) as sim:
        started = time.monotonic()
        result = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE, backoff=0.01)
        elapsed = time.monotonic() - started
    assert elapsed >= 1.0
    assert result.rows_loaded == bronze_table(settings).height == sim.row_count


def test_slow_page_times_out_and_is_fetched_again(landing: Path, settings: Settings) -> None:
    with start_simulator(landing, token=TOKEN, faults=Faults(slow_pages={2: 1.5})) as sim:
        result = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE, backoff=0.01,
                            timeout=0.5)
        assert sim.faults.slow_pages == {}  # the slow answer was given (and not waited for)
    assert sim.requests == result.pages + 1  # page 2 asked twice
    bronze = bronze_table(settings)
    assert result.rows_loaded == bronze.height == sim.row_count
    assert bronze.select("meter_id", "interval_end").unique().height == sim.row_count


def test_a_server_that_stays_too_slow_is_transient(landing: Path, settings: Settings) -> None:
    slow = Faults(slow_pages={0: 1.0})
    with start_simulator(landing, token=TOKEN, faults=slow) as sim, \
            pytest.raises(TransientError, match="could not be reached") as info:
        ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE, retries=0, timeout=0.3)
    assert "run again" in str(info.value)
    assert bronze_table(settings).height == 0


def test_repeated_page_not_doubled(landing: Path, settings: Settings) -> None:
    with start_simulator(landing, token=TOKEN, faults=Faults(repeat_pages={2})) as sim:
        result = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE)
    assert result.duplicates_skipped == PAGE
    assert result.rows_seen == sim.row_count + PAGE
    bronze = bronze_table(settings)
    assert bronze.height == sim.row_count
    assert bronze.select("meter_id", "interval_end").unique().height == sim.row_count


def test_crash_between_pages_resumes(landing: Path, settings: Settings) -> None:
    with start_simulator(landing, token=TOKEN, faults=Faults(fail_from_page=3)) as sim:
        with pytest.raises(TransientError, match="HTTP 500"):
            ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE, retries=1,
                       backoff=0.01, pages_per_load=1)
        committed = bronze_table(settings).height
        sim.faults = Faults()  # the head-end recovers
        result = ingest_api(sim.url, TOKEN, settings=settings, page_size=PAGE,
                            pages_per_load=2)
    assert committed == 3 * PAGE  # pages 0-2 were committed before the outage
    assert result.rows_loaded == sim.row_count - committed  # resumed, not restarted
    bronze = bronze_table(settings)
    assert bronze.height == sim.row_count
    assert bronze.select("meter_id", "interval_end").unique().height == sim.row_count


def test_wrong_token_is_terminal(landing: Path, settings: Settings) -> None:
    with (start_simulator(landing, token=TOKEN, faults=Faults()) as sim,
          pytest.raises(TerminalError) as info):
        ingest_api(sim.url, "wrong", settings=settings, page_size=PAGE)
    assert sim.url in str(info.value)
    assert "token" in str(info.value)
    assert bronze_table(settings).height == 0
