"""Tests of the anomaly scorer on a synthetic province with known thefts and look-alikes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.metrics import roc_auc_score

from ami.errors import InputError, NoDataError
from ami.settings import Settings
from models.anomaly import OUTPUT_COLUMNS, AnomalyScorer, compute_signals, score_meters
from tests.models.anomaly_fixture import (
    AS_OF,
    ENERGY_THEFT_KINDS,
    FAULT_KINDS,
    LOOKALIKE_KINDS,
    THEFT_KINDS,
    Province,
    build_province,
    to_daily,
)

SETTINGS = Settings()


@pytest.fixture(scope="module")
def province() -> Province:
    return build_province()


@pytest.fixture(scope="module")
def customer_readings(province: Province) -> pl.DataFrame:
    return province.readings.filter(~pl.col("meter_id").str.starts_with("TT"))


@pytest.fixture(scope="module")
def scored(province: Province) -> pl.DataFrame:
    """Scores with topology; the kind of each meter added for the assertions."""
    out = score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS)
    return out.with_columns(kind=pl.col("meter_id").replace_strict(province.kinds))


def _with_kind(frame: pl.DataFrame, province: Province) -> pl.DataFrame:
    return frame.with_columns(kind=pl.col("meter_id").replace_strict(province.kinds))


def _auc(frame: pl.DataFrame, positives: tuple[str, ...]) -> float:
    labels = frame["kind"].is_in(positives).to_numpy()
    return float(roc_auc_score(labels, frame["score"].to_numpy()))


# --- ranking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "with_meters", [pytest.param(True, id="topology"), pytest.param(False, id="readings-only")]
)
def test_thefts_rank_above_faults_solar_and_lighting(
    province: Province, customer_readings: pl.DataFrame, with_meters: bool
) -> None:
    readings = province.readings if with_meters else customer_readings
    meters = province.meters if with_meters else None
    out = _with_kind(score_meters(readings.lazy(), meters, None, settings=SETTINGS), province)
    _assert_above(out, THEFT_KINDS, (*FAULT_KINDS, *LOOKALIKE_KINDS))
    assert _auc(out, THEFT_KINDS) >= 0.9


def _assert_above(out: pl.DataFrame, high: tuple[str, ...], low: tuple[str, ...]) -> None:
    """Every meter of the ``high`` kinds ranks above every meter of the ``low`` kinds."""
    worst = out.filter(pl.col("kind").is_in(high))["rank"].max()
    best = out.filter(pl.col("kind").is_in(low))["rank"].min()
    assert worst < best, out.select("kind", "rank", "score", "reason_codes").head(12)


def test_daily_resolution_still_finds_energy_thefts(
    province: Province, customer_readings: pl.DataFrame
) -> None:
    daily = to_daily(customer_readings)
    out = _with_kind(score_meters(daily.lazy(), province.meters, None, settings=SETTINGS), province)
    _assert_above(out, ENERGY_THEFT_KINDS, (*FAULT_KINDS, *LOOKALIKE_KINDS))
    assert _auc(out, ENERGY_THEFT_KINDS) >= 0.9
    # No intraday profile at daily resolution: shape and flatness signals are absent, not 0.
    signals = compute_signals(daily.lazy(), province.meters, settings=SETTINGS)
    assert signals["profile_corr"].null_count() == signals.height
    assert signals["cv_recent"].null_count() == signals.height


def test_resolution_is_inferred_when_not_given(customer_readings: pl.DataFrame) -> None:
    daily = to_daily(customer_readings).drop("interval_minutes")
    signals = compute_signals(daily.lazy(), None, settings=SETTINGS)
    assert set(signals["interval_minutes"].to_list()) == {1440}


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, id=k) for k in (*FAULT_KINDS, *LOOKALIKE_KINDS)],
)
def test_faults_and_lookalikes_stay_low(scored: pl.DataFrame, kind: str) -> None:
    row = scored.filter(pl.col("kind") == kind).row(0, named=True)
    assert row["score"] < 0.2
    assert row["rank"] > len(THEFT_KINDS)


@pytest.mark.parametrize(
    ("kind", "first_codes"),
    [
        pytest.param("bypass", {"ZERO", "DROP"}, id="full-bypass"),
        pytest.param("under", {"DROP"}, id="under-registration"),
        pytest.param("under_early", {"DROP"}, id="under-registration-early"),
        pytest.param("partial", {"PARTIAL_ZERO"}, id="partial-bypass"),
        pytest.param("flat", {"FLAT"}, id="flattened"),
        pytest.param("shift", {"SHAPE"}, id="time-shifted"),
    ],
)
def test_reasons_name_the_pattern(scored: pl.DataFrame, kind: str, first_codes: set[str]) -> None:
    """The whole history's change (or independent evidence) leads; the pattern is named."""
    row = scored.filter(pl.col("kind") == kind).row(0, named=True)
    assert row["reason_codes"][0] in {"CHANGE", "LOSS_LINK"}
    assert "CHANGE" in row["reason_codes"]
    assert first_codes & set(row["reason_codes"]), row["reason_codes"]
    assert row["reasons"].startswith(f"{row['reason_codes'][0]}: ")
    assert "CHANGE: Từ ngày " in row["reasons"]
    assert "CHANGE: Behaviour changed on " in row["reasons_en"]


