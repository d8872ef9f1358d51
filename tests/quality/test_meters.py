"""Silver meters: validity periods are read exactly, never guessed."""

from datetime import UTC, datetime

import polars as pl
import pytest

from ami.errors import InputError
from quality.meters import BEGINNING, parse_meters


def raw(valid_from: list[str | None]) -> pl.DataFrame:
    n = len(valid_from)
    return pl.DataFrame({
        "meter_id": [f"PC{i}" for i in range(n)], "meter_role": ["customer"] * n,
        "customer_group": ["residential"] * n, "transformer_id": ["A"] * n,
        "valid_from": valid_from, "_file": ["meters.csv"] * n, "_row": list(range(1, n + 1)),
    })


def test_periods_with_any_zone_spelling_are_read_and_empty_means_always() -> None:
    meters = parse_meters(raw(["2026-01-01T07:00:00+07:00", "2026-01-01 00:00Z", None, " "]))
    assert meters["valid_from"].to_list() == [datetime(2026, 1, 1, tzinfo=UTC)] * 2 + [
        BEGINNING] * 2


@pytest.mark.parametrize(("text", "says"), [
    pytest.param("01/01/2026", "is not an ISO 8601 instant", id="vendor-date"),
    pytest.param("2026-01-01 07:00", "has no zone", id="no-zone"),
])
def test_a_period_that_does_not_parse_stops_the_file(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as error:
        parse_meters(raw(["2026-01-01T00:00:00Z", text]))
    assert (error.value.file, error.value.row, error.value.column) == ("meters.csv", 2,
                                                                       "valid_from")
