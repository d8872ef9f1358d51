"""Dated retail tariffs: the packaged table, block arithmetic, dating, and located errors."""

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from ami.errors import ConfigError, InputError, NoDataError
from ami.settings import PACKAGED_TARIFFS, Settings
from ami.tariffs import (
    GROUPS,
    load_tariffs,
    read_tariffs,
    tariff_on,
    unbilled_vnd,
    unbilled_vnd_expr,
)

#: A day under QĐ 1279/QĐ-BCT (in force from 2025-05-10) and the day before it.
NOW, BEFORE = date(2025, 6, 15), date(2025, 5, 9)


def price(group: str | None, billed: float | None, unbilled: float | None,
          on: date = NOW, **kwargs: object) -> float | None:
    frame = pl.DataFrame({"customer_group": [group], "billed_kwh_month": [billed],
                          "unbilled_kwh_month": [unbilled]},
                         schema={"customer_group": pl.String, "billed_kwh_month": pl.Float64,
                                 "unbilled_kwh_month": pl.Float64})
    return unbilled_vnd(frame, on=on, **kwargs).item()  # type: ignore[arg-type]


# --- the packaged table --------------------------------------------------------------


def test_the_packaged_table_is_the_default_setting_and_prices_every_group_on_each_date() -> None:
    assert Settings().tariffs == PACKAGED_TARIFFS
    table = read_tariffs()
    assert table["valid_from"].unique().sort().to_list() == [date(2024, 10, 11),
                                                            date(2025, 5, 10)]
    for day in (date(2024, 10, 11), date(2025, 5, 10)):
        assert set(table.filter(pl.col("valid_from") == day)["customer_group"]) == set(GROUPS)


def test_household_blocks_of_decision_1279() -> None:
    rows = tariff_on(NOW).filter(pl.col("customer_group") == "residential")
    assert rows["vnd_per_kwh"].to_list() == [1984, 2050, 2380, 2998, 3350, 3460]
    assert rows["block_from_kwh"].to_list() == [0, 50, 100, 200, 300, 400]
    assert rows["block_to_kwh"].to_list() == [50, 100, 200, 300, 400, None]
    assert set(rows["decision"]) == {"Quyết định 1279/QĐ-BCT ngày 09/05/2025"}


# --- block arithmetic (households) ---------------------------------------------------


@pytest.mark.parametrize(("billed", "unbilled", "vnd"), [
    # 120 → 220 kWh: 80 kWh in block 3 (101–200) and 20 kWh in block 4 (201–300).
    pytest.param(120, 100, 80 * 2380 + 20 * 2998, id="120+100-spans-blocks-3-and-4"),
    pytest.param(0, 50, 50 * 1984, id="first-block-only"),
    # A whole 500 kWh month: 50·1984 + 50·2050 + 100·(2380 + 2998 + 3350 + 3460).
    pytest.param(0, 500, 1_420_500, id="whole-500-kwh-bill"),
    pytest.param(350, 200, 50 * 3350 + 150 * 3460, id="into-the-open-top-block"),
    pytest.param(450, 10, 10 * 3460, id="already-in-the-top-block"),
    pytest.param(49.5, 1, 0.5 * 1984 + 0.5 * 2050, id="fractional-kwh-across-a-limit"),
    pytest.param(120, 0, 0, id="nothing-unbilled"),
    pytest.param(120, -30, 0, id="negative-unbilled-is-zero"),
])
def test_unbilled_household_energy_falls_in_the_upper_blocks(
        billed: float, unbilled: float, vnd: float) -> None:
    assert price("residential", billed, unbilled) == vnd


def test_the_same_energy_is_worth_more_on_top_of_a_larger_bill() -> None:
    assert price("residential", 0, 100) < price("residential", 300, 100)  # type: ignore[operator]


# --- dating --------------------------------------------------------------------------


def test_a_day_before_2025_05_10_uses_the_2024_prices() -> None:
    assert set(tariff_on(BEFORE)["decision"]) == {"Quyết định 2699/QĐ-BCT ngày 11/10/2024"}
    assert price("residential", 120, 100, on=BEFORE) == 80 * 2271 + 20 * 2860
    assert price("residential", 120, 100, on=date(2025, 5, 10)) == 80 * 2380 + 20 * 2998


def test_a_datetime_counts_by_its_date() -> None:
    assert tariff_on(datetime(2025, 5, 9, 23, 59)).equals(tariff_on(BEFORE))