def test_reason_text_is_vietnamese_with_evidence(scored: pl.DataFrame) -> None:
    row = scored.filter(pl.col("kind") == "under").row(0, named=True)
    pattern = r"DROP: Sản lượng giảm \d+ % so với lịch sử \(\d+,\d → \d+,\d kWh/ngày; cả nhóm: [+-]\d+ %\)"
    assert re.search(pattern, row["reasons"]), row["reasons"]
    assert re.search(
        r"DROP: Consumption fell \d+ % versus own history \(\d+\.\d → \d+\.\d kWh/day",
        row["reasons_en"],
    )


def test_solar_customer_is_explained_not_accused(scored: pl.DataFrame) -> None:
    row = scored.filter(pl.col("kind") == "solar_new").row(0, named=True)
    assert row["reason_codes"] == ["SOLAR"]
    assert "điện mặt trời" in row["reasons"]


# --- unbilled energy --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [pytest.param(k, id=k) for k in ("under", "bypass", "partial", "flat")]
)
def test_unbilled_estimate_tracks_the_truth(
    scored: pl.DataFrame, province: Province, kind: str
) -> None:
    row = scored.filter(pl.col("kind") == kind).row(0, named=True)
    truth_month = province.unbilled_kwh_day[row["meter_id"]] * 30.0
    assert truth_month > 0
    assert row["est_unbilled_kwh_month"] == pytest.approx(truth_month, rel=0.35)


def test_unbilled_estimate_is_zero_for_clean_and_lookalike_meters(scored: pl.DataFrame) -> None:
    others = scored.filter(~pl.col("kind").is_in(THEFT_KINDS))
    assert others["est_unbilled_kwh_month"].max() == pytest.approx(0.0, abs=1.0)
    # A time shift moves energy in time; it does not lose it.
    assert scored.filter(pl.col("kind") == "shift")["est_unbilled_kwh_month"][0] == 0.0


# --- output contract ----------------------------------------------------------------------


def test_output_contract(scored: pl.DataFrame, province: Province) -> None:
    out = scored.drop("kind")
    assert out.columns == list(OUTPUT_COLUMNS)
    assert out.schema["score"] == pl.Float64
    assert out.schema["rank"] == pl.Int64
    assert out.schema["reason_codes"] == pl.List(pl.String)
    assert out["meter_id"].is_unique().all()
    # Transformer total meters are not customers and are not scored.
    assert not out["meter_id"].str.starts_with("TT").any()
    assert out.height == sum(1 for m in province.kinds)
    assert out["score"].is_between(0.0, 1.0).all()
    assert (out["est_unbilled_kwh_month"] >= 0).all()
    assert out["rank"].to_list() == list(range(1, out.height + 1))
    # Ranks follow score, ties broken by meter_id.
    expected = out.sort(["score", "meter_id"], descending=[True, False])["meter_id"]
    assert out.sort("rank")["meter_id"].to_list() == expected.to_list()
    assert out.filter(pl.col("meter_id") == "M001")["customer_group"][0] == "residential"


