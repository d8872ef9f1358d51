"""Vietnamese notation: 1.234.567 and 3,66 %, dates dd/mm/yyyy."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from reports.formats import (
    parse_vi_date,
    vi_date,
    vi_datetime,
    vi_month,
    vi_number,
    vi_percent,
    vi_share,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(("value", "decimals", "text"), [
    (1234567, 0, "1.234.567"), (1234567.891, 2, "1.234.567,89"), (-1500.5, 1, "-1.500,5"),
    (0.0, 0, "0"), (999.5, 0, "1.000"), (None, 0, "—"), (float("nan"), 2, "—"),
    (float("inf"), 0, "—"),
])
def test_numbers(value: float | None, decimals: int, text: str) -> None:
    assert vi_number(value, decimals) == text


def test_percent_and_share() -> None:
    assert vi_percent(3.664) == "3,66 %"
    assert vi_percent(6, 1) == "6,0 %"
    assert vi_percent(None) == "—"
    assert vi_share(0.9731) == "97,3 %"


def test_dates_are_day_month_year_in_the_local_zone() -> None:
    assert vi_date(date(2026, 10, 5)) == "05/10/2026"
    assert vi_date("2026-10-05") == "05/10/2026"
    # 17:30 UTC on the 4th is already the 5th in Hà Nội
    assert vi_date(datetime(2026, 10, 4, 17, 30, tzinfo=UTC), zone=HCM) == "05/10/2026"
    assert vi_date("2026-10-04T17:30:00+00:00", zone=HCM) == "05/10/2026"  # as JSON carries it
    assert vi_datetime(datetime(2026, 10, 4, 17, 30, tzinfo=UTC), zone=HCM) == "05/10/2026 00:30"
    assert vi_month("2026-10") == "10/2026"
    assert vi_date(None) == vi_month(None) == "—"


def test_form_dates_are_read_day_first() -> None:
    assert parse_vi_date(" 07/12/2026 ") == date(2026, 12, 7)
    assert parse_vi_date("7/2/2026") == date(2026, 2, 7)
    assert parse_vi_date("2026-12-07") == date(2026, 12, 7)
    for bad in ("12/31/2026", "hôm nay", ""):
        with pytest.raises(ValueError, match="dd/mm/yyyy"):
            parse_vi_date(bad)
