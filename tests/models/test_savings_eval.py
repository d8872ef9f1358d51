"""The saving plan's figures against the generator's injected truth, through the whole chain.

A synthetic province is delivered for June 2025 and for 4 May – 30 June 2026 (the same
grid): state offices cut 8 % from 2026, street lights dim or not, advertising lights cut
their evening peak or not, DR participants cut a quarter of their load in event windows,
and rooftop solar is installed on known days. ``ami savings --month 2026-06`` must give:
savings per group within ±1 percentage point of the true change, every lighting and
advertising verdict right, every DR participant's cut (the ±5 % floor is held at province
scale in ``test_dr_eval.py``), the evening peak within 1 % and every new kWp. Faults and thefts are left out: they are the VEE's and the
scorer's evaluations; here the truth is what the customers' meters measured.
"""

from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ami.cli import main
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings, get_settings
from tests.conftest import isolated_settings
from warehouse import Warehouse

pytestmark = pytest.mark.slow

TZ = "Asia/Ho_Chi_Minh"
LAST_YEAR = ProvinceSpec(meters=600, start=date(2025, 6, 1), days=30, seed=20,
                         theft_share=0.0, fault_share=0.0, move_share=0.0,
                         advertising_share=0.5, file_format="parquet")
THIS_YEAR = replace(LAST_YEAR, start=date(2026, 5, 4), days=58)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("savings_eval")
    data = root / "data"
    with pytest.MonkeyPatch.context() as patch:
        settings = isolated_settings(patch, data)
        landing = Path(settings.landing)
        generate_province(LAST_YEAR, landing, root / "truth_2025")
        generate_province(THIS_YEAR, landing, root / "truth_2026")  # its meters.csv wins
        assert main(["ingest", "--landing", str(landing)]) == 0
        assert main(["savings", "--month", "2026-06", "--out", str(root / "groups.csv"),
                     "--lighting-out", str(root / "lights.csv"),
                     "--plan-out", str(root / "plan.csv")]) == 0
    get_settings.cache_clear()
    return settings, root


def _true_month(truth: Path, month: str) -> pl.DataFrame:
    """What each customer meter measured in a local month [kWh], from the truth."""
    local = pl.col("interval_end").dt.replace_time_zone("UTC").dt.offset_by("-1m") \
        .dt.convert_time_zone(TZ)
    return (pl.scan_parquet(truth / "true_readings_*.parquet")
            .filter(local.dt.strftime("%Y-%m") == month)
            .group_by("meter_id").agg(pl.col("registered_kwh_import").sum().alias("kwh"))
            .collect())


def test_group_savings_match_the_truth(chain: tuple[Settings, Path]) -> None:
    _, root = chain
    groups = pl.read_csv(root / "groups.csv")
    meters = pl.read_parquet(root / "truth_2026" / "meters.parquet")
    now = _true_month(root / "truth_2026", "2026-06").join(
        meters.select("meter_id", "customer_group"), on="meter_id")
    before = _true_month(root / "truth_2025", "2025-06").join(
        meters.select("meter_id", "customer_group"), on="meter_id")
    for group in groups["customer_group"].to_list():
        pick = (pl.lit(value=True) if group == "all" else pl.col("customer_group") == group)
        true_now = now.filter(pick)["kwh"].sum()
        true_before = before.filter(pick)["kwh"].sum()
        truth = 100 * (true_before - true_now) / true_before
        row = groups.filter(pl.col("customer_group") == group).row(0, named=True)
        assert row["consumption_kwh"] == pytest.approx(true_now, rel=1e-3), group
        assert row["savings_pct"] == pytest.approx(truth, abs=1.0), group
    offices = groups.filter(pl.col("customer_group") == "public_admin").row(0, named=True)
    assert offices["savings_pct"] > 4.0  # the 8 % cut shows through the weather


