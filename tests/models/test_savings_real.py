"""Savings on real households: VEE may not eat genuine consumption.

A month of the real development set (87 London households, 2013) go through ingest,
VEE and gold; ``ami savings`` must report the group's consumption as the sum of the
meters' delivered energy within 0.1 % (the gaps VEE fills are 0.06 % of the half hours),
and with no history a year before it must say so rather than give a percentage.
"""

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ami.cli import main
from ami.settings import Settings, get_settings
from tests.conftest import isolated_settings
from tests.realdata import real_readings

pytestmark = pytest.mark.slow

FIRST = datetime(2013, 1, 1, tzinfo=UTC)  # London is on UTC in winter


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, pl.DataFrame]:
    root = tmp_path_factory.mktemp("savings_real")
    data = root / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AMI_TIMEZONE", "Europe/London")
        settings = isolated_settings(patch, data)
        readings = real_readings(first=FIRST, days=31)  # January
        landing = root / "landing"
        landing.mkdir()
        readings.write_csv(landing / "readings_2013.csv")
        assert main(["ingest", "--landing", str(landing)]) == 0
        for month in ("2013-01",):
            assert main(["savings", "--month", month, "--out", str(root / f"{month}.csv"),
                         "--plan-out", str(root / f"plan-{month}.csv")]) == 0
    get_settings.cache_clear()
    return settings, readings


def test_group_consumption_is_the_meters_delivered_energy(
        ingested: tuple[Settings, pl.DataFrame]) -> None:
    settings, readings = ingested
    root = Path(settings.data_dir).parent
    delivered = float(readings["kwh_import"].cast(pl.Float64).sum())
    reported = 0.0
    for month in ("2013-01",):
        groups = pl.read_csv(root / f"{month}.csv")
        total = groups.filter(pl.col("customer_group") == "all")
        assert total.height == 1
        reported += total["consumption_kwh"][0]
        assert groups.filter(pl.col("customer_group") == "all")["meters"][0] == 87
    assert reported == pytest.approx(delivered, rel=0.001)


def test_no_history_gives_no_percentage(ingested: tuple[Settings, pl.DataFrame]) -> None:
    settings, _ = ingested
    root = Path(settings.data_dir).parent
    groups = pl.read_csv(root / "2013-01.csv")
    assert groups["savings_pct"].null_count() == groups.height
    assert set(groups["note"]) == {"no_history"}
    plan = pl.read_csv(root / "plan-2013-01.csv")
    total = plan.filter((pl.col("target_id") == "savings_total")
                        & (pl.col("method") == "same_period"))
    assert total["verdict"].to_list() == ["insufficient_data"]
    normalised = plan.filter(pl.col("method") == "caltrack_daily")
    assert set(normalised["verdict"]) == {"insufficient_data"}