def test_a_day_before_the_table_starts_is_refused() -> None:
    # The anomaly ranking turns this error into its note: it names the day, where the
    # table starts and the setting to change.
    with pytest.raises(NoDataError, match="2024-10-10") as raised:
        tariff_on(date(2024, 10, 10))
    assert "the tariff table starts on 2024-10-11" in raised.value.message
    assert "AMI_TARIFFS" in (raised.value.fix or "")


# --- every group ---------------------------------------------------------------------


@pytest.mark.parametrize(("group", "vnd_per_kwh"), [
    pytest.param("commercial", 3152, id="commercial-normal-hours"),
    pytest.param("production", 1987, id="production-normal-hours"),
    pytest.param("public_admin", 2226, id="public-admin"),
    pytest.param("public_lighting", 2226, id="public-lighting"),
    pytest.param("other", 1987, id="other-as-production"),
])
def test_non_household_groups_price_unbilled_kwh_at_one_price(group: str,
                                                               vnd_per_kwh: float) -> None:
    assert price(group, 0, 100) == 100 * vnd_per_kwh
    assert price(group, 50_000, 100) == 100 * vnd_per_kwh  # no blocks: the bill size is moot


def test_time_of_use_shares_blend_the_three_prices() -> None:
    shares = {"normal": 0.5, "peak": 0.25, "offpeak": 0.25}
    assert price("commercial", 0, 100, tou_shares=shares) == 100 * (
        0.5 * 3152 + 0.25 * 5422 + 0.25 * 1918)


@pytest.mark.parametrize("shares", [
    pytest.param({"normal": 0.5}, id="not-adding-up-to-1"),
    pytest.param({"evening": 1.0}, id="unknown-part"),
    pytest.param({"normal": 1.5, "peak": -0.5}, id="negative-share"),
])
def test_bad_time_of_use_shares_are_refused(shares: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="time-of-use shares"):
        price("commercial", 0, 100, tou_shares=shares)


def test_a_null_group_is_priced_as_a_household() -> None:
    assert price(None, 120, 100) == price("residential", 120, 100) == 250_360


@pytest.mark.parametrize(("billed", "unbilled"), [
    pytest.param(None, 100, id="billed-null"), pytest.param(120, None, id="unbilled-null"),
])
def test_nulls_in_give_null_out(billed: float | None, unbilled: float | None) -> None:
    assert price("residential", billed, unbilled) is None


def test_an_unknown_group_in_the_frame_is_refused() -> None:
    with pytest.raises(InputError, match="household") as caught:
        price("household", 120, 100)
    assert caught.value.column == "customer_group"


def test_the_expression_runs_in_a_lazy_query() -> None:
    frame = pl.DataFrame({"customer_group": ["residential", "commercial", None],
                          "billed_kwh_month": [120.0, 10.0, 0.0],
                          "unbilled_kwh_month": [100.0, 10.0, 50.0]})
    lazy = frame.lazy().with_columns(unbilled_vnd_expr(on=NOW)).collect()
    assert_series_equal(lazy["unbilled_vnd"], unbilled_vnd(frame, on=NOW))
    assert lazy["unbilled_vnd"].to_list() == [250_360, 31_520, 99_200]


# --- the utility's own file ----------------------------------------------------------


HEADER = "valid_from,decision,customer_group,block_from_kwh,block_to_kwh,tou,vnd_per_kwh"
#: One complete dated table; data row n of the file is ROWS[n - 1].
ROWS = [
    "2026-01-01,QĐ test,residential,0,100,,2000",
    "2026-01-01,QĐ test,residential,100,,,3000",
    "2026-01-01,QĐ test,commercial,,,normal,3100",
    "2026-01-01,QĐ test,commercial,,,peak,5400",
    "2026-01-01,QĐ test,commercial,,,offpeak,1900",
    "2026-01-01,QĐ test,production,,,,2000",
    "2026-01-01,QĐ test,public_admin,,,,2200",
    "2026-01-01,QĐ test,public_lighting,,,,2200",
    "2026-01-01,QĐ test,other,,,,2000",
]


def write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "tariffs.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def replaced(row: int, text: str) -> list[str]:
    return [text if n == row else r for n, r in enumerate(ROWS, start=1)]


def test_the_setting_points_to_the_utility_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMI_TARIFFS", str(write(tmp_path, ROWS)))
    table = load_tariffs(settings=Settings())
    assert price("residential", 50, 100, on=date(2026, 3, 1), tariffs=table) == (
        50 * 2000 + 50 * 3000)
    assert price("production", 0, 10, on=date(2026, 3, 1), tariffs=table) == 20_000


def test_a_missing_file_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AMI_TARIFFS"):
        read_tariffs(tmp_path / "nowhere.csv")


