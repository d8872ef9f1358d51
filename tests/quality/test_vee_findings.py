"""VEE's bad-input cases each end in a named finding: never a crash, never a silent drop."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ami.orchestrate import run_chain_direct
from ami.settings import Settings
from models.anomaly.jobs import build_hour_day, pending_hour_days
from warehouse import Warehouse

DAY1 = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # local midnight starting 2026-10-01
HEADER = "meter_id,customer_id,meter_role,customer_group,transformer_id,feeder_id,branch_id," \
         "commune,contracted_kw,solar_kwp,dr_participant,valid_from,valid_to,network_node"


def meter_row(meter: str, role: str, tx: str) -> str:
    group = "residential" if role == "customer" else ""
    return f"{meter},,{role},{group},{tx},F1,LS01,Xã A,5,,false,2020-01-01T00:00:00Z,,"


def write_days(landing: Path, values: dict[int, dict[str, float]]) -> None:
    """Readings files per day (0, 1, …) with one value per meter for every interval."""
    for day, per_meter in values.items():
        start = DAY1 + timedelta(days=day)
        lines = ["meter_id,interval_end,interval_minutes,kwh_import,kwh_export"]
        for meter, value in per_meter.items():
            for k in range(1, 49):
                # a little variation so that no value repeats all day (no flat line)
                lines.append(f"{meter},{start + timedelta(minutes=30 * k):%Y-%m-%dT%H:%M:%SZ}"
                             f",30,{value * (1 + (k % 5) / 10) if value else 0},")
        name = f"readings_{(start + timedelta(hours=7)).date().isoformat()}.csv"
        (landing / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def findings(settings: Settings, tmp_path: Path) -> pl.DataFrame:
    landing = tmp_path / "landing"
    landing.mkdir()
    meters = [meter_row("TT-A", "transformer_total", "A"), meter_row("PC1", "customer", "A"),
              meter_row("PC2", "customer", "A"), meter_row("PC4", "customer", "A"),
              meter_row("TT-B", "transformer_total", "B"), meter_row("PC5", "customer", "B"),
              meter_row("TT-C", "transformer_total", "C"), meter_row("PC6", "customer", "C")]
    (landing / "meters.csv").write_text("\n".join([HEADER, *meters]) + "\n", encoding="utf-8")
    usual = {"TT-A": 1.0, "PC1": 0.3, "PC2": 0.3, "TT-B": 0.5, "PC5": 0.4,
             "TT-C": 0.5, "PC6": 0.4}
    day2 = {**usual, "PC9": 0.2, "TT-B": 0.0, "PC5": 0.0, "PC6": 0.0}  # PC9: not in CMIS
    del day2["PC2"]  # PC2 delivers nothing on day 2; PC4 never delivers anything
    write_days(landing, {0: usual, 1: day2})
    run_chain_direct(str(landing), settings=settings)
    return Warehouse.at(settings.warehouse).scan("findings").collect()


def day_rules(findings: pl.DataFrame, date: str, node: str) -> set[str]:
    local = pl.col("first_interval_end").dt.convert_time_zone("Asia/Ho_Chi_Minh").dt.date()
    return set(findings.filter((pl.col("date") == date) & (pl.col("node_id") == node)
                               & local.cast(pl.String).is_in([date, None]))["rule"])


@pytest.mark.parametrize(
    ("date", "node", "rule"),
    [
        pytest.param("2026-10-02", "PC2", "no_readings_day", id="whole-day-missing"),
        pytest.param("2026-10-02", "PC9", "unknown_meter", id="not-in-customer-system"),
        pytest.param("2026-10-01", "PC4", "no_readings_day", id="listed-silent-first-day"),
        pytest.param("2026-10-02", "PC4", "never_reporting", id="listed-never-reporting"),
        pytest.param("2026-10-02", "B", "transformer_outage", id="transformer-zero-outage"),
        pytest.param("2026-10-02", "C", "transformer_data_fault",
                     id="transformer-zero-but-delivered"),
    ],
)
def test_bad_input_ends_in_a_named_finding(findings: pl.DataFrame, date: str, node: str,
                                           rule: str) -> None:
    assert rule in day_rules(findings, date, node)


def test_unknown_meter_rows_are_kept_in_silver_and_named(findings: pl.DataFrame,
                                                         settings: Settings) -> None:
    silver = Warehouse.at(settings.warehouse).scan("readings", date="2026-10-02").collect()
    pc9 = silver.filter(pl.col("meter_id") == "PC9")
    assert pc9.height == 48
    assert set(pc9["rule"]) == {"unknown_meter"}
    assert set(pc9["quality"]) == {"measured"}


def test_every_finding_has_evidence_and_an_action(findings: pl.DataFrame) -> None:
    assert findings.height > 0
    assert findings["evidence"].null_count() == 0
    assert findings["action"].null_count() == 0
    assert (findings["evidence"].str.len_chars() > 10).all()


def test_a_multiplier_that_stays_is_flagged_until_it_ends(settings: Settings,
                                                          tmp_path: Path) -> None:
    """A ×5 CT fault longer than VEE's two weeks of history is flagged on every day it
    lasts, not on the day it ends; the anomaly day features leave those days out, so the
    fault put right does not read as a drop (theft)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    meters = [meter_row("TT-A", "transformer_total", "A"), meter_row("PC1", "customer", "A"),
              meter_row("PC2", "customer", "A")]
    (landing / "meters.csv").write_text("\n".join([HEADER, *meters]) + "\n", encoding="utf-8")
    fault = range(4, 24)  # 20 days
    write_days(landing, {day: {"TT-A": 3.0, "PC1": 1.5 if day in fault else 0.3, "PC2": 0.3}
                         for day in range(28)})
    run_chain_direct(str(landing), settings=settings)
    for day in pending_hour_days(settings=settings):
        build_hour_day(day, settings=settings)
    warehouse = Warehouse.at(settings.warehouse)
    dates = [(DAY1 + timedelta(days=day, hours=7)).date().isoformat() for day in range(28)]
    flagged = warehouse.scan("findings").filter(
        (pl.col("rule") == "multiplier_jump") & (pl.col("node_id") == "PC1")).collect()
    assert sorted(flagged["date"]) == [dates[day] for day in fault]
    assert flagged.filter(pl.col("date") == dates[23])["evidence"].str.contains(
        "against 0.3").all()  # still judged against the level before the fault
    featured = warehouse.scan("anomaly_days").filter(pl.col("meter_id") == "PC1") \
        .collect()["date"]
    assert sorted(featured) == [d for day, d in enumerate(dates) if day not in fault]
    assert warehouse.scan("anomaly_days").filter(pl.col("meter_id") == "PC2").collect() \
        .height == 28
