"""`ami vee edit`: a manual correction reaches silver and gold, with its audit trail."""

from pathlib import Path

import polars as pl
import pytest

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from tests.quality.test_vee import stamp, write_landing
from warehouse import Warehouse


def test_edit_reaches_silver_and_gold_with_its_audit(settings: Settings, tmp_path: Path) -> None:
    from ami.cli import main

    write_landing(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    wh = Warehouse.at(settings.warehouse)
    before = wh.scan("meter_day", date="2026-10-01").filter(pl.col("meter_id") == "PC1") \
        .collect()["kwh_import"].item()
    # PC1's 5 h gap (intervals 20-29) was left missing: the crew read the old register
    args = ["vee", "edit", "--meter", "PC1", "--from", stamp(20), "--to", stamp(29),
            "--kwh", "0.5", "--by", "an.nv", "--reason", "gap filled from the old register"]
    assert main(args) == 0
    silver = wh.scan("readings", date="2026-10-01").filter(pl.col("meter_id") == "PC1") \
        .collect().sort("interval_end")
    edited = silver.filter(pl.col("quality") == "edited")
    assert edited.height == 10
    assert set(edited["kwh_import"]) == {0.5}
    assert edited["rule"].str.starts_with("manual_edit:").all()
    log = wh.scan("edit_log", date="2026-10-01").collect()
    assert log.height == 10
    assert set(log["original_quality"]) == {"missing"}
    assert set(log["edited_by"]) == {"an.nv"}
    after = wh.scan("meter_day", date="2026-10-01").filter(pl.col("meter_id") == "PC1") \
        .collect()["kwh_import"].item()
    assert after == pytest.approx(before + 10 * 0.5)


def test_edit_without_a_reason_is_refused(settings: Settings, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ami.cli import main

    write_landing(tmp_path / "landing")
    run_chain_direct(str(tmp_path / "landing"), settings=settings)
    code = main(["vee", "edit", "--meter", "PC1", "--from", stamp(20), "--to", stamp(21),
                 "--kwh", "0.5", "--by", "an.nv"])
    assert code != 0
    assert "--reason" in capsys.readouterr().err
