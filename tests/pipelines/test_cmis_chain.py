"""Meters from the customer system (CMIS) drive the chain: readings from files, topology
from the database, balances equal to the truth — on SQLite and on a real PostgreSQL."""

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ami.cli import main
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from pipelines.cmis.run import load_cmis_from_meters_csv
from warehouse import Warehouse

SPEC = ProvinceSpec(meters=120, start=date(2026, 10, 1), days=3, seed=4, move_share=0.05,
                    file_format="csv")


@pytest.mark.parametrize("database", [pytest.param("sqlite", id="sqlite"),
                                      pytest.param("postgresql", id="postgresql")])
def test_chain_with_meters_from_cmis(settings: Settings, tmp_path: Path, database: str,
                                     request: pytest.FixtureRequest) -> None:
    landing = Path(settings.landing)
    generate_province(SPEC, landing, settings.truth_dir)
    url = (f"sqlite:///{tmp_path / 'cmis.db'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    rows = load_cmis_from_meters_csv(landing / "meters.csv", url)
    shutil.move(landing / "meters.csv", tmp_path / "meters.csv")  # topology only in CMIS
    assert main(["ingest", "--landing", str(landing), "--cmis", url]) == 0
    wh = Warehouse.at(settings.warehouse)
    meters = wh.scan("meters").collect()
    assert meters.height == rows
    moved = meters.group_by("meter_id").len().filter(pl.col("len") == 2)
    assert moved.height >= 1  # both validity periods survived the database round trip
    computed = wh.scan("balance_day").filter(pl.col("level") == "transformer").select(
        pl.col("node_id").alias("transformer_id"), pl.col("date").alias("day"), "loss_kwh",
    ).collect()
    truth = pl.read_parquet(settings.truth_dir / "transformer_days.parquet").with_columns(
        pl.col("date").cast(pl.String).alias("day")).filter("clean")
    joined = truth.join(computed, on=["transformer_id", "day"])
    assert joined.height == truth.height > 0
    assert (joined["loss_kwh"] - joined["measured_loss_kwh"]).abs().max() < 1e-6
