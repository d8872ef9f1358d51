"""The CalTRACK baseline wrapper (opendsm): known savings recovered, sufficiency, Tết.

Synthetic meters of Lạng Sơn (Asia/Ho_Chi_Minh): a known heating/cooling response to the
daily temperature, more on weekends, 0.6 × on public holidays and the Tết window, 3 %
noise; the reporting month (May 2026) is cut by exactly 8 %. The fits are shared by the
module (an opendsm fit costs seconds).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.savings.caltrack import (
    INSUFFICIENT,
    LENGTH_DQ,
    OK,
    TET_WINDOW,
    MeterBaseline,
    fit_baseline,
    fit_key,
    group_savings_normalised,
    holiday_dates,
    predict_baseline,
)
from models.savings.evaluate_caltrack import PROXY_NOTE, evaluate_real, format_table

TZ = "Asia/Ho_Chi_Minh"
FIRST, LAST = date(2025, 1, 1), date(2026, 5, 31)
MONTH = "2026-05"
CUT = 0.08
HOLIDAY = 0.6
REAL_FILE = Path(__file__).parents[1] / "data" / "realdata" / "households.parquet"


def _temperature(seed: int = 1) -> pl.DataFrame:
    """Lạng Sơn-like daily means: ~14 °C in January, ~29 °C in July, ±2.5 °C weather."""
    rng = np.random.default_rng(seed)
    days = pl.date_range(FIRST, LAST, "1d", eager=True)
    doy = np.array([d.timetuple().tm_yday for d in days.to_list()], dtype=float)
    weather = np.convolve(rng.normal(0, 2.5, len(doy) + 2), np.ones(3) / math.sqrt(3),
                          mode="valid")
    return pl.DataFrame({"date": days,
                         "temp_c_mean": 21.5 - 7.5 * np.cos(2 * np.pi * (doy - 15) / 365.25)
                         + weather})


def _truth(temp_c: np.ndarray, days: list[date], *, base: float, heat: float,
           cool: float) -> np.ndarray:
    off = holiday_dates({d.year for d in days})
    kwh = base + cool * np.maximum(0.0, temp_c - 24) + heat * np.maximum(0.0, 16 - temp_c)
    weekend = np.array([d.weekday() >= 5 for d in days])
    holiday = np.array([d in off for d in days])
    return kwh * np.where(weekend, 1.1, 1.0) * np.where(holiday, HOLIDAY, 1.0)


METERS = {"h1": (8.0, 0.5, 0.9), "h2": (12.0, 0.3, 1.4), "h3": (6.0, 0.6, 0.7)}


def _meter_days(temperature: pl.DataFrame, *, seed: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = temperature["date"].to_list()
    temp_c = temperature["temp_c_mean"].to_numpy()
    in_month = np.array([d >= date(2026, 5, 1) for d in days])
    frames = []
    for meter, (base, heat, cool) in METERS.items():
        kwh = _truth(temp_c, days, base=base, heat=heat, cool=cool)
        kwh = kwh * rng.normal(1.0, 0.03, len(days)) * np.where(in_month, 1 - CUT, 1.0)
        frames.append(pl.DataFrame({"meter_id": meter, "date": days, "kwh_import": kwh}))
    return pl.concat(frames)


GROUPS = pl.DataFrame({"meter_id": ["h1", "h2", "h3"],
                       "customer_group": ["households"] * 3})


@pytest.fixture(scope="module")
def synthetic() -> tuple[pl.DataFrame, pl.DataFrame]:
    temperature = _temperature()
    return temperature, _meter_days(temperature)


@pytest.fixture(scope="module")
def month_result(synthetic: tuple[pl.DataFrame, pl.DataFrame],
                 ) -> tuple[pl.DataFrame, dict[str, MeterBaseline]]:
    temperature, meter_days = synthetic
    return group_savings_normalised(meter_days, temperature, GROUPS, month=MONTH, timezone=TZ,
                                    sample_per_group=2, seed=0)


def test_known_cut_recovered_within_one_point(month_result) -> None:
    frame, fits = month_result
    row = frame.row(0, named=True)
    assert row["verdict"] == OK, row
    assert (row["meters"], row["meters_sampled"], row["meters_fitted"]) == (3, 2, 2)
    assert row["period"] == MONTH
    assert abs(row["savings_pct"] - 100 * CUT) <= 1.0, row
    assert row["savings_pct"] == pytest.approx(
        100 * (row["baseline_kwh"] - row["consumption_kwh"]) / row["baseline_kwh"])
    assert set(fits) == {fit_key(m, 2025) for m in ("h1", "h2", "h3")} & set(fits)
    assert len(fits) == 2
    for fit in fits.values():
        assert fit.verdict == OK and fit.reasons == ()
        assert fit.cvrmse is not None and fit.cvrmse < 0.1


def test_cached_fits_are_reused_not_refitted(synthetic, month_result) -> None:
    temperature, meter_days = synthetic
    _, fits = month_result
    poisoned = {key: MeterBaseline(fit.meter_id, INSUFFICIENT, ("cached",), None, 1.0, None,
                                   None) for key, fit in fits.items()}
    again, kept = group_savings_normalised(meter_days, temperature, GROUPS, month=MONTH,
                                           timezone=TZ, sample_per_group=2, seed=0,
                                           fits=poisoned)
    row = again.row(0, named=True)
    assert row["verdict"] == INSUFFICIENT and row["savings_pct"] is None
    assert "cached" in row["reasons"]
    assert kept == poisoned


def test_sample_is_deterministic_and_seeded(synthetic, month_result) -> None:
    from models.savings.caltrack import sample_meters
    ids = [f"m{i:03d}" for i in range(100)]
    assert sample_meters(ids, "households", size=10, seed=0) == \
        sample_meters(list(reversed(ids)), "households", size=10, seed=0)
    assert sample_meters(ids, "households", size=10, seed=0) != \
        sample_meters(ids, "households", size=10, seed=1)
    assert sample_meters(ids[:5], "households", size=10, seed=0) == ids[:5]


def test_tet_excluded_from_fit_and_holiday_factor_learned(synthetic, month_result) -> None:
    temperature, _ = synthetic
    _, fits = month_result
    tet = date(2025, 1, 29)
    off = holiday_dates([2025])
    window = {tet + timedelta(days=k) for k in range(TET_WINDOW[0], TET_WINDOW[1] + 1)}
    assert window <= off
    assert date(2025, 1, 25) in off and date(2025, 9, 2) in off and date(2025, 3, 3) not in off
    in_2025 = {d for d in off if d.year == 2025}
    fit = next(iter(fits.values()))
    metrics = MeterBaseline.from_json(fit.to_json())
    import json
    n_fitted = json.loads(metrics.model_json or "{}")["info"]["metrics"]["n"]
    assert n_fitted == 365 - len(in_2025)  # every holiday left out of the fit
    assert fit.holiday_factor == pytest.approx(HOLIDAY, abs=0.05)
    # a Tết day is predicted at the holiday level, the same weekday a week later is not
    pair = [tet, tet + timedelta(days=14)]
    predicted = predict_baseline(fit, pair, temperature, timezone=TZ)["baseline_kwh"].to_list()
    base, heat, cool = METERS[fit.meter_id]
    temp = dict(zip(temperature["date"].to_list(), temperature["temp_c_mean"].to_numpy(),
                    strict=True))
    truth = _truth(np.array([temp[d] for d in pair]), pair, base=base, heat=heat, cool=cool)
    assert predicted[0] == pytest.approx(truth[0], rel=0.08)
    assert predicted[1] == pytest.approx(truth[1], rel=0.08)


def test_json_round_trip(synthetic, month_result) -> None:
    temperature, _ = synthetic
    _, fits = month_result
    fit = next(iter(fits.values()))
    back = MeterBaseline.from_json(fit.to_json())
    assert back == fit
    dates = pl.date_range(date(2026, 5, 1), date(2026, 5, 31), "1d", eager=True)
    assert predict_baseline(back, dates, temperature, timezone=TZ).equals(
        predict_baseline(fit, dates, temperature, timezone=TZ))


def test_200_day_baseline_is_insufficient_and_gives_no_number(synthetic) -> None:
    temperature, meter_days = synthetic
    short = meter_days.filter((pl.col("meter_id") == "h1")
                              & pl.col("date").is_between(date(2025, 6, 15), date(2025, 12, 31)))
    assert short.height == 200
    fit = fit_baseline("h1", short.rename({"kwh_import": "kwh"}).drop("meter_id"),
                       temperature, timezone=TZ)
    assert fit.verdict == INSUFFICIENT and LENGTH_DQ in fit.reasons
    assert fit.model_json is None
    out = predict_baseline(fit, [date(2026, 5, 4)], temperature, timezone=TZ)
    assert out["baseline_kwh"].to_list() == [None]
    # the same meter in a group: the whole year is the requested baseline period
    rest = meter_days.filter((pl.col("meter_id") != "h1") | (pl.col("date") > date(2025, 12, 31)))
    frame, fits = group_savings_normalised(
        pl.concat([short, rest]), temperature,
        pl.DataFrame({"meter_id": ["h1"], "customer_group": ["offices"]}),
        month=MONTH, timezone=TZ)
    row = frame.row(0, named=True)
    assert row["verdict"] == INSUFFICIENT
    assert row["savings_pct"] is None and row["baseline_kwh"] is None
    assert row["meters_fitted"] == 0
    assert "eemeter.sufficiency_criteria.too_many_days_with_missing_observed_data" in row["reasons"]
    assert fits[fit_key("h1", 2025)].verdict == INSUFFICIENT


def test_reporting_month_missing_half_its_temperature_is_insufficient(synthetic) -> None:
    temperature, meter_days = synthetic
    holed = temperature.filter(~(pl.col("date").is_between(date(2026, 5, 1), date(2026, 5, 31))
                                 & (pl.col("date").dt.day() % 2 == 0)))
    frame, fits = group_savings_normalised(meter_days, holed, GROUPS, month=MONTH, timezone=TZ)
    row = frame.row(0, named=True)
    assert row["verdict"] == INSUFFICIENT and row["savings_pct"] is None
    assert "eemeter.sufficiency_criteria.too_many_days_with_missing_temperature_data" \
        in row["reasons"]
    assert fits == {}


def test_a_date_without_temperature_is_a_clear_error(synthetic, month_result) -> None:
    temperature, _ = synthetic
    _, fits = month_result
    fit = next(iter(fits.values()))
    with pytest.raises(ValueError, match=r"no temperature for 1 date\(s\): 2030-01-01"):
        predict_baseline(fit, [date(2026, 5, 1), date(2030, 1, 1)], temperature, timezone=TZ)
    nulled = temperature.with_columns(
        pl.when(pl.col("date") == date(2026, 5, 2)).then(None)
        .otherwise(pl.col("temp_c_mean")).alias("temp_c_mean"))
    out = predict_baseline(fit, [date(2026, 5, 1), date(2026, 5, 2)], nulled, timezone=TZ)
    values = out["baseline_kwh"].to_list()
    assert values[0] is not None and values[1] is None


def test_real_data_evaluation_on_four_households() -> None:
    result = evaluate_real(REAL_FILE, households=4, one_season=False)
    assert result["households"] == 4 and result["fitted"] >= 3
    for block in [*result["months"].values(), result["overall"]]:
        for method in ("caltrack", "naive"):
            assert math.isfinite(block[method]["cvrmse"]) and block[method]["cvrmse"] > 0
            assert math.isfinite(block[method]["nmbe"])
    table = format_table(result)
    assert PROXY_NOTE in table
    assert "CLIMATE PROXY, not observed weather" in table
    assert "cannot be evaluated" in table
    assert "ignored on purpose" in table
