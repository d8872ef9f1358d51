"""End to end on a tiny province, through the real Airflow DAGs (dag.test on SQLite).

The loss per transformer computed by the pipeline must equal the generator's truth
(technical + non-technical) wherever the data is complete.
"""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ami.chain import CHAIN
from ami.orchestrate import run_dags
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from warehouse import Warehouse

pytestmark = pytest.mark.slow

SPEC = ProvinceSpec(meters=240, start=date(2026, 9, 24), days=14, seed=7)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    settings = Settings(
        data_dir=data, landing=str(data / "landing"), warehouse=str(data / "warehouse"),
        truth_dir=data / "truth", reports_dir=data / "reports", airflow_home=data / "airflow",
    )
    generate_province(SPEC, Path(settings.landing), settings.truth_dir)
    (data / "logs").mkdir(parents=True)
    run_dags(list(CHAIN), {"ami_ingest": {"landing": settings.landing},
                           "ami_monthly_report": {"month": "2026-09"}},
             settings=settings, log=data / "logs" / "e2e.log")
    return settings, data


def test_daily_loss_equals_truth_where_complete(chain: tuple[Settings, Path]) -> None:
    settings, _ = chain
    wh = Warehouse.at(settings.warehouse)
    computed = wh.scan("balance_day").filter(pl.col("level") == "transformer").select(
        pl.col("node_id").alias("transformer_id"), pl.col("date").alias("day"), "loss_kwh",
    ).collect()
    truth = pl.read_parquet(settings.truth_dir / "transformer_days.parquet").with_columns(
        pl.col("date").cast(pl.String).alias("day"))
    clean = truth.filter(pl.col("clean"))
    joined = clean.join(computed, on=["transformer_id", "day"], how="left")
    assert clean.height >= 0.5 * truth.height, "too few clean transformer-days to test"
    assert joined["loss_kwh"].null_count() == 0
    error = (joined["loss_kwh"] - joined["measured_loss_kwh"]).abs().max()
    assert error < 1e-6, f"max |loss − truth| = {error} kWh"


def test_month_loss_equals_truth_for_fully_clean_transformers(
    chain: tuple[Settings, Path],
) -> None:
    settings, _ = chain
    wh = Warehouse.at(settings.warehouse)
    truth = pl.read_parquet(settings.truth_dir / "transformer_days.parquet").filter(
        pl.col("date").cast(pl.String).str.starts_with("2026-09"))
    per_month = truth.group_by("transformer_id").agg(
        pl.col("measured_loss_kwh").sum(), pl.col("clean").all())
    computed = wh.scan("balance_month", month="2026-09").filter(
        pl.col("level") == "transformer").collect()
    joined = per_month.filter(pl.col("clean")).join(
        computed, left_on="transformer_id", right_on="node_id")
    assert joined.height > 0
    assert (joined["loss_kwh"] - joined["measured_loss_kwh"]).abs().max() < 1e-6


def test_every_layer_was_written_by_the_dags(chain: tuple[Settings, Path]) -> None:
    settings, data = chain
    wh = Warehouse.at(settings.warehouse)
    assert wh.partitions("readings", "date")[0] == "2026-09-24"
    assert len(wh.partitions("balance_day", "date")) == SPEC.days
    assert wh.partitions("balance_month", "month") == ["2026-09", "2026-10"]
    scores = wh.scan("anomaly_scores").collect()
    assert scores["rank"].min() == 1 and scores["meter_id"].is_unique().all()
    assert (settings.reports_dir / "bao-cao-thang-2026-09.xlsx").exists()
    log = (data / "logs" / "e2e.log").read_text(encoding="utf-8")
    for dag_id in CHAIN:
        assert f"AMI-STEP done {dag_id}" in log


def test_rerun_changes_nothing(chain: tuple[Settings, Path]) -> None:
    settings, data = chain
    wh = Warehouse.at(settings.warehouse)
    before = {p: Path(p).read_bytes() for p in wh.glob(wh.path("silver/readings/*/part-0.parquet"))}
    run_dags(["ami_ingest", "ami_vee", "ami_losses"],
             {"ami_ingest": {"landing": settings.landing}},
             settings=settings, log=data / "logs" / "rerun.log")
    after = {p: Path(p).read_bytes() for p in wh.glob(wh.path("silver/readings/*/part-0.parquet"))}
    assert before == after
