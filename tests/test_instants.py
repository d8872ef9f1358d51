"""The one instant parser (ami.instants) against Python's own ISO 8601 reader."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami.instants import instant, parse_instant, parse_series, problem


@st.composite
def iso_texts(draw: st.DrawFn) -> tuple[str, str]:
    """An instant with zone as real systems write it, and the same without a space before
    the zone (which ``fromisoformat`` refuses after a fraction: the oracle reads that one)."""
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)))
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    text = moment.strftime("%Y-%m-%d") + draw(st.sampled_from(["T", " "]))
    text += moment.strftime("%H:%M")
    if draw(st.booleans()) or moment.second or moment.microsecond:
        text += moment.strftime(":%S")
        digits = draw(st.integers(0, 9))
        if digits:
            fraction = f"{moment.microsecond:06d}" + "".join(
                draw(st.lists(st.sampled_from("0123456789"), min_size=3, max_size=3)))
            text += draw(st.sampled_from([".", ","])) + fraction[:digits]
    space = draw(st.sampled_from(["", " "]))
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    styles = [f"{sign}{hours:02d}:{rest:02d}", f"{sign}{hours:02d}{rest:02d}"]
    if rest == 0:
        styles.append(f"{sign}{hours:02d}")
    if minutes == 0:
        styles.append("Z")
    zone = draw(st.sampled_from(styles))
    return text + space + zone, text + zone


@settings(max_examples=400, deadline=None)
@given(iso_texts())
def test_every_instant_with_zone_is_read_as_python_reads_it(texts: tuple[str, str]) -> None:
    text, oracle = texts
    assert parse_instant(text) == datetime.fromisoformat(oracle).astimezone(UTC)


@settings(max_examples=100, deadline=None)
@given(st.lists(iso_texts(), min_size=1, max_size=30))
def test_the_expression_agrees_with_python_in_a_frame(texts: list[tuple[str, str]]) -> None:
    frame = pl.DataFrame({"t": [t for t, _ in texts]}).lazy().select(instant("t")) \
        .collect(engine="streaming")
    assert frame["t"].to_list() == [datetime.fromisoformat(o).astimezone(UTC) for _, o in texts]
    assert frame["t"].dtype == pl.Datetime("us", "UTC")


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1)),
       st.sampled_from(["Asia/Ho_Chi_Minh", "Europe/London", "UTC"]))
def test_a_time_without_zone_is_local_time_of_the_named_zone(moment: datetime,
                                                             zone: str) -> None:
    text = moment.isoformat(sep=" ")
    local = moment.replace(tzinfo=ZoneInfo(zone), fold=0)
    exists = local.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == moment
    assert parse_instant(text) is None  # no zone named: refused, never guessed
    assert parse_instant(text, zone=zone) == (local.astimezone(UTC) if exists else None)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("2026-02-01T00:30:00+07:00", datetime(2026, 1, 31, 17, 30, tzinfo=UTC),
                 id="offset"),
    pytest.param("2026-02-01t00:30:00z", datetime(2026, 2, 1, 0, 30, tzinfo=UTC),
                 id="lower-case-t-and-z"),
    pytest.param("  2026-02-01 00:30+0700 ", datetime(2026, 1, 31, 17, 30, tzinfo=UTC),
                 id="spaces-around"),
    pytest.param("2026-02-01T00:30:00.123456789Z",
                 datetime(2026, 2, 1, 0, 30, 0, 123456, tzinfo=UTC), id="nanoseconds-cut"),
])
def test_accepted_spellings(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", [
    pytest.param("2026-02-01T24:00:00Z", id="hour-24"),
    pytest.param("2026-02-30T00:30:00Z", id="no-such-day"),
    pytest.param("01/02/2026 00:30", id="vendor-format"),
    pytest.param("20260201T003000Z", id="basic-format"),
    pytest.param("2026-02-01T00:30:00+25:00", id="offset-too-large"),
    pytest.param("2026-02-01T00:30.5Z", id="fraction-without-seconds"),
    pytest.param("", id="empty"),
])
def test_refused_spellings(text: str) -> None:
    assert parse_instant(text) is None
    assert parse_instant(text, zone="UTC") is None


def test_problem_tells_a_missing_zone_from_a_bad_text() -> None:
    assert "has no zone" in problem("2026-02-01 00:30:00")
    assert "not an ISO 8601 instant" in problem("01/02/2026 00:30")
    assert problem(None) == "the time is empty"


def test_typed_columns_follow_the_same_rules() -> None:
    aware = pl.Series("t", [datetime(2026, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=7)))])
    naive = pl.Series("t", [datetime(2026, 2, 1, 0, 30)])
    day = pl.Series("t", [date(2026, 2, 1)])
    assert parse_series(aware).to_list() == [datetime(2026, 1, 31, 17, 30, tzinfo=UTC)]
    assert parse_series(naive).to_list() == [None]
    assert parse_series(naive, zone="Asia/Ho_Chi_Minh").to_list() == [
        datetime(2026, 1, 31, 17, 30, tzinfo=UTC)]
    assert parse_series(day).to_list() == [datetime(2026, 2, 1, tzinfo=UTC)]
    assert parse_series(day).dtype == pl.Datetime("us", "UTC")