def test_readings_only_has_no_customer_group(customer_readings: pl.DataFrame) -> None:
    out = score_meters(customer_readings.lazy(), None, None, settings=SETTINGS)
    assert out["customer_group"].null_count() == out.height


def test_same_seed_same_result(province: Province) -> None:
    first = score_meters(province.readings.lazy(), province.meters, None, settings=SETTINGS)
    second = score_meters(
        province.readings.lazy(),
        province.meters,
        None,
        settings=SETTINGS,
        scorer=AnomalyScorer(seed=0),
    )
    assert_frame_equal(first, second)


def test_window_ends_at_as_of(province: Province) -> None:
    # Two weeks earlier the thefts had not started: nothing to see yet.
    before = _with_kind(
        score_meters(
            province.readings.lazy(),
            province.meters,
            None,
            settings=SETTINGS,
            as_of=AS_OF - timedelta(days=14),
        ),
        province,
    )
    for kind in ("bypass", "partial", "flat", "shift", "under"):
        assert before.filter(pl.col("kind") == kind)["score"][0] < 0.2, kind


# --- signals ------------------------------------------------------------------------------


def test_duplicates_and_outages_do_not_distort_signals(province: Province) -> None:
    signals = _with_kind(
        compute_signals(province.readings.lazy(), province.meters, settings=SETTINGS), province
    )
    dup = signals.filter(pl.col("kind") == "dup").row(0, named=True)
    assert abs(dup["drop"]) < 0.15
    # The outage zeroed transformer T2 for six hours on one recent day: not a zero run.
    t2_clean = signals.filter((pl.col("transformer_id") == "T2") & (pl.col("kind") == "clean"))
    assert t2_clean.height > 0
    assert t2_clean["partial_days_recent"].max() == 0.0


