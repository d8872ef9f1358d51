"""Scoring from the warehouse: day hour bins, then the window; the same as the file path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from ami.settings import Settings
from models.anomaly import score_meters
from models.anomaly.inspections import record_inspections
from models.anomaly.jobs import build_hour_day, pending_hour_days, score_warehouse
from models.balances import build_day
from quality.days import local_day
from tests.models.anomaly_fixture import AS_OF, Province, build_province
from warehouse import Warehouse, partition_meta, write_partition, write_table
from warehouse.schemas import schema_of


@pytest.fixture(scope="module")
def province() -> Province:
    return build_province()


def _silver(tmp: Path, province: Province) -> Settings:
    """A warehouse holding the province as silver: one unique row per meter and interval."""
    settings = Settings(warehouse=str(tmp / "warehouse"))
    wh = Warehouse.at(settings.warehouse)
    readings = (
        province.readings.group_by("meter_id", "interval_end", maintain_order=True)
        .agg(pl.col("interval_minutes", "quality", "rule").first(),
             pl.col("kwh_import", "kwh_export").mean())
        .with_columns(date=local_day("interval_end", settings))
    )
    for (day,), part in readings.partition_by("date", as_dict=True).items():
        write_partition(part.select(list(schema_of("readings").polars)), "readings",
                        {"date": str(day)}, warehouse=wh, sort_by=("meter_id", "interval_end"))
    meters = province.meters.with_columns(network_node=pl.lit(None, pl.String),
                                          tags=pl.lit(None, pl.String))
    write_table(meters.select(list(schema_of("meters").polars)), "meters", warehouse=wh)
    for day in wh.partitions("readings", "date"):
        build_day(day, settings=settings)  # the gold balances give the transformers' losses
    return settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, province: Province) -> Settings:
    settings = _silver(tmp_path_factory.mktemp("anomaly_wh"), province)
    score_warehouse(settings=settings)
    return settings


def test_warehouse_scores_match_the_file_path(settings: Settings, province: Province) -> None:
    stored = Warehouse.at(settings.warehouse).read("anomaly_scores").sort("meter_id")
    direct = score_meters(province.readings.lazy(), province.meters, None, settings=settings,
                          as_of=AS_OF).sort("meter_id")
    assert stored["meter_id"].to_list() == direct["meter_id"].to_list()
    assert (stored["score"] - direct["score"]).abs().max() < 1e-6  # type: ignore[operator]
    assert stored["reason_codes"].to_list() == direct["reason_codes"].to_list()
    assert not stored["meter_id"].str.starts_with("TT").any()  # grid meters never scored


def test_every_window_day_has_bins_and_nothing_is_pending(settings: Settings) -> None:
    wh = Warehouse.at(settings.warehouse)
    assert pending_hour_days(settings=settings) == []
    assert wh.partitions("anomaly_hours", "date") == wh.partitions("readings", "date")


def test_a_changed_silver_day_makes_only_its_bins_stale(settings: Settings) -> None:
    wh = Warehouse.at(settings.warehouse)
    day = wh.partitions("readings", "date")[-3]
    readings = wh.read("readings", {"date": day})
    changed = readings.with_columns(pl.col("kwh_import") * 1.01)
    write_partition(changed, "readings", {"date": day}, warehouse=wh,
                    sort_by=("meter_id", "interval_end"))
    assert pending_hour_days(settings=settings) == [day]
    before = partition_meta(wh, "anomaly_hours", {"date": day})
    build_hour_day(day, settings=settings)
    after = partition_meta(wh, "anomaly_hours", {"date": day})
    assert before is not None and after is not None
    assert after.checksum != before.checksum
    assert pending_hour_days(settings=settings) == []
    write_partition(readings, "readings", {"date": day}, warehouse=wh,
                    sort_by=("meter_id", "interval_end"))
    build_hour_day(day, settings=settings)
    assert partition_meta(wh, "anomaly_hours", {"date": day}).checksum == before.checksum  # type: ignore[union-attr]


def test_recorded_inspections_teach_the_next_scoring(
    tmp_path: Path, province: Province
) -> None:
    settings = _silver(tmp_path, province)
    wh = Warehouse.at(settings.warehouse)
    kinds = province.kinds
    thefts = [m for m, k in kinds.items() if k in ("under", "partial", "bypass", "flat", "shift",
                                                    "under_early")]
    clean = [m for m, k in kinds.items() if k == "clean"][:8]
    at = AS_OF - timedelta(days=2)
    outcomes = pl.DataFrame({
        "meter_id": thefts + clean,
        "inspected_at": [at] * (len(thefts) + len(clean)),
        "outcome": ["theft"] * len(thefts) + ["no_issue"] * len(clean),
    })
    record_inspections(outcomes, warehouse=wh, source="test.csv")
    score_warehouse(settings=settings)
    scores = wh.read("anomaly_scores")
    assert set(scores["model"].unique()) == {"supervised"}
    inspected = scores.filter(pl.col("meter_id").is_in(clean))
    assert inspected["reason_codes"].list.contains("INSPECTED_OK").all()
    top = scores.sort("rank").head(len(thefts))["meter_id"].to_list()
    assert len(set(top) & set(thefts)) >= len(thefts) - 1
