"""Out-of-sample accuracy of the CalTRACK baseline (:mod:`models.savings.caltrack`) on real data.

Data: the 87 real London households of 2013 (``/work/shared/realdata/households.csv.gz``,
half-hourly, ``interval_end`` in UTC marking the END of the half hour; PROVENANCE.md).
Half-hours are summed to **local (Europe/London) days**; a day with ≥ 90 % of its
half-hours is scaled up by its coverage, a day with less is missing (CalTRACK 2.2.2.1).

Temperature: the data carry none and there is no network, so the temperature is a
**climate proxy, not observed weather**: London Heathrow's monthly mean temperatures
(climate normals, :data:`LONDON_NORMALS_C`) interpolated smoothly to days (periodic cubic
spline through mid-month). The model can therefore only learn a seasonal curve, not the
response to a cold or a mild week: the figures are a seasonal-normalisation error and
should be read as an upper bound on the error the baseline would have with observed
weather.

Design (one year of data only):

* Fit on 1 January – 30 September 2013, predict October – December. CalTRACK wants a
  365-day baseline; **its baseline-length disqualification**
  (``eemeter.sufficiency_criteria.incorrect_number_of_total_days``) **is ignored on
  purpose** for this evaluation, every other disqualification still applies.
* Holidays: England's (``country="GB", subdiv="ENG"``), so Christmas is predicted with the
  holiday factor learned on the baseline's bank holidays.
* Accuracy of monthly totals (each household's kWh in a month over its days with a
  reading): across households, CVRMSE = RMSE / mean actual and
  NMBE = Σ (predicted − actual) / Σ actual (positive: the baseline over-predicts, which
  would show as false savings); the same per month, pooled over the three months
  (overall) and for the aggregate of all households (their summed consumption).
* Naive comparator that one year allows: mean daily kWh of the last 28 baseline days ×
  the days in the month. The utilities' own method (same period last year) **cannot be
  evaluated on one year of data**.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.interpolate import CubicSpline

from models.savings.caltrack import (
    LENGTH_DQ,
    OK,
    fit_baseline,
    predict_baseline,
)

DEFAULT_PATH = Path("/work/shared/realdata/households.csv.gz")

#: London Heathrow monthly mean temperature, °C (approximate 1991–2020 climate normals).
LONDON_NORMALS_C = (5.2, 5.3, 7.6, 9.9, 13.3, 16.4, 18.7, 18.5, 15.7, 12.0, 8.0, 5.5)

PROXY_NOTE = (
    "Temperature is a CLIMATE PROXY, not observed weather: London Heathrow monthly "
    "normals interpolated to days. The figures are a seasonal-normalisation error, to be "
    "read as an upper bound on what observed weather would give (not verified here)."
)
LAST_YEAR_NOTE = (
    "The utilities' same-period-last-year method cannot be evaluated: the data hold one "
    "year (2013) only."
)
LENGTH_NOTE = (
    "Baseline = 1 Jan - 30 Sep 2013 (273 days): CalTRACK's 365-day baseline-length "
    f"disqualification ({LENGTH_DQ}) is ignored on purpose for this evaluation."
)

TIMEZONE = "Europe/London"
FIT_FIRST, FIT_LAST = date(2013, 1, 1), date(2013, 9, 30)
MONTHS = ("2013-10", "2013-11", "2013-12")
NAIVE_DAYS = 28


def climate_proxy(first: date, last: date, normals: Sequence[float] = LONDON_NORMALS_C,
                  ) -> pl.DataFrame:
    """``date, temp_c_mean`` from monthly normals: a periodic cubic spline through mid-month.

    A climate proxy, not observed weather (module docstring).
    """
    mid = np.array([(date(2001, m, 15) - date(2001, 1, 1)).days for m in range(1, 13)],
                   dtype=float)
    values = np.array(list(normals), dtype=float)
    spline = CubicSpline(np.append(mid, mid[0] + 365), np.append(values, values[0]),
                         bc_type="periodic")
    dates = pl.date_range(first, last, "1d", eager=True)
    doy = np.array([(day - date(day.year, 1, 1)).days for day in dates.to_list()], dtype=float)
    doy = np.where(doy < mid[0], doy + 365, doy)
    return pl.DataFrame({"date": dates, "temp_c_mean": spline(doy)})


def read_daily(path: Path | str, *, timezone: str = TIMEZONE,
               meters: int | None = None) -> pl.DataFrame:
    """Half-hourly readings (csv/csv.gz/parquet) → ``meter_id, date, kwh`` per local day.

    A reading belongs to the local day of its interval's start. A day with ≥ 90 % of its
    expected intervals (46/48/50 around clock changes) is scaled by its coverage; a day
    with less is left out. ``meters``: keep the first N meter ids (sorted).
    """
    path = Path(path)
    raw = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(
        path, infer_schema=False)
    frame = raw.select(
        pl.col("meter_id").cast(pl.String),
        pl.col("interval_end").cast(pl.String).str.to_datetime(time_zone="UTC"),
        pl.col("interval_minutes").cast(pl.Int64),
        pl.col("kwh_import").cast(pl.Float64),
    )
    if meters is not None:
        keep = sorted(frame["meter_id"].unique().to_list())[:meters]
        frame = frame.filter(pl.col("meter_id").is_in(keep))
    start = pl.col("interval_end") - pl.duration(minutes=pl.col("interval_minutes"))
    frame = frame.with_columns(start.dt.convert_time_zone(timezone).dt.date().alias("date"))
    daily = frame.group_by("meter_id", "date").agg(
        pl.col("kwh_import").sum().alias("kwh"),
        pl.col("interval_minutes").sum().alias("minutes"),
    )
    days = daily["date"].unique().sort()
    first, last = days.min(), days.max()
    grid = pl.DataFrame({"date": pl.date_range(first, last, "1d", eager=True)})  # type: ignore[arg-type]
    midnight = pl.col("date").cast(pl.Datetime("us")).dt.replace_time_zone(timezone)
    grid = grid.with_columns(
        ((midnight.dt.offset_by("1d") - midnight).dt.total_minutes()).alias("expected"))
    daily = daily.join(grid, on="date").with_columns(
        (pl.col("minutes") / pl.col("expected")).alias("coverage"))
    return (
        daily.filter(pl.col("coverage") >= 0.9)
        .select("meter_id", "date", (pl.col("kwh") / pl.col("coverage").clip(upper_bound=1.0))
                .alias("kwh"))
        .sort("meter_id", "date")
    )


#: opendsm developer settings for a model without season splits (nonstandard, diagnostic).
ONE_SEASON = {"developer_mode": True, "split_selection": {
    "allow_separate_summer": False, "allow_separate_shoulder": False,
    "allow_separate_winter": False}}

ONE_SEASON_NOTE = (
    "'one season' = the same opendsm model with season splits disallowed (developer "
    "settings: NONSTANDARD, not CalTRACK), shown as a diagnostic: with a climate proxy "
    "each season has an almost constant temperature, so CalTRACK's separate season models "
    "are fitted on a narrow temperature range (winter: Jan-Feb only, ~5-6 C) and "
    "extrapolate badly to Nov-Dec."
)

LABELS = {"caltrack": "CalTRACK", "one_season": "one season", "naive": "naive 28 d"}


def _accuracy(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """CVRMSE and NMBE (fractions) of predicted vs actual totals."""
    error = predicted - actual
    return {
        "cvrmse": float(np.sqrt(np.mean(error**2)) / np.mean(actual)),
        "nmbe": float(error.sum() / actual.sum()),
        "n": float(len(actual)),
    }


def evaluate_real(path: Path | str = DEFAULT_PATH, *, households: int | None = None,
                  timezone: str = TIMEZONE, country: str = "GB",
                  subdiv: str | None = "ENG", one_season: bool = True) -> dict[str, Any]:
    """Fit Jan–Sep 2013, predict Oct–Dec, per household; accuracy of monthly totals.

    Returns ``{"households", "fitted", "insufficient", "fit_seconds_per_meter",
    "methods", "months": {month: {method: {...}}}, "overall": {method: {...}},
    "notes": [...]}``. Per method (``caltrack``; ``one_season`` when asked, a nonstandard
    diagnostic; ``naive``): ``cvrmse``, ``nmbe``, ``n`` of the household monthly totals,
    and ``aggregate``: the relative error of the all-household total of the month (in
    ``overall``: ``aggregate_cvrmse``/``aggregate_nmbe`` of the three monthly totals).
    Households are compared on those whose CalTRACK baseline is ``ok`` (the same set for
    every method). The temperature is a climate proxy (:data:`PROXY_NOTE`).
    """
    daily = read_daily(path, timezone=timezone, meters=households)
    temperature = climate_proxy(date(2013, 1, 1), date(2013, 12, 31))
    methods = ["caltrack", *(["one_season"] if one_season else []), "naive"]
    settings: dict[str, dict[str, Any] | None] = {"caltrack": None, "one_season": ONE_SEASON}
    rows: list[dict[str, Any]] = []
    insufficient: dict[str, list[str]] = {}
    seconds: list[float] = []
    for (meter,), own in daily.group_by("meter_id", maintain_order=True):
        base = own.filter(pl.col("date").is_between(FIT_FIRST, FIT_LAST))
        reporting = own.filter(pl.col("date") > FIT_LAST)
        predicted: dict[str, pl.DataFrame] = {}
        for method in methods[:-1]:
            started = time.perf_counter()
            fit = fit_baseline(str(meter), base.select("date", "kwh"), temperature,
                               timezone=timezone, country=country, subdiv=subdiv,
                               period=(FIT_FIRST, FIT_LAST), ignore=(LENGTH_DQ,),
                               model_settings=settings[method])
            if method == "caltrack":
                seconds.append(time.perf_counter() - started)
            if fit.verdict != OK:
                insufficient[f"{meter} ({LABELS[method]})"] = list(fit.reasons)
                break
            predicted[method] = predict_baseline(
                fit, reporting["date"], temperature, timezone=timezone, country=country,
                subdiv=subdiv).rename({"baseline_kwh": method})
        if len(predicted) < len(methods) - 1:
            continue
        recent = base.filter(pl.col("date") > FIT_LAST - timedelta(days=NAIVE_DAYS))
        naive_daily = float(recent["kwh"].mean())  # type: ignore[arg-type]
        joined = reporting
        for frame in predicted.values():
            joined = joined.join(frame, on="date")
        joined = joined.drop_nulls().with_columns(pl.lit(naive_daily).alias("naive"))
        rows.extend(
            joined.group_by(pl.col("date").dt.strftime("%Y-%m").alias("month"))
            .agg(pl.col("kwh").sum().alias("actual"), *(pl.col(m).sum() for m in methods))
            .with_columns(pl.lit(str(meter)).alias("meter_id"))
            .to_dicts())
    schema = {"meter_id": pl.String, "month": pl.String, "actual": pl.Float64,
              **dict.fromkeys(methods, pl.Float64)}
    table = pl.DataFrame(rows, schema=schema)
    result: dict[str, Any] = {
        "households": daily["meter_id"].n_unique(),
        "fitted": table["meter_id"].n_unique(),
        "insufficient": insufficient,
        "fit_seconds_per_meter": float(np.mean(seconds)) if seconds else float("nan"),
        "methods": methods,
        "months": {},
        "notes": [PROXY_NOTE, LENGTH_NOTE, LAST_YEAR_NOTE,
                  *([ONE_SEASON_NOTE] if one_season else [])],
    }
    for month in MONTHS:
        part = table.filter(pl.col("month") == month)
        actual = part["actual"].to_numpy()
        result["months"][month] = {
            method: _accuracy(part[method].to_numpy(), actual)
            | {"aggregate": (part[method].sum() - actual.sum()) / actual.sum()}
            for method in methods
        }
    totals = table.group_by("month").agg(pl.col("actual", *methods).sum())
    result["overall"] = {}
    for method in methods:
        aggregate = _accuracy(totals[method].to_numpy(), totals["actual"].to_numpy())
        result["overall"][method] = _accuracy(
            table[method].to_numpy(), table["actual"].to_numpy()) | {
            "aggregate_cvrmse": aggregate["cvrmse"], "aggregate_nmbe": aggregate["nmbe"]}
    return result


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as a plain-text table, with its caveats."""
    methods = result["methods"]
    lines = [
        "CalTRACK daily baseline (opendsm) - out of sample on real London households, 2013",
        f"households: {result['households']}, compared: {result['fitted']}, "
        f"insufficient: {len(result['insufficient'])}, "
        f"fit time: {result['fit_seconds_per_meter']:.2f} s/meter (CalTRACK fit)",
        "fit 1 Jan-30 Sep, predict Oct-Dec. Household monthly totals: CVRMSE across "
        "households, NMBE = sum(pred - actual)/sum(actual);",
        "'all' = error of the total of all compared households (overall: CVRMSE / NMBE "
        "of its three monthly totals).",
        "",
        f"{'period':<8}" + "".join(f" | {LABELS[m]:^29}" for m in methods),
        f"{'':<8}" + " | {:>9} {:>8} {:>10}".format("CVRMSE", "NMBE", "all") * len(methods),
    ]
    for period, block in [*result["months"].items(), ("overall", result["overall"])]:
        cells = []
        for method in methods:
            figures = block[method]
            if period == "overall":
                whole = (f"{figures['aggregate_cvrmse']:.1%}/"
                         f"{figures['aggregate_nmbe']:+.1%}")
            else:
                whole = f"{figures['aggregate']:+.1%}"
            cells.append(f" | {figures['cvrmse']:>9.1%} {figures['nmbe']:>+8.1%} {whole:>10}")
        lines.append(f"{period:<8}" + "".join(cells))
    lines.append("")
    lines.extend(f"* {note}" for note in result["notes"])
    if result["insufficient"]:
        lines.append("* insufficient baselines (left out): " + "; ".join(
            f"{meter}: {', '.join(reasons)}"
            for meter, reasons in result["insufficient"].items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the evaluation table (``python -m models.savings.evaluate_caltrack``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--households", type=int, default=None,
                        help="first N households only (default: all)")
    args = parser.parse_args(argv)
    print(format_table(evaluate_real(args.path, households=args.households)))


if __name__ == "__main__":
    main()