def test_chunking_does_not_change_signals(
    province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = compute_signals(province.readings.lazy(), province.meters, settings=SETTINGS)
    monkeypatch.setattr("models.anomaly.signals.METERS_PER_CHUNK", 7)
    chunked = compute_signals(province.readings.lazy(), province.meters, settings=SETTINGS)
    assert_frame_equal(whole, chunked)


def test_data_faults_lower_confidence(province: Province) -> None:
    signals = _with_kind(
        compute_signals(province.readings.lazy(), province.meters, settings=SETTINGS), province
    )
    share = dict(zip(signals["kind"], signals["nonmeasured_share_recent"], strict=False))
    assert share["estimated"] > 0.1
    assert share["gaps"] > 0.1
    assert share["clean"] < 0.05


# --- labels -------------------------------------------------------------------------------


def test_inspected_clean_meter_drops_down(province: Province, scored: pl.DataFrame) -> None:
    target = scored.filter(pl.col("kind") == "under").row(0, named=True)
    labels = pl.DataFrame(
        {
            "meter_id": [target["meter_id"]],
            "inspected_at": [AS_OF - timedelta(days=3)],
            "outcome": ["no_issue"],
            "recovered_kwh": [0.0],
            "note": ["ok"],
        }
    )
    out = score_meters(province.readings.lazy(), province.meters, labels, settings=SETTINGS)
    row = out.filter(pl.col("meter_id") == target["meter_id"]).row(0, named=True)
    assert row["score"] < target["score"] * 0.5
    assert row["rank"] > target["rank"]
    assert "INSPECTED_OK" in row["reason_codes"]


def test_confirmed_thefts_give_their_pattern_weight(
    province: Province, scored: pl.DataFrame
) -> None:
    drop_meters = scored.filter(pl.col("kind").is_in(["under", "bypass"]))["meter_id"].to_list()
    labels = pl.DataFrame(
        {
            "meter_id": drop_meters,
            "inspected_at": [datetime(2025, 6, 1)] * len(drop_meters),
            "outcome": ["theft"] * len(drop_meters),
        }
    )
    out = score_meters(province.readings.lazy(), province.meters, labels, settings=SETTINGS)
    before = scored.filter(pl.col("kind") == "under_early")["score"][0]
    after = out.filter(
        pl.col("meter_id") == scored.filter(pl.col("kind") == "under_early")["meter_id"][0]
    )
    assert after["score"][0] > before


@pytest.mark.parametrize(
    "inspected_at",
    [
        pytest.param("2026-04-27", id="iso-date"),
        pytest.param("2026-04-27T08:00:00+07:00", id="iso-instant"),
    ],
)
def test_labels_read_from_csv_text(
    province: Province, scored: pl.DataFrame, inspected_at: str
) -> None:
    target = scored.filter(pl.col("kind") == "bypass").row(0, named=True)
    labels = pl.DataFrame(
        {"meter_id": [target["meter_id"]], "inspected_at": [inspected_at], "outcome": ["no_issue"]}
    )
    out = score_meters(province.readings.lazy(), province.meters, labels, settings=SETTINGS)
    row = out.filter(pl.col("meter_id") == target["meter_id"]).row(0, named=True)
    assert "INSPECTED_OK" in row["reason_codes"]
    assert "27/04/2026" in row["reasons"]


def test_unreadable_label_date_is_located(province: Province) -> None:
    labels = pl.DataFrame(
        {
            "meter_id": ["M001", "M002"],
            "inspected_at": ["2026-04-27", "27/04/2026"],
            "outcome": ["theft"] * 2,
        }
    )
    with pytest.raises(InputError) as info:
        score_meters(province.readings.lazy(), province.meters, labels, settings=SETTINGS)
    assert (info.value.row, info.value.column) == (2, "inspected_at")


def test_bad_label_outcome_is_located(province: Province) -> None:
    labels = pl.DataFrame(
        {
            "meter_id": ["M001", "M002"],
            "inspected_at": [AS_OF, AS_OF],
            "outcome": ["theft", "stolen"],
        }
    )
    with pytest.raises(InputError) as info:
        score_meters(province.readings.lazy(), province.meters, labels, settings=SETTINGS)
    assert info.value.row == 2
    assert info.value.column == "outcome"
    assert "no_issue" in str(info.value)


# --- errors -------------------------------------------------------------------------------


def test_empty_readings_say_what_to_do(customer_readings: pl.DataFrame) -> None:
    with pytest.raises(NoDataError, match="ami ingest"):
        score_meters(customer_readings.clear().lazy(), None, None, settings=SETTINGS)


def test_window_without_data_is_no_data(customer_readings: pl.DataFrame) -> None:
    with pytest.raises(NoDataError, match="as_of"):
        score_meters(
            customer_readings.lazy(), None, None, settings=SETTINGS, as_of=datetime(2020, 1, 1)
        )


@pytest.mark.parametrize(
    "column",
    [pytest.param(c, id=c) for c in ("meter_id", "interval_end", "kwh_import")],
)
def test_missing_column_is_named(customer_readings: pl.DataFrame, column: str) -> None:
    with pytest.raises(InputError) as info:
        score_meters(customer_readings.drop(column).lazy(), None, None, settings=SETTINGS)
    assert info.value.column == column
    assert column in str(info.value)
    assert info.value.fix


def test_text_timestamps_are_refused(customer_readings: pl.DataFrame) -> None:
    readings = customer_readings.with_columns(pl.col("interval_end").dt.to_string())
    with pytest.raises(InputError) as info:
        score_meters(readings.lazy(), None, None, settings=SETTINGS)
    assert info.value.column == "interval_end"
