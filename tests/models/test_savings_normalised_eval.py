"""The weather-normalised baseline against the generator's counterfactual, per group-month.

The same province is simulated twice, with and without the offices' 8 % cut from 2026
(``office_saving_pct``), over the 2025 baseline year and the first half of 2026; the true
saving of a month is 1 − actual / counterfactual of the same meters. CalTRACK's savings
(fitted on 2025, weather from the province's temperature file) must be within ±1
percentage point of it. Offices with rooftop solar are left out here: solar changes what
a saving does to grid import, and the savings table reports their export separately.
"""

from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from ami.province import ProvinceSpec
from ami.province.daily import daily_truth, temperature_frame
from models.savings.caltrack import OK, group_savings_normalised

pytestmark = pytest.mark.slow

SPEC = ProvinceSpec(meters=700, start=date(2025, 1, 1), days=546, seed=33,
                    theft_share=0.0, fault_share=0.0)
MONTHS = ("2026-06",)


@pytest.fixture(scope="module")
def offices() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    actual = daily_truth(SPEC)
    counterfactual = daily_truth(replace(SPEC, office_saving_pct=0.0))
    with_solar = actual.filter(pl.col("kwh_export") > 0)["meter_id"].unique()
    pick = (pl.col("customer_group") == "public_admin") & ~pl.col("meter_id").is_in(with_solar)
    return (actual.filter(pick), counterfactual.filter(pick), temperature_frame(SPEC))


@pytest.mark.parametrize("month", MONTHS)
def test_caltrack_savings_within_1_pp_of_the_truth(
        offices: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], month: str) -> None:
    actual, counterfactual, temperature = offices
    meter_days = actual.select("meter_id", "date",
                               pl.col("kwh_import_registered").alias("kwh_import"))
    groups = actual.select("meter_id", "customer_group").unique()
    table, _ = group_savings_normalised(meter_days, temperature, groups, month=month,
                                        timezone="Asia/Ho_Chi_Minh", sample_per_group=8)
    row = table.row(0, named=True)
    assert row["verdict"] == OK, row
    fitted = row["meters_fitted"]
    assert fitted >= 6
    in_month = pl.col("date").dt.strftime("%Y-%m") == month
    true_now = actual.filter(in_month)["kwh_import_registered"].sum()
    true_without = counterfactual.filter(in_month)["kwh_import_registered"].sum()
    truth = 100 * (1 - true_now / true_without)
    assert truth == pytest.approx(8.0, abs=0.01)  # no solar: the cut is the import's
    assert row["savings_pct"] == pytest.approx(truth, abs=1.0), (row, truth)