@pytest.mark.parametrize(("rows", "row", "column", "message"), [
    pytest.param(replaced(3, "2026-13-01,QĐ test,commercial,,,normal,3100"), 3, "valid_from",
                 "is not a date", id="bad-date"),
    pytest.param(replaced(6, "2026-01-01,QĐ test,production,,,,-2000"), 6, "vnd_per_kwh",
                 "not positive", id="negative-price"),
    pytest.param(replaced(6, "2026-01-01,QĐ test,production,,,,2000đ"), 6, "vnd_per_kwh",
                 "'2000đ' is not a number", id="price-not-a-number"),
    pytest.param(replaced(6, "2026-01-01,QĐ test,production,,,,1.984"), 6, "vnd_per_kwh",
                 "implausibly low", id="price-with-a-thousands-dot"),
    pytest.param(replaced(7, "2026-01-01,QĐ test,public_admin,,,,"), 7, "vnd_per_kwh",
                 "empty", id="empty-price"),
    pytest.param(replaced(2, "2026-01-01,QĐ test,residential,90,,,3000"), 2, "block_from_kwh",
                 "overlaps", id="overlapping-blocks"),
    pytest.param(replaced(2, "2026-01-01,QĐ test,residential,120,,,3000"), 2, "block_from_kwh",
                 "100–120 kWh without a price", id="gapped-blocks"),
    pytest.param(replaced(1, "2026-01-01,QĐ test,residential,10,100,,2000"), 1,
                 "block_from_kwh", "without a price", id="blocks-not-from-zero"),
    pytest.param(replaced(2, "2026-01-01,QĐ test,residential,100,500,,3000"), 2,
                 "block_to_kwh", "last block ends", id="closed-last-block"),
    pytest.param(replaced(8, "2026-01-01,QĐ test,street_lights,,,,2200"), 8,
                 "customer_group", "unknown customer group 'street_lights'",
                 id="unknown-group"),
    pytest.param(ROWS[:-1], 1, "customer_group", "no price for other", id="group-missing"),
    pytest.param(replaced(4, "2026-01-01,QĐ test,commercial,,,normal,5400"), 4, "tou",
                 "given twice", id="tou-part-twice"),
    pytest.param(replaced(5, "2026-01-01,QĐ test,commercial,,,night,1900"), 5, "tou",
                 "unknown time-of-use part", id="unknown-tou-part"),
    pytest.param([*ROWS, "2026-01-01,QĐ test,public_admin,,,,2300"], 10, "customer_group",
                 "more than one price", id="two-flat-prices"),
    pytest.param(replaced(9, "2026-01-01,,other,,,,2000"), 9, "decision", "empty",
                 id="no-decision"),
])
def test_a_bad_file_is_located_by_row_and_column(
        tmp_path: Path, rows: list[str], row: int, column: str, message: str) -> None:
    path = write(tmp_path, rows)
    with pytest.raises(InputError, match=message) as caught:
        read_tariffs(path)
    error = caught.value
    assert (error.file, error.row, error.column) == (str(path), row, column)
    assert error.fix
    assert str(path) in str(error) and f"row {row}" in str(error)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, [r.rsplit(",", 1)[0] for r in ROWS], header=HEADER.rsplit(",", 1)[0])
    with pytest.raises(InputError) as caught:
        read_tariffs(path)
    assert (caught.value.file, caught.value.column) == (str(path), "vnd_per_kwh")


def test_a_thousands_comma_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, replaced(6, "2026-01-01,QĐ test,production,,,,2,000"))
    with pytest.raises(InputError, match="8 fields where the header has 7") as caught:
        read_tariffs(path)
    assert (caught.value.file, caught.value.row) == (str(path), 6)


PACKAGED = read_tariffs()


@hypothesis_settings(max_examples=60, deadline=None)
@given(billed=st.floats(0, 1_000), first=st.floats(0, 500), second=st.floats(0, 500))
def test_unbilled_energy_adds_up_across_blocks(billed: float, first: float,
                                               second: float) -> None:
    """Taking ``first`` then ``second`` kWh is worth what taking both at once is (± rounding)."""
    frame = pl.DataFrame({"customer_group": ["residential"] * 3,
                          "billed_kwh_month": [billed, billed, billed + first],
                          "unbilled_kwh_month": [first + second, first, second]})
    both, one, then = unbilled_vnd(frame, on=NOW, tariffs=PACKAGED).to_list()
    assert abs(both - (one + then)) <= 1
    assert 1984 * (first + second) - 1 <= both <= 3460 * (first + second) + 1