def test_every_lighting_and_advertising_verdict_is_right(chain: tuple[Settings, Path]) -> None:
    settings, root = chain
    lights = pl.read_csv(root / "lights.csv")
    not_dimmed = set(pl.read_csv(root / "truth_2026" / "injections.csv").filter(
        pl.col("category") == "lighting_not_dimmed")["meter_id"])
    assert lights.height > 5 and not_dimmed  # both kinds are there to tell apart
    for row in lights.iter_rows(named=True):
        assert row["compliant"] == (row["meter_id"] not in not_dimmed), row
        # June: every hour at half of last June's evening power, or not
        assert row["all_hours_compliant"] == (row["meter_id"] not in not_dimmed), row
    advertising = Warehouse.at(settings.warehouse).scan(
        "savings_advertising", month="2026-06").collect()
    truth = pl.read_csv(root / "truth_2026" / "advertising.csv")
    joined = advertising.join(truth, on="meter_id", suffix="_true")
    assert joined.height == truth.height > 5
    assert joined["compliant"].to_list() == joined["compliant_true"].to_list()


def test_dr_reduction_through_the_chain(chain: tuple[Settings, Path]) -> None:
    """Every participant gets a trusted cut, and the event's total is the truth's.

    With 15 participants one event's total is as noisy as a few homes' evenings (±20 %);
    the ±5 % floor holds at the scale the figure is read: ``test_dr_eval.py``.
    """
    settings, root = chain
    warehouse = Warehouse.at(settings.warehouse)
    events = pl.concat([warehouse.scan("savings_dr_events", month=m).collect()
                        for m in ("2026-05", "2026-06")])
    truth = pl.read_parquet(root / "truth_2026" / "dr_truth.parquet").group_by(
        "event_id").agg((pl.col("reduction_kwh") / pl.col("window_hours")).sum()
                        .alias("true_kw"))
    joined = events.join(truth, on="event_id")
    assert joined.height == 3  # the three hottest working days of the span
    for row in joined.iter_rows(named=True):
        assert row["participants_ok"] == row["participants"], row
        assert row["reduction_mw"] * 1000 == pytest.approx(row["true_kw"], rel=0.25), row


def test_evening_peak_within_1_percent(chain: tuple[Settings, Path]) -> None:
    settings, root = chain
    peaks = Warehouse.at(settings.warehouse).scan("savings_peak_day", month="2026-06") \
        .filter(pl.col("level") == "province").collect()
    start = (pl.col("interval_end").dt.replace_time_zone("UTC")
             - pl.duration(minutes=30)).dt.convert_time_zone(TZ)
    minute = start.dt.hour().cast(pl.Int32) * 60 + start.dt.minute().cast(pl.Int32)
    truth = (pl.scan_parquet(root / "truth_2026" / "true_readings_2026-06-*.parquet")
             .filter((minute >= 17 * 60 + 30) & (minute < 22 * 60 + 30))
             .group_by(start.dt.date().alias("date"), "interval_end")
             .agg((pl.col("registered_kwh_import").sum() * 2 / 1000).alias("mw"))
             .group_by("date").agg(pl.col("mw").max().alias("true_mw")).collect())
    joined = peaks.join(truth, on="date")
    assert joined.height == 30
    for row in joined.iter_rows(named=True):
        assert row["peak_mw"] == pytest.approx(row["true_mw"], rel=0.01), row


def test_new_solar_and_the_plan_table(chain: tuple[Settings, Path]) -> None:
    settings, root = chain
    installs = pl.read_csv(root / "truth_2026" / "solar_installs.csv")
    solar = Warehouse.at(settings.warehouse).scan("savings_solar", month="2026-06") \
        .filter(pl.col("level") == "province").collect().row(0, named=True)
    assert installs.height > 0
    assert solar["new_kwp_this_year"] == pytest.approx(installs["kwp"].sum())
    plan = pl.read_csv(root / "plan.csv")
    verdicts = dict(zip(plan["target_id"] + "/" + plan["method"], plan["verdict"],
                        strict=True))
    # no year of history: the weather-normalised baseline says so, never a number
    assert verdicts["savings_offices/caltrack_daily"] == "insufficient_data"
    assert plan.filter(pl.col("method") == "caltrack_daily")["figure"].null_count() \
        == plan.filter(pl.col("method") == "caltrack_daily").height
    assert verdicts["savings_offices/same_period"] in ("met", "not_met")
    advertising = pl.read_csv(root / "truth_2026" / "advertising.csv")
    assert verdicts["advertising_peak_cut/same_month_last_year"] == (
        "met" if advertising["compliant"].all() else "not_met")
    assert verdicts["solar_new/customer_system"] == "not_met"  # a small province
    assert verdicts["evening_peak/coincident_demand"] == "info"
