"""Optional enrichments never withhold the anomaly ranking: what is left out is noted once.

A window no tariff covers (readings of 2013, the packaged table starts on 2024-10-11) is
ranked exactly as a covered one, with ``est_unbilled_vnd_month`` empty and one note; the
same holds for events, register reads, the meters table and inspection outcomes that do
not cover the window. Bad input still raises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_series_equal

from ami.cli import main
from ami.errors import InputError
from ami.settings import Settings
from models.anomaly import score_meters
from models.anomaly.evidence import with_evidence
from models.anomaly.jobs import score_warehouse
from models.anomaly.signals import compute_signals
from tests.models.anomaly_fixture import AS_OF, Province, build_province
from tests.models.test_anomaly_warehouse import _silver
from warehouse import Warehouse

SETTINGS = Settings()
#: 678 weeks back: the fixture's March-April 2026 becomes March-May 2013, same weekdays.
BACK = timedelta(weeks=678)
#: The last local day of the fixture's window, 678 weeks back.
LAST_DAY_2013 = "2013-05-01"
SAME = ("meter_id", "rank", "reason_codes", "customer_group", "model")
#: Reasons name the day a change began: the same text but for that date.
DATED = ("reasons", "reasons_en")
DATE = r"\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}"


@pytest.fixture(scope="module")
def province() -> Province:
    return build_province()


@pytest.fixture(scope="module")
def province_2013(province: Province) -> Province:
    return province._replace(
        readings=province.readings.with_columns(pl.col("interval_end") - BACK),
        meters=province.meters.with_columns(pl.col("valid_from") - BACK),
    )


@pytest.fixture(scope="module")
def covered(province: Province) -> tuple[pl.DataFrame, list[str]]:
    notes: list[str] = []
    return score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS,
                        notes=notes), notes


@pytest.fixture(scope="module")
def uncovered(province_2013: Province) -> tuple[pl.DataFrame, list[str]]:
    notes: list[str] = []
    return score_meters(province_2013.readings.lazy(), province_2013.meters, None,
                        settings=SETTINGS, notes=notes), notes


def _tariff_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if "est_unbilled_vnd_month" in n]


# --- prices ----------------------------------------------------------------------------


def test_a_window_no_tariff_covers_is_ranked_as_a_covered_one(
    covered: tuple[pl.DataFrame, list[str]], uncovered: tuple[pl.DataFrame, list[str]]
) -> None:
    now, then = covered[0], uncovered[0]
    assert now.height == then.height == 40
    for column in SAME:
        assert_series_equal(then[column], now[column])
    for column in DATED:
        assert_series_equal(then[column].str.replace_all(DATE, "D"),
                            now[column].str.replace_all(DATE, "D"))
    # the same sums in another order differ in the last bits only
    assert_series_equal(then["score"], now["score"], abs_tol=1e-9)
    assert_series_equal(then["est_unbilled_kwh_month"], now["est_unbilled_kwh_month"],
                        abs_tol=1e-6)
    assert (then["est_unbilled_kwh_month"] > 0).sum() >= 4  # energy is at stake: not priced


def test_its_value_is_empty_not_zero_and_one_note_says_why(
    uncovered: tuple[pl.DataFrame, list[str]],
) -> None:
    scored, notes = uncovered
    vnd = scored["est_unbilled_vnd_month"]
    assert vnd.dtype == pl.Float64
    assert vnd.null_count() == scored.height
    assert notes == _tariff_notes(notes)
    [note] = notes
    assert LAST_DAY_2013 in note
    assert "2024-10-11" in note  # where the table starts
    assert "AMI_TARIFFS" in note


def test_a_covered_window_is_priced_and_zero_only_where_nothing_is_at_stake(
    covered: tuple[pl.DataFrame, list[str]],
) -> None:
    scored, notes = covered
    assert _tariff_notes(notes) == []
    assert scored["est_unbilled_vnd_month"].null_count() == 0
    at_stake = scored.filter(pl.col("est_unbilled_kwh_month") > 0)
    assert at_stake.height >= 4
    assert (at_stake["est_unbilled_vnd_month"] > 0).all()
    nothing = scored.filter(pl.col("est_unbilled_kwh_month") == 0)
    assert nothing.height > 0
    assert (nothing["est_unbilled_vnd_month"] == 0).all()


def test_the_note_is_given_once_however_often_the_list_is_reused(
    province_2013: Province,
) -> None:
    notes: list[str] = []
    for _ in range(2):
        score_meters(province_2013.readings.lazy(), province_2013.meters, None,
                     settings=SETTINGS, notes=notes)
    assert len(_tariff_notes(notes)) == 1


def test_the_command_line_writes_the_file_and_prints_the_note_once(
    settings: Settings, province_2013: Province, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    readings, out = tmp_path / "readings_2013.parquet", tmp_path / "scores.csv"
    province_2013.readings.write_parquet(readings)
    code = main(["anomalies", "score", "--readings", str(readings), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    scores = pl.read_csv(out)
    assert scores.height == 44  # readings only: the total meters are ranked too
    assert scores["est_unbilled_vnd_month"].null_count() == scores.height
    assert scores["est_unbilled_kwh_month"].null_count() == 0
    assert printed.out.count("AMI_TARIFFS") == 1
    [line] = [x for x in printed.out.splitlines() if "AMI_TARIFFS" in x]
    assert line.startswith("Lưu ý / note: est_unbilled_vnd_month left empty")
    assert LAST_DAY_2013 in line
    assert printed.err == ""


def test_the_warehouse_scoring_writes_the_scores_and_returns_the_note(
    tmp_path: Path, province_2013: Province,
) -> None:
    settings = _silver(tmp_path, province_2013)
    notes: list[str] = []
    assert score_warehouse(settings=settings, notes=notes) == 40
    stored = Warehouse.at(settings.warehouse).read("anomaly_scores")
    assert stored.height == 40
    assert stored["est_unbilled_vnd_month"].null_count() == 40
    assert len(_tariff_notes(notes)) == 1
    assert LAST_DAY_2013 in notes[0]


# --- other optional enrichments ---------------------------------------------------------


def test_events_outside_the_window_leave_the_ranking_as_without_them(
    province: Province, covered: tuple[pl.DataFrame, list[str]],
) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    events = pl.DataFrame({"meter_id": ["M001", "M009"], "event_at": [old, old],
                           "event_code": ["cover_open", "magnetic_tamper"]})
    notes: list[str] = []
    scored = score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS,
                          events=events, notes=notes)
    assert_series_equal(scored["meter_id"], covered[0]["meter_id"])
    assert_series_equal(scored["score"], covered[0]["score"], abs_tol=1e-9)
    [note] = notes
    assert note.startswith("event evidence left out")
    assert "2026-01-16–2026-04-29" in note  # the scored local days


def test_events_in_the_window_give_no_note(province: Province) -> None:
    events = pl.DataFrame({"meter_id": ["M009"], "event_at": [AS_OF - timedelta(days=2)],
                           "event_code": ["cover_open"]})
    notes: list[str] = []
    scored = score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS,
                          events=events, notes=notes)
    assert notes == []
    assert "TAMPER" in scored.filter(pl.col("meter_id") == "M009")["reason_codes"][0]


def test_register_reads_without_day_energy_are_noted(province: Province) -> None:
    signals = compute_signals(province.readings.lazy(), province.meters, settings=SETTINGS)
    reads = pl.DataFrame({"meter_id": ["M001", "M001"],
                          "read_at": [AS_OF - timedelta(days=2), AS_OF - timedelta(days=1)],
                          "register_kwh_import": [100.0, 106.0]})
    notes: list[str] = []
    out = with_evidence(signals, settings=SETTINGS, registers=reads, notes=notes)
    assert out["register_gap_share_recent"].null_count() == out.height
    [note] = notes
    assert note.startswith("register evidence left out") and "meter_day" in note


def test_meters_the_table_does_not_list_are_ranked_and_noted(province: Province) -> None:
    listed = province.meters.filter(pl.col("meter_id") != "M030")
    notes: list[str] = []
    scored = score_meters(province.readings.lazy(), listed, None, settings=SETTINGS,
                          notes=notes)
    row = scored.filter(pl.col("meter_id") == "M030")
    assert row.height == 1
    assert row["customer_group"][0] is None
    assert row["est_unbilled_vnd_month"].null_count() == 0  # priced as a household
    [note] = notes
    assert note.startswith("1 scored meter(s) are not in the meters table (M030)")


def test_inspection_outcomes_outside_the_memory_are_noted(province: Province) -> None:
    long_ago = AS_OF - timedelta(days=400)
    labels = pl.DataFrame({"meter_id": ["M001", "M002", "M020"],
                           "inspected_at": [long_ago] * 3,
                           "outcome": ["theft", "theft", "no_issue"]})
    notes: list[str] = []
    scored = score_meters(province.readings.lazy(), province.meters, labels,
                          settings=SETTINGS, notes=notes)
    assert set(scored["model"]) == {"unsupervised"}
    [note] = notes
    assert "0 theft(s) and 0 other outcome(s)" in note and "180 days" in note


def test_a_topology_without_transformer_losses_is_noted(province: Province) -> None:
    customers = province.meters.filter(pl.col("meter_role") == "customer")
    readings = province.readings.filter(~pl.col("meter_id").str.starts_with("TT"))
    notes: list[str] = []
    scored = score_meters(readings.lazy(), customers, None, settings=SETTINGS, notes=notes)
    assert "LOSS_LINK" not in scored["reason_codes"].explode().to_list()
    [note] = notes
    assert note.startswith("LOSS_LINK left out")


def test_an_optional_source_with_a_missing_column_is_still_an_error(
    province: Province,
) -> None:
    events = pl.DataFrame({"meter_id": ["M001"], "event_code": ["cover_open"]})
    notes: list[str] = []
    with pytest.raises(InputError, match="event_at"):
        score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS,
                     events=events, notes=notes)
    assert notes == []
