"""Events, register reads and transformer losses as theft evidence in the ranking."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from ami.cli import main
from ami.settings import Settings
from models.anomaly import score_meters
from tests.models.anomaly_fixture import AS_OF, Province, build_province

SETTINGS = Settings()


@pytest.fixture(scope="module")
def province() -> Province:
    return build_province()


@pytest.fixture(scope="module")
def clean_meter(province: Province) -> str:
    return next(m for m, kind in province.kinds.items() if kind == "clean")


def _tamper_events(meter_id: str) -> pl.DataFrame:
    moments = [AS_OF - timedelta(days=d, hours=3) for d in (2, 4, 6)]
    return pl.DataFrame({"meter_id": [meter_id] * 3, "event_at": moments,
                         "event_code": ["cover_open", "magnetic_tamper", "cover_open"]})


def _row(scored: pl.DataFrame, meter_id: str) -> dict[str, object]:
    return scored.filter(pl.col("meter_id") == meter_id).row(0, named=True)


def test_tamper_alarms_raise_a_clean_meter(province: Province, clean_meter: str) -> None:
    readings = province.readings.lazy()
    plain = _row(score_meters(readings, province.meters, None, settings=SETTINGS), clean_meter)
    alarmed = _row(score_meters(readings, province.meters, None, settings=SETTINGS,
                                events=_tamper_events(clean_meter)), clean_meter)
    assert "TAMPER" in alarmed["reason_codes"]  # type: ignore[operator]
    assert "TAMPER" not in plain["reason_codes"]  # type: ignore[operator]
    assert alarmed["score"] > plain["score"] + 0.3  # type: ignore[operator]
    assert "3 lần" in str(alarmed["reasons"])


def test_register_ahead_of_the_profile_is_evidence(province: Province, clean_meter: str) -> None:
    # The register counts 1.6 times what the load profile shows over the recent days only.
    daily = (
        province.readings.filter(pl.col("meter_id") == clean_meter)
        .with_columns(day=pl.col("interval_end").dt.convert_time_zone("Asia/Ho_Chi_Minh")
                      .dt.offset_by("-1us").dt.date())
        .group_by("day").agg(kwh=pl.col("kwh_import").sum()).sort("day")
    )
    recent_from = daily["day"].max() - timedelta(days=13)  # type: ignore[operator]
    factor = pl.when(pl.col("day") >= recent_from).then(1.6).otherwise(1.0)
    registers = daily.with_columns(
        register_kwh_import=1000.0 + (pl.col("kwh") * factor).cum_sum(),
        read_at=(pl.col("day").cast(pl.Datetime("us")) + pl.duration(days=1))
        .dt.replace_time_zone("Asia/Ho_Chi_Minh").dt.convert_time_zone("UTC"),
        meter_id=pl.lit(clean_meter),
    ).select("meter_id", "read_at", "register_kwh_import")
    scored = score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS,
                          registers=registers)
    row = _row(scored, clean_meter)
    assert "REGISTER_GAP" in row["reason_codes"]  # type: ignore[operator]
    assert "38 %" in str(row["reasons_en"])  # (1.6 − 1) / 1.6 of the register


def test_a_dropping_meter_is_linked_to_its_transformer_loss(province: Province) -> None:
    scored = score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS)
    under = next(m for m, kind in province.kinds.items() if kind == "under")
    assert "LOSS_LINK" in _row(scored, under)["reason_codes"]  # type: ignore[operator]
    # Without the total meters there is no loss to link to.
    customers = province.readings.filter(~pl.col("meter_id").str.starts_with("TT"))
    alone = score_meters(customers.lazy(), None, None, settings=SETTINGS)
    assert not alone["reason_codes"].list.contains("LOSS_LINK").any()


def test_cli_reads_events_from_a_file(
    tmp_path: Path, province: Province, clean_meter: str
) -> None:
    readings = tmp_path / "readings.parquet"
    province.readings.filter(~pl.col("meter_id").str.starts_with("TT")).write_parquet(readings)
    events = tmp_path / "events.csv"
    _tamper_events(clean_meter).with_columns(
        pl.col("event_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(events)
    out = tmp_path / "scores.csv"
    assert main(["anomalies", "score", "--readings", str(readings), "--events", str(events),
                 "--out", str(out)]) == 0
    scores = pl.read_csv(out)
    row = scores.filter(pl.col("meter_id") == clean_meter).row(0, named=True)
    assert "TAMPER" in row["reason_codes"]
    assert {"est_unbilled_vnd_month", "model"} <= set(scores.columns)
