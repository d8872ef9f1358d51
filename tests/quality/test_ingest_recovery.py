"""Ingest bookkeeping: a crash between load and manifest loses nothing and doubles nothing."""

import json
from pathlib import Path

import polars as pl

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from tests.quality.test_vee import write_landing
from warehouse import Warehouse
from warehouse.state import MANIFEST, state_path


def test_crash_before_manifest_reloads_without_doubling(settings: Settings,
                                                       tmp_path: Path) -> None:
    write_landing(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    before = wh.scan("readings", date="2026-10-01").collect()
    # The process died after dlt committed the load but before the manifest was written.
    path = Path(state_path(wh, MANIFEST))
    manifest = json.loads(path.read_text())
    del manifest["readings_2026-10-01.csv"]
    path.write_text(json.dumps(manifest))
    result = run_chain_direct(str(tmp_path / "landing"), settings=settings)
    assert result.rows_loaded > 0  # the file was loaded again, not skipped forever
    after = wh.scan("readings", date="2026-10-01").collect()
    assert after.height == before.height
    assert after["kwh_import"].sum() == before["kwh_import"].sum()


def test_bad_file_is_quarantined_once_with_a_reason(settings: Settings, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_landing(landing)
    (landing / "readings_2026-10-02.csv").write_text("meter,value\nPC1,1\n", encoding="utf-8")
    first = run_chain_direct(str(landing), settings=settings)
    [bad] = first.quarantined
    assert bad.name == "readings_2026-10-02.csv"
    assert "no source profile matches the header 'meter,value'" in (bad.reason or "")
    assert "interval_end" in (bad.reason or "")
    second = run_chain_direct(str(landing), settings=settings)
    assert second.quarantined == []  # same bad bytes: reported once
    wh = Warehouse.at(settings.warehouse)
    assert wh.partitions("readings", "date") == ["2026-10-01"]
    assert pl.DataFrame(first.files).height == 3
