"""Weather-normalised savings baseline: LF Energy's opendsm (CalTRACK daily model), wrapped.

CalTRACK itself is not re-implemented here. ``opendsm.eemeter`` fits the daily model
(heating/cooling degree-day response with balance points, weekday/weekend and season
splits), checks data sufficiency and computes the fit metrics. This module only adds what
opendsm lacks for a Vietnamese utility:

* **°C in, °F to opendsm.** Our ``temperature*`` files carry ``temp_c_mean`` (daily mean,
  °C); opendsm's daily model expects °F, so temperatures are converted on the way in.
* **Local days.** Our days are local dates (``timezone``, Asia/Ho_Chi_Minh in production;
  the real development data is Europe/London). Each date becomes a local-midnight
  timestamp in that zone; a model predicts only in the zone it was fitted in.
* **Public holidays and Tết — a departure from CalTRACK.** CalTRACK's daily model knows
  weekday/weekend and season but not holidays, and Tết moves a whole week of consumption.
  Holiday days (the ``holidays`` package's calendar for ``country``, in Vietnam united
  with our own :func:`ami.calendar.holidays`, plus the Tết window :data:`TET_WINDOW`
  around the first day of the lunar year) are **left out of the fit**. A single
  **holiday factor** is learned on the baseline's holiday days: Σ actual / Σ predicted
  (1.0 when the baseline has none), and holiday days are predicted as the model's
  prediction × that factor. Data sufficiency is judged on all baseline days (a holiday
  with a reading is not a missing day).
* **A verdict per meter.** ``"ok"`` or ``"insufficient_data"`` with the reasons: the
  qualified names of opendsm's disqualifications (e.g.
  ``eemeter.sufficiency_criteria.incorrect_number_of_total_days`` when the baseline is not
  ~365 days, ``...too_many_days_with_missing_observed_data`` below 90 % coverage,
  ``eemeter.model_fit_metrics`` when the fit is too poor). Never a number from
  insufficient data: predictions of a meter that is not ``ok`` are null.
* **Reporting-month temperature sufficiency.** A reporting month whose temperature misses
  more days than CalTRACK allows (opendsm's reporting criteria over the whole calendar
  month) makes the month ``insufficient_data``.
* **Sampling and a ratio estimator.** An opendsm fit costs about a second per meter, so
  :func:`group_savings_normalised` fits up to ``sample_per_group`` meters per customer
  group (a seeded, deterministic sample) and reports
  savings % = 100 × Σ_sample (baseline − actual) / Σ_sample baseline.

Baseline period (our convention, documented because CalTRACK's is "the 365 days
immediately before the intervention"): the plan's savings are counted against last year,
so the baseline of a reporting month is **the previous calendar year** (1 January – 31
December of year − 1). A fit is therefore keyed by meter and baseline year
(:func:`fit_key`) and can be cached across the months of a year.

opendsm's warnings and log lines are silenced (:func:`_quiet`); the information they carry
is returned as reasons instead.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import holidays as holidays_pkg
import numpy as np
import pandas as pd
import polars as pl

from ami import calendar as ami_calendar

OK = "ok"
INSUFFICIENT = "insufficient_data"

#: Days around the first day of the lunar year (Tết Nguyên Đán) treated as holidays:
#: from 4 days before to 5 days after, which covers the official Tết break with its
#: weekends (e.g. 25 Jan – 2 Feb 2025, 14 – 22 Feb 2026).
TET_WINDOW = (-4, 5)

#: The model-level disqualification opendsm adds when a fit is too poor (CVRMSE/PNRMSE).
MODEL_FIT_DQ = "eemeter.model_fit_metrics"

#: opendsm's baseline-length disqualification (baseline not within ~329–366 days).
LENGTH_DQ = "eemeter.sufficiency_criteria.incorrect_number_of_total_days"

#: Reason for a group in which no sampled meter has a usable baseline.
NO_FITTED_METER = "savings.no_sampled_meter_with_sufficient_baseline"
#: Reason for a group whose fitted meters have no reading (with a baseline) in the month.
NO_READINGS = "savings.no_reporting_readings_with_baseline"

MONTH_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "customer_group": pl.String, "period": pl.String, "meters": pl.Int64,
    "meters_sampled": pl.Int64, "meters_fitted": pl.Int64, "consumption_kwh": pl.Float64,
    "baseline_kwh": pl.Float64, "savings_pct": pl.Float64, "verdict": pl.String,
    "reasons": pl.List(pl.String),
}


@dataclass(frozen=True)
class MeterBaseline:
    """One meter's fitted baseline; every field is JSON-able (see :meth:`to_json`).

    ``model_json`` is ``DailyModel.to_json()`` (``None`` when no model was fitted because
    the data were insufficient). ``holiday_factor`` is Σ actual / Σ predicted on the
    baseline's holiday days (1.0 when none). ``cvrmse`` (opendsm's ``cvrmse_adj``) and
    ``nmbe`` are the in-sample fit metrics on the non-holiday baseline days; they are kept
    for a model disqualified for a poor fit as the explanation, but such a meter never
    yields a prediction.
    """

    meter_id: str
    verdict: str
    reasons: tuple[str, ...]
    model_json: str | None
    holiday_factor: float
    cvrmse: float | None
    nmbe: float | None

    def to_json(self) -> str:
        """The baseline as a JSON object."""
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> MeterBaseline:
        """The baseline written by :meth:`to_json`."""
        data = json.loads(text)
        data["reasons"] = tuple(data["reasons"])
        return cls(**data)


def fit_key(meter_id: str, baseline_year: int) -> str:
    """The cache key of a meter's fit on a baseline year (keys of the ``fits`` dict)."""
    return f"{meter_id}@{baseline_year}"


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence opendsm: its log lines (logger ``eemeter``), Python warnings and prints."""
    logger = logging.getLogger("eemeter")
    previous = logger.disabled
    logger.disabled = True
    try:
        with (warnings.catch_warnings(), np.errstate(all="ignore"),
              redirect_stdout(io.StringIO())):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = previous


def holiday_dates(years: Iterable[int], *, country: str = "VN",
                  subdiv: str | None = None) -> set[date]:
    """Holidays of ``years``: the ``holidays`` package for ``country`` (and ``subdiv``).

    For Vietnam the package's calendar is united with our own :func:`ami.calendar.holidays`
    and with the Tết window :data:`TET_WINDOW` around every first day of the lunar year.
    """
    years = sorted(set(years))
    days: set[date] = set()
    if not years:
        return days
    calendar = holidays_pkg.country_holidays(country, subdiv=subdiv, years=years)
    days |= set(calendar.keys())
    if country.upper() in ("VN", "VNM"):
        tet_days = {day for day, name in calendar.items() if name == "Lunar New Year"}
        for year in years:
            days |= ami_calendar.holidays(year)
            if year in ami_calendar.TET:
                tet_days.add(ami_calendar.TET[year])
        before, after = TET_WINDOW
        for tet in tet_days:
            days |= {tet + timedelta(days=k) for k in range(before, after + 1)}
    return days


def _holidays_between(first: date, last: date, *, country: str,
                      subdiv: str | None) -> set[date]:
    days = holiday_dates(range(first.year - 1, last.year + 2), country=country,
                         subdiv=subdiv)
    return {day for day in days if first <= day <= last}


def _index(first: date, last: date, timezone: str) -> pd.DatetimeIndex:
    """Local midnights of every day from ``first`` to ``last`` in ``timezone``."""
    naive = pd.date_range(first.isoformat(), last.isoformat(), freq="D")
    return naive.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")


def _grid(first: date, last: date) -> pl.DataFrame:
    return pl.DataFrame({"date": pl.date_range(first, last, "1d", eager=True)})


def _temperature_f(temperature: pl.DataFrame) -> pl.DataFrame:
    """``date, temp_f`` (°F) from our ``date, temp_c_mean`` (°C), one row per date."""
    missing = {"date", "temp_c_mean"} - set(temperature.columns)
    if missing:
        raise ValueError(f"temperature lacks columns {sorted(missing)}")
    return (
        temperature.select(pl.col("date").cast(pl.Date),
                           (pl.col("temp_c_mean").cast(pl.Float64) * 9 / 5 + 32)
                           .alias("temp_f"))
        .group_by("date").agg(pl.col("temp_f").mean())
    )


def _pandas(frame: pl.DataFrame, timezone: str, *, observed: bool) -> pd.DataFrame:
    """A contiguous daily ``frame`` (date, temp_f[, kwh]) as opendsm's input frame."""
    first, last = frame["date"][0], frame["date"][-1]
    data = {"temperature": frame["temp_f"].to_numpy().astype(float)}
    if observed:
        data["observed"] = frame["kwh"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return pd.DataFrame(data, index=_index(first, last, timezone))


def _sufficiency(first: date, last: date, timezone: str) -> dict[str, Any]:
    """Settings making opendsm's sufficiency count over the whole requested period."""
    index = _index(first, last, timezone)
    return {"sufficiency": {"requested_start": index[0], "requested_end": index[-1]}}


def _names(items: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(item.qualified_name for item in items))


def _insufficient(meter_id: str, reasons: Iterable[str]) -> MeterBaseline:
    return MeterBaseline(meter_id, INSUFFICIENT, tuple(reasons), None, 1.0, None, None)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def fit_baseline(meter_id: str, days: pl.DataFrame, temperature: pl.DataFrame, *,
                 timezone: str, country: str = "VN", subdiv: str | None = None,
                 period: tuple[date, date] | None = None,
                 ignore: Iterable[str] = (),
                 model_settings: dict[str, Any] | None = None) -> MeterBaseline:
    """Fit opendsm's CalTRACK daily model on one meter's baseline days.

    ``days``: ``date`` (local dates), ``kwh`` — the baseline days; ``temperature``:
    ``date, temp_c_mean`` (°C). ``period`` (first, last) is the requested baseline period
    (default: the first to the last date of ``days``); days of it without a reading count
    as missing. Sufficiency is opendsm's (``DailyBaselineData``: ~365 days, ≥ 90 % of
    days with reading and temperature, monthly temperature coverage); the qualified names
    of the disqualifications are the reasons of an ``insufficient_data`` verdict.
    ``ignore`` lists disqualifications to overlook on purpose (the evaluation on one year
    of data ignores :data:`LENGTH_DQ`); nothing is ignored by default.
    ``model_settings`` go to ``DailyModel(settings=...)``; the default (``None``) is
    opendsm's standard CalTRACK-compliant model, anything else is nonstandard (opendsm's
    developer mode) and must be said so wherever its figures are used.

    Holidays (``country``/``subdiv``, see :func:`holiday_dates`) are left out of the fit
    and give the holiday factor — a departure from CalTRACK (module docstring).
    """
    missing = {"date", "kwh"} - set(days.columns)
    if missing:
        raise ValueError(f"days lacks columns {sorted(missing)}")
    days = days.select(pl.col("date").cast(pl.Date), pl.col("kwh").cast(pl.Float64))
    if period is None:
        if days.filter(pl.col("kwh").is_not_null()).is_empty():
            return _insufficient(meter_id, ["eemeter.sufficiency_criteria.no_data"])
        dated = days.filter(pl.col("kwh").is_not_null())["date"]
        period = (dated.min(), dated.max())  # type: ignore[assignment]
    first, last = period  # type: ignore[misc]
    frame = (
        _grid(first, last)
        .join(days.drop_nulls("kwh").group_by("date").agg(pl.col("kwh").sum()), on="date",
              how="left")
        .join(_temperature_f(temperature), on="date", how="left")
        .sort("date")
    )
    if frame.filter(pl.col("kwh").is_not_null() & pl.col("temp_f").is_not_null()).is_empty():
        return _insufficient(meter_id, ["eemeter.sufficiency_criteria.no_data"])
    skip = set(ignore)

    from opendsm.eemeter import DailyBaselineData, DailyModel, DailyReportingData

    settings = _sufficiency(first, last, timezone)
    with _quiet():
        full = DailyBaselineData(_pandas(frame, timezone, observed=True),
                                 is_electricity_data=True, settings=settings)
        reasons = [name for name in _names(full.disqualification) if name not in skip]
        if reasons:
            return _insufficient(meter_id, reasons)

        off = _holidays_between(first, last, country=country, subdiv=subdiv)
        is_off = pl.col("date").is_in(sorted(off))
        masked = frame.with_columns(pl.when(is_off).then(None).otherwise(pl.col("kwh"))
                                    .alias("kwh"))
        fit_data = DailyBaselineData(_pandas(masked, timezone, observed=True),
                                     is_electricity_data=True, settings=settings)
        data_dq = len(fit_data.disqualification)  # the model appends its own to this list
        model = DailyModel(settings=model_settings).fit(fit_data,
                                                        ignore_disqualification=True)
        fit_reasons = [name for name in _names(model.disqualification[data_dq:])
                       if name not in skip]

        # Holiday factor: actual / predicted on the baseline's holiday days with a reading.
        factor = 1.0
        hol = frame.filter(is_off & pl.col("kwh").is_not_null() & (pl.col("kwh") > 0)
                           & pl.col("temp_f").is_not_null())
        if not hol.is_empty():
            reporting = DailyReportingData(_pandas(frame, timezone, observed=False),
                                           is_electricity_data=True)
            predicted = model.predict(reporting, ignore_disqualification=True)["predicted"]
            by_day = dict(zip(frame["date"].to_list(), predicted.to_numpy(), strict=True))
            pred = np.array([by_day[day] for day in hol["date"].to_list()], dtype=float)
            actual = hol["kwh"].to_numpy()
            usable = np.isfinite(pred)
            if usable.any() and pred[usable].sum() > 0:
                factor = float(actual[usable].sum() / pred[usable].sum())
        metrics = model.baseline_metrics
        model_json = model.to_json()
    return MeterBaseline(
        meter_id=meter_id,
        verdict=INSUFFICIENT if fit_reasons else OK,
        reasons=tuple(fit_reasons),
        model_json=model_json,
        holiday_factor=factor,
        cvrmse=_finite(getattr(metrics, "cvrmse_adj", None)),
        nmbe=_finite(getattr(metrics, "nmbe", None)),
    )


def predict_baseline(baseline: MeterBaseline, dates: list[date] | pl.Series,
                     temperature: pl.DataFrame, *, timezone: str, country: str = "VN",
                     subdiv: str | None = None) -> pl.DataFrame:
    """The baseline consumption of ``dates``: ``date, baseline_kwh``, in the given order.

    ``baseline_kwh`` is null for every date when the verdict is not ``ok``, and for a date
    whose temperature is null. A date with no row at all in ``temperature`` is an error
    (``ValueError`` naming the dates): absent weather must be said, not silently nulled.
    Holidays (same ``country``/``subdiv`` as the fit) are predicted × the holiday factor.
    ``timezone`` must be the zone of the fit (opendsm refuses another).
    """
    wanted: list[date] = dates.to_list() if isinstance(dates, pl.Series) else list(dates)
    out = pl.DataFrame({"date": wanted}, schema={"date": pl.Date})
    if not wanted:
        return out.with_columns(pl.lit(None, dtype=pl.Float64).alias("baseline_kwh"))
    temp = _temperature_f(temperature)
    known = set(temp["date"].to_list())
    absent = sorted({day for day in wanted if day not in known})
    if absent:
        shown = ", ".join(day.isoformat() for day in absent[:5])
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise ValueError(f"no temperature for {len(absent)} date(s): {shown}{more}")
    if baseline.verdict != OK or baseline.model_json is None:
        return out.with_columns(pl.lit(None, dtype=pl.Float64).alias("baseline_kwh"))

    from opendsm.eemeter import DailyModel, DailyReportingData

    first, last = min(wanted), max(wanted)
    frame = _grid(first, last).join(temp, on="date", how="left").sort("date")
    with _quiet():
        model = DailyModel.from_json(baseline.model_json)
        if frame["temp_f"].is_null().all():
            predicted = np.full(frame.height, np.nan)
        else:
            reporting = DailyReportingData(_pandas(frame, timezone, observed=False),
                                           is_electricity_data=True)
            result = model.predict(reporting, ignore_disqualification=True)
            predicted = result["predicted"].to_numpy(dtype=float)
    off = _holidays_between(first, last, country=country, subdiv=subdiv)
    values = pl.DataFrame({"date": frame["date"], "raw": predicted}).with_columns(
        pl.when(pl.col("raw").is_nan()).then(None).otherwise(pl.col("raw")).alias("raw"))
    values = values.with_columns(
        pl.when(pl.col("date").is_in(sorted(off)))
        .then(pl.col("raw") * baseline.holiday_factor)
        .otherwise(pl.col("raw")).alias("baseline_kwh")
    ).select("date", "baseline_kwh")
    return out.join(values, on="date", how="left", maintain_order="left")


def reporting_reasons(first: date, last: date, temperature: pl.DataFrame, *,
                      timezone: str) -> tuple[str, ...]:
    """The reporting-period disqualifications (opendsm) of the temperature of first..last.

    Counted over the whole requested period (a day without a temperature row is a
    missing day), with CalTRACK's thresholds (≥ 90 % of days, ≥ 90 % per month).
    """
    frame = _grid(first, last).join(_temperature_f(temperature), on="date", how="left")
    if frame["temp_f"].is_null().all():
        return ("eemeter.sufficiency_criteria.no_data",)

    from opendsm.eemeter import DailyReportingData

    with _quiet():
        data = DailyReportingData(_pandas(frame.sort("date"), timezone, observed=False),
                                  is_electricity_data=True,
                                  settings=_sufficiency(first, last, timezone))
        return tuple(_names(data.disqualification))


def _month_bounds(month: str) -> tuple[date, date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError as error:
        raise ValueError(f"month must be 'YYYY-MM', not {month!r}") from error
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def sample_meters(meter_ids: Iterable[str], group: str, *, size: int, seed: int) -> list[str]:
    """A deterministic sample of at most ``size`` meters of a group (sorted ids).

    The generator is seeded with ``seed`` and the group's name, so a group's sample does
    not depend on which other groups exist.
    """
    ids = sorted(set(meter_ids))
    if len(ids) <= size:
        return ids
    rng = np.random.default_rng([seed, zlib.crc32(group.encode("utf-8"))])
    chosen = rng.choice(len(ids), size=size, replace=False)
    return [ids[i] for i in sorted(chosen)]


def group_savings_normalised(
    meter_days: pl.DataFrame, temperature: pl.DataFrame, groups: pl.DataFrame, *,
    month: str, timezone: str, sample_per_group: int = 50, seed: int = 0,
    fits: dict[str, MeterBaseline] | None = None, country: str = "VN",
    subdiv: str | None = None,
) -> tuple[pl.DataFrame, dict[str, MeterBaseline]]:
    """Weather-normalised savings of each customer group in ``month`` ('YYYY-MM').

    ``meter_days``: ``meter_id, date, kwh_import`` (local dates, all days available);
    ``temperature``: ``date, temp_c_mean``; ``groups``: ``meter_id, customer_group``.
    Baseline = the previous calendar year (module docstring). Per group, up to
    ``sample_per_group`` meters are sampled (:func:`sample_meters`) and fitted (or taken
    from ``fits``, keyed by :func:`fit_key`); the sampled meters with an ``ok`` baseline
    are compared with their actual readings on the same meter-days (days with both a
    reading and a baseline), and

        savings_pct = 100 × Σ (baseline − actual) / Σ baseline      (ratio estimator)

    Returns one row per group (columns of :data:`MONTH_SCHEMA`) and the fits (the given
    ones plus the new ones). ``consumption_kwh`` and ``baseline_kwh`` are the sampled,
    fitted meters' sums on those meter-days. A group is ``insufficient_data`` when the
    month's temperature fails CalTRACK's reporting sufficiency or no sampled meter has an
    ``ok`` baseline; its figures are then null. ``reasons`` lists the disqualifications
    met by the month or by sampled meters left out (also for an ``ok`` group, where they
    explain ``meters_fitted < meters_sampled``).
    """
    first, last = _month_bounds(month)
    base_year = first.year - 1
    base_first, base_last = date(base_year, 1, 1), date(base_year, 12, 31)
    cache = dict(fits or {})
    days = meter_days.select(pl.col("meter_id").cast(pl.String), pl.col("date").cast(pl.Date),
                             pl.col("kwh_import").cast(pl.Float64))
    month_reasons = reporting_reasons(first, last, temperature, timezone=timezone)
    member = groups.select(pl.col("meter_id").cast(pl.String),
                           pl.col("customer_group").cast(pl.String)).unique()
    rows: list[dict[str, Any]] = []
    for (group,), part in sorted(member.group_by("customer_group"),
                                 key=lambda item: str(item[0][0])):
        meters = part["meter_id"].unique().to_list()
        sample = sample_meters(meters, str(group), size=sample_per_group, seed=seed)
        row: dict[str, Any] = {
            "customer_group": group, "period": month, "meters": len(meters),
            "meters_sampled": len(sample), "meters_fitted": 0, "consumption_kwh": None,
            "baseline_kwh": None, "savings_pct": None, "verdict": INSUFFICIENT,
            "reasons": list(month_reasons),
        }
        if month_reasons:
            rows.append(row)
            continue
        reasons: list[str] = []
        actual_sum = baseline_sum = 0.0
        fitted = 0
        sampled = days.filter(pl.col("meter_id").is_in(sample))
        for meter in sample:
            key = fit_key(meter, base_year)
            own = sampled.filter(pl.col("meter_id") == meter)
            if key not in cache:
                base = own.filter(pl.col("date").is_between(base_first, base_last))
                cache[key] = fit_baseline(
                    meter, base.select("date", pl.col("kwh_import").alias("kwh")),
                    temperature, timezone=timezone, country=country, subdiv=subdiv,
                    period=(base_first, base_last))
            fit = cache[key]
            if fit.verdict != OK:
                reasons.extend(fit.reasons)
                continue
            fitted += 1
            actual = own.filter(pl.col("date").is_between(first, last)
                                & pl.col("kwh_import").is_not_null())
            if actual.is_empty():
                continue
            predicted = predict_baseline(fit, actual["date"], temperature, timezone=timezone,
                                         country=country, subdiv=subdiv)
            both = actual.join(predicted, on="date").drop_nulls("baseline_kwh")
            actual_sum += float(both["kwh_import"].sum())
            baseline_sum += float(both["baseline_kwh"].sum())
        row["meters_fitted"] = fitted
        row["reasons"] = list(dict.fromkeys(reasons))
        if fitted == 0 or baseline_sum <= 0:
            missing = NO_FITTED_METER if fitted == 0 else NO_READINGS
            row["reasons"] = [missing, *row["reasons"]]
            rows.append(row)
            continue
        row.update(consumption_kwh=actual_sum, baseline_kwh=baseline_sum,
                   savings_pct=100 * (baseline_sum - actual_sum) / baseline_sum, verdict=OK)
        rows.append(row)
    return pl.DataFrame(rows, schema=MONTH_SCHEMA), cache
