"""Per-meter signals of one chunk of meters' hour bins: the day, meter and profile tables.

Everything here looks at one meter at a time (``bin_signals``): a pre-pass of per-meter
facts (resolution, history power, solar, lighting), flags per hour bin, the meter-day
table (energies, zero hours, peak zeros, intraday variation), its collapse into recent
versus history statistics per meter, the mean daily profiles and their correlation, the
same season last year and the link with the transformer's day loss. The comparisons that
need every meter (peers) come after the chunks are joined (``derived.py``).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from ami.vocabulary import CustomerGroup
from models.anomaly.bins import ZERO_ABS_KW
from models.anomaly.readings import Window

# --- module constants (candidates for Settings; not there yet) ------------------------
# A day counts for daily energy only if this share of its intervals has a value [0-1].
MIN_DAY_COVERAGE = 0.9
# An hour is also "zero" below this fraction of the meter's own historical mean power
# (and always below ``bins.ZERO_ABS_KW``) [-].
ZERO_REL = 0.03
# A day with at least this many zero hours (but not the whole day) is a partial-zero day [h].
PARTIAL_ZERO_MIN_HOURS = 3.0
# Night hours (local start hour) when rooftop PV produces nothing in Lạng Sơn: sunset is
# 17:15-18:45 and sunrise 05:30-06:45 over the year, so 19:00-05:00 is safely dark.
NIGHT_START_HOUR = 19
NIGHT_END_HOUR = 5
NIGHT_HOURS = 24 - NIGHT_START_HOUR + NIGHT_END_HOUR
# Total export over the window above which a meter is treated as a solar customer [kWh].
SOLAR_MIN_EXPORT_KWH = 1.0
# A history day-time energy share below this marks a night-only load (lighting) [0-1].
NIGHT_LOAD_DAY_SHARE = 0.05
# The last days of the recent window, where a lasting pattern must still show [d]: a
# household away for a week or two comes back, a tampered meter stays tampered.
LATEST_DAYS = 4
# Days with both a meter's energy and its transformer's loss before they are correlated.
MIN_LOSS_DAYS = 14
#: Smallest range of a day series that is a movement, not rounding [kWh].
SPREAD_MIN_KWH = 1e-6
# Profile correlation needs at least this many hour bins present in both windows.
MIN_PROFILE_BINS = 6


def bin_signals(
    bins: pl.DataFrame,
    topo: pl.DataFrame | None,
    window: Window,
    losses: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per-meter signals of one chunk of meters' bins (everything but the peer comparisons)."""
    last_year = _last_year(bins.filter(pl.col("day") < window.first_day))
    bins = bins.filter(pl.col("day") >= window.first_day)
    if bins.height == 0:
        return pl.DataFrame()
    bins = bins.with_columns(
        recent=pl.col("day") >= window.recent_first,
        latest=pl.col("day") > window.end_day - timedelta(days=LATEST_DAYS),
    )
    meter_info = _meter_prepass(bins, topo)
    # the two facts the bins need, not every column of the meter on each of its bins
    bins = _flag_bins(bins.join(meter_info.select("meter_id", "base_kw", "night_only"),
                                on="meter_id", how="left"))
    days = _day_table(bins.lazy()).collect()
    meter_rows = _meter_table(days.lazy()).collect()
    signals = meter_info.join(meter_rows, on="meter_id", how="inner").sort("meter_id")
    signals = signals.join(_loss_link(days, meter_info, losses), on="meter_id", how="left")
    signals = signals.join(last_year, on="meter_id", how="left")
    return _with_profile_signals(signals, _profile_table(bins))


def _last_year(bins: pl.DataFrame) -> pl.DataFrame:
    """Median import of the complete days of the same season last year, per meter."""
    per_day = 1440.0 / pl.col("interval_minutes").cast(pl.Float64)
    days = (
        bins.group_by("meter_id", "day")
        .agg(pl.col("kwh").sum(), pl.col("n_valid").sum(), pl.col("interval_minutes").min())
        .filter(pl.col("n_valid") >= MIN_DAY_COVERAGE * per_day)
    )
    return days.group_by("meter_id").agg(
        kwh_day_last_year=pl.col("kwh").median(),
        days_last_year=pl.len().cast(pl.Int32),
    )


def _loss_link(
    days: pl.DataFrame, meter_info: pl.DataFrame, losses: pl.DataFrame | None
) -> pl.DataFrame:
    """Correlation of each meter's day energy with its transformer's day loss.

    Energy that stops being registered shows up as loss at the transformer: a meter whose
    consumption goes down while its transformer's loss goes up (negative correlation over
    the window) is the one to check. Needs ``MIN_LOSS_DAYS`` days with both.
    """
    if losses is None or losses.height == 0:
        return meter_info.select("meter_id", loss_corr=pl.lit(None, pl.Float64))
    paired = (
        days.select("meter_id", "day", "kwh_day")
        .join(meter_info.select("meter_id", "transformer_id"), on="meter_id")
        .join(losses.select("transformer_id", "day", "loss_kwh"), on=["transformer_id", "day"])
        .drop_nulls(["kwh_day", "loss_kwh"])
    )
    def moves(column: str) -> pl.Expr:
        return pl.col(column).max() - pl.col(column).min() > SPREAD_MIN_KWH

    # A series that never moves has no correlation (null). Polars' corr gives it ±1: its
    # mean is off in the last bit, so every deviation is the same tiny number.
    return paired.group_by("meter_id").agg(
        loss_corr=pl.when((pl.len() >= MIN_LOSS_DAYS) & moves("kwh_day") & moves("loss_kwh"))
        .then(pl.corr("kwh_day", "loss_kwh"))
        .fill_nan(None)
    )


# --- bin-level work ---------------------------------------------------------------------


def _meter_prepass(bins: pl.DataFrame, topo: pl.DataFrame | None) -> pl.DataFrame:
    """Per-meter facts the bin flags need: resolution, history power, solar, lighting."""
    hist = ~pl.col("recent")
    daytime = pl.col("hour").is_between(8, 16)
    info = (
        bins.select(
            "meter_id",
            "interval_minutes",
            "export",
            kwh_hist=pl.when(hist).then(pl.col("kwh")),
            hours_hist=pl.when(hist).then(pl.col("hours_valid")),
            kwh_hist_day=pl.when(hist & daytime).then(pl.col("kwh")),
        )
        .group_by("meter_id")
        .agg(
            # One resolution per meter (the finest one, were it to change in the window).
            interval_minutes=pl.col("interval_minutes").min().cast(pl.Int32),
            base_kw=pl.col("kwh_hist").sum() / pl.col("hours_hist").sum(),
            export_kwh=pl.col("export").sum(),
            day_share_hist=pl.col("kwh_hist_day").sum() / pl.col("kwh_hist").sum(),
        )
    )
    if topo is not None:
        info = info.join(topo.drop("meter_role"), on="meter_id", how="left")
    else:
        info = info.with_columns(
            customer_group=pl.lit(None, pl.String),
            transformer_id=pl.lit(None, pl.String),
            contracted_kw=pl.lit(None, pl.Float64),
            solar_kwp=pl.lit(None, pl.Float64),
        )
    intraday = pl.col("interval_minutes") <= 60
    return info.with_columns(
        base_kw=pl.col("base_kw").fill_nan(None),
        day_share_hist=pl.col("day_share_hist").fill_nan(None),
        is_solar=(pl.col("export_kwh").fill_null(0.0) > SOLAR_MIN_EXPORT_KWH)
        | (pl.col("solar_kwp").fill_null(0.0) > 0.0),
    ).with_columns(
        # A solar customer imports little by day too; only non-solar night loads count,
        # and only loads: a history of zeros (a bypass older than the window) with a few
        # night readings left in it is not a street light.
        is_lighting=(pl.col("customer_group") == CustomerGroup.PUBLIC_LIGHTING).fill_null(False)
        | (
            intraday & ~pl.col("is_solar") & (pl.col("day_share_hist") < NIGHT_LOAD_DAY_SHARE)
            & (pl.col("base_kw") > ZERO_ABS_KW)
        ).fill_null(False),
        peer_group=pl.col("customer_group").fill_null(
            CustomerGroup.OTHER if topo is not None else "all"),
        # Solar masking needs an intraday resolution; daily data is judged whole.
        night_only=pl.col("is_solar") & intraday,
    )


def _flag_bins(bins: pl.DataFrame) -> pl.DataFrame:
    """Mean power, zero and 'used' (night-only for solar) flags per hour bin."""
    threshold = pl.max_horizontal(pl.lit(ZERO_ABS_KW), ZERO_REL * pl.col("base_kw").fill_null(0.0))
    night = (pl.col("hour") >= NIGHT_START_HOUR) | (pl.col("hour") < NIGHT_END_HOUR)
    kw = pl.when(pl.col("hours_valid") > 0).then(pl.col("kwh") / pl.col("hours_valid"))
    return bins.with_columns(kw=kw).with_columns(
        is_zero=(pl.col("kw") <= threshold).fill_null(False),
        use=~pl.col("night_only") | night,
    )


def _day_table(bins: pl.LazyFrame) -> pl.LazyFrame:
    """Meter-day energies, zero hours, peak zeros, measured counts and intraday CV."""
    use = pl.col("use")
    zero = use & pl.col("is_zero")
    night = (pl.col("hour") >= NIGHT_START_HOUR) | (pl.col("hour") < NIGHT_END_HOUR)

    def used(column: str, when: pl.Expr = use) -> pl.Expr:
        return pl.when(when).then(pl.col(column))

    # Masks first, then plain aggregations: the grouping stays on Polars' fast path.
    masked = bins.select(
        "meter_id", "day", "recent", "latest", "interval_minutes", "night_only",
        "n_valid", "kwh", "export",
        n_valid_used=used("n_valid"),
        n_measured=used("n_measured"),
        kwh_used=used("kwh"),
        kwh_peak=used("kwh_peak"),
        n_peak=used("n_peak"),
        n_peak_zero=used("n_peak", zero),
        # Only an intraday resolution tells night from day.
        export_night=used("export", night & (pl.col("interval_minutes") <= 60)),
        spread=used("kwh_spread"),
        kwh_spread_base=used("kwh", use & pl.col("kwh_spread").is_not_null()),
        kw_max=used("kw_max"),
        zero_h=used("hours_valid", zero),
        valid_h=used("hours_valid"),
        kw=used("kw"),
    )
    days = masked.group_by("meter_id", "day").agg(
        pl.col("recent", "latest", "interval_minutes", "night_only").first(),
        n_valid=pl.col("n_valid_used").sum(),
        n_valid_all=pl.col("n_valid").sum(),
        n_measured=pl.col("n_measured").sum(),
        kwh=pl.col("kwh_used").sum(),
        kwh_all=pl.col("kwh").sum(),
        kwh_peak=pl.col("kwh_peak").sum(),
        n_peak=pl.col("n_peak").sum(),
        n_peak_zero=pl.col("n_peak_zero").sum(),
        export=pl.col("export").sum(),
        export_night=pl.col("export_night").sum(),
        spread=pl.col("spread").sum(),
        kwh_spread_base=pl.col("kwh_spread_base").sum(),
        kw_max=pl.col("kw_max").max(),
        zero_h=pl.col("zero_h").sum(),
        valid_h=pl.col("valid_h").sum(),
        n_bins=pl.col("kw").count(),
        kw_mean=pl.col("kw").mean(),
        kw_std=pl.col("kw").std(),
    )
    per_day = 1440.0 / pl.col("interval_minutes").cast(pl.Float64)
    used_fraction = pl.when(pl.col("night_only")).then(NIGHT_HOURS / 24.0).otherwise(1.0)
    expected = per_day * used_fraction
    expected_bins = pl.min_horizontal(pl.lit(24.0), per_day) * used_fraction
    covered = pl.col("n_valid") >= MIN_DAY_COVERAGE * pl.col("expected")
    return (
        days.with_columns(
            expected=expected, expected_bins=expected_bins, used_hours=24.0 * used_fraction
        )
        .with_columns(
            covered=covered,
            kwh_day=pl.when(covered).then(pl.col("kwh") * pl.col("expected") / pl.col("n_valid")),
            kwh_all_day=pl.when(pl.col("n_valid_all") >= MIN_DAY_COVERAGE * per_day).then(
                pl.col("kwh_all") * per_day / pl.col("n_valid_all")
            ),
            roughness=pl.when(covered & (pl.col("kwh_spread_base") > ZERO_ABS_KW)).then(
                pl.col("spread") / pl.col("kwh_spread_base")
            ),
            day_cv=pl.when(
                (pl.col("expected_bins") >= 4)
                & (pl.col("n_bins") >= 0.8 * pl.col("expected_bins"))
                & (pl.col("kw_mean") > ZERO_ABS_KW)
            ).then(pl.col("kw_std") / pl.col("kw_mean")),
        )
        .with_columns(
            partial=pl.when(pl.col("covered")).then(
                (pl.col("zero_h") >= PARTIAL_ZERO_MIN_HOURS)
                & (pl.col("zero_h") <= pl.col("used_hours") - PARTIAL_ZERO_MIN_HOURS)
                & (pl.col("expected") >= 4)
            )
        )
    )


def _with_day_baseline(days: pl.LazyFrame) -> pl.LazyFrame:
    """Each day's expected energy from the meter's own history of the same day type.

    Day types are Monday-Friday, Saturday and Sunday: offices and shops close at the weekend,
    so a window's day mix must not read as a drop. The baseline is the larger of the history
    median and the early-history median, so a theft that began inside the history window
    does not become the meter's normal. ``norm`` = day energy / baseline.
    """
    hist = ~pl.col("recent")
    valid = pl.col("kwh_day").is_not_null()
    weekday = pl.col("day").dt.weekday()
    days = days.with_columns(
        day_no=pl.col("day").cast(pl.Int32),
        daytype=pl.when(weekday >= 6).then(weekday).otherwise(0).cast(pl.Int8),
    )
    first = pl.col("day_no").filter(hist & valid).min().over("meter_id")
    last = pl.col("day_no").filter(hist & valid).max().over("meter_id")
    days = days.with_columns(early=hist & (pl.col("day_no") <= first + (last - first) / 2))

    def baseline(*keys: str) -> pl.Expr:
        history = pl.col("kwh_day").filter(hist)
        early = pl.col("kwh_day").filter(pl.col("early"))
        level = pl.max_horizontal(history.median().over(keys), early.median().over(keys))
        return pl.when(history.count().over(keys) >= 3).then(level)

    days = days.with_columns(
        base_day=pl.coalesce(baseline("meter_id", "daytype"), baseline("meter_id"))
    )
    # Below 0.05 kWh/d there was nothing to steal from; a ratio would be noise.
    return days.with_columns(
        norm=pl.when(pl.col("base_day") > 0.05).then(pl.col("kwh_day") / pl.col("base_day"))
    )


def _meter_table(days: pl.LazyFrame) -> pl.LazyFrame:
    """Collapse meter-days into per-meter recent-versus-history statistics."""
    days = _with_day_baseline(days)
    recent = pl.col("recent")
    hist = ~recent
    early = pl.col("early")
    kwh_day = pl.col("kwh_day")
    hist_norm = pl.col("norm").filter(hist)

    def share(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        return pl.when(den > 0).then(num / den)

    return days.group_by("meter_id").agg(
        days_recent=kwh_day.filter(recent).count().cast(pl.Int32),
        days_hist=kwh_day.filter(hist).count().cast(pl.Int32),
        kwh_day_recent=kwh_day.filter(recent).median(),
        kwh_day_base=pl.col("base_day").filter(recent & kwh_day.is_not_null()).median(),
        norm_recent=pl.col("norm").filter(recent).median(),
        norm_latest=pl.col("norm").filter(pl.col("latest")).median(),
        mad_norm_hist=(hist_norm - hist_norm.median()).abs().median(),
        kwh_day_total_base=pl.col("kwh_all_day").filter(hist).median(),
        daily_cv_recent=kwh_day.filter(recent).std() / kwh_day.filter(recent).mean(),
        zero_share_recent=share(
            pl.col("zero_h").filter(recent).sum(), pl.col("valid_h").filter(recent).sum()
        ),
        zero_share_hist=share(
            pl.col("zero_h").filter(hist).sum(), pl.col("valid_h").filter(hist).sum()
        ),
        partial_days_recent=pl.col("partial").filter(recent).mean(),
        partial_days_hist=pl.col("partial").filter(hist).mean(),
        zero_hours_recent=pl.col("zero_h")
        .filter(recent & pl.col("partial").fill_null(False))
        .mean(),
        peak_zero_recent=share(
            pl.col("n_peak_zero").filter(recent).sum(), pl.col("n_peak").filter(recent).sum()
        ),
        peak_zero_hist=share(
            pl.col("n_peak_zero").filter(hist).sum(), pl.col("n_peak").filter(hist).sum()
        ),
        peak_share_recent=share(
            pl.col("kwh_peak").filter(recent).sum(), pl.col("kwh").filter(recent).sum()
        ),
        peak_share_hist=share(
            pl.col("kwh_peak").filter(hist).sum(), pl.col("kwh").filter(hist).sum()
        ),
        has_peak=pl.col("n_peak").sum() > 0,
        cv_recent=pl.col("day_cv").filter(recent).median(),
        cv_hist=pl.col("day_cv").filter(hist).median(),
        cv_early=pl.col("day_cv").filter(early).median(),
        n_measured_recent=pl.col("n_measured").filter(recent).sum(),
        expected_per_day=pl.col("expected").first(),
        export_kwh_day_recent=pl.col("export").filter(recent).mean(),
        export_kwh_day_hist=pl.col("export").filter(hist).mean(),
        night_export_kwh_day=pl.col("export_night").mean(),
        rough_recent=pl.col("roughness").filter(recent).median(),
        rough_hist=pl.col("roughness").filter(hist).median(),
        norm_cv_recent=pl.col("norm").filter(recent).std() / pl.col("norm").filter(recent).mean(),
        norm_cv_hist=hist_norm.std() / hist_norm.mean(),
        kw_max_recent=pl.col("kw_max").filter(recent).max(),
    )


def _profile_table(bins: pl.DataFrame) -> pl.DataFrame:
    """Mean power per local hour bin, recent (``kw_recent``) and history (``kw_hist``) [kW]."""
    recent = pl.col("recent")
    kept = pl.col("use") & (pl.col("hours_valid") > 0) & (pl.col("interval_minutes") <= 360)

    def part(column: str, when: pl.Expr) -> pl.Expr:
        return pl.when(kept & when).then(pl.col(column))

    sums = (
        bins.select(
            "meter_id",
            "hour",
            kwh_recent=part("kwh", recent),
            hours_recent=part("hours_valid", recent),
            kwh_hist=part("kwh", ~recent),
            hours_hist=part("hours_valid", ~recent),
        )
        .group_by("meter_id", "hour")
        .agg(pl.col("kwh_recent", "hours_recent", "kwh_hist", "hours_hist").sum())
    )
    return sums.select(
        "meter_id",
        "hour",
        kw_recent=pl.when(pl.col("hours_recent") > 0).then(
            pl.col("kwh_recent") / pl.col("hours_recent")
        ),
        kw_hist=pl.when(pl.col("hours_hist") > 0).then(
            pl.col("kwh_hist") / pl.col("hours_hist")
        ),
    )


# --- per-meter work (the signal table; numpy allowed here) ------------------------------


def _row_corr(a: np.ndarray, b: np.ndarray, min_bins: int) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``, NaN-aware."""
    mask = ~(np.isnan(a) | np.isnan(b))
    n = mask.sum(axis=1)
    a0 = np.where(mask, a, 0.0)
    b0 = np.where(mask, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a0.sum(axis=1) / n
        mb = b0.sum(axis=1) / n
        da = np.where(mask, a0 - ma[:, None], 0.0)
        db = np.where(mask, b0 - mb[:, None], 0.0)
        cov = (da * db).sum(axis=1)
        var = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
        corr = cov / var
    corr[(n < min_bins) | ~(var > 1e-12)] = np.nan
    return corr


def _with_profile_signals(signals: pl.DataFrame, profiles: pl.DataFrame) -> pl.DataFrame:
    """Profile correlation recent vs history and the best circular shift [h]."""
    index = signals.select("meter_id").with_row_index("row")
    prof = profiles.join(index, on="meter_id", how="inner")
    m = signals.height
    recent_matrix = np.full((m, 24), np.nan)
    hist_matrix = np.full((m, 24), np.nan)
    rows, hours = prof["row"].to_numpy(), prof["hour"].to_numpy()
    recent_matrix[rows, hours] = prof["kw_recent"].fill_null(np.nan).to_numpy()
    hist_matrix[rows, hours] = prof["kw_hist"].fill_null(np.nan).to_numpy()
    # Lags -11..12 h; positive = the recent profile happens later than the history one.
    lags = np.arange(-11, 13)
    corrs = np.stack(
        [
            _row_corr(recent_matrix, np.roll(hist_matrix, lag, axis=1), MIN_PROFILE_BINS)
            for lag in lags
        ]
    )
    has_any = ~np.all(np.isnan(corrs), axis=0)
    best = np.where(has_any, np.nanargmax(np.where(np.isnan(corrs), -np.inf, corrs), axis=0), 0)
    best_corr = np.where(has_any, corrs[best, np.arange(m)], np.nan)
    # The lowest hour of the history profile: what stays on when nobody is home.
    hist_bins = np.isfinite(hist_matrix).sum(axis=1)
    standby = np.full(m, np.nan)
    full = hist_bins >= MIN_PROFILE_BINS
    standby[full] = np.nanmin(hist_matrix[full], axis=1)
    return signals.with_columns(
        standby_kw=pl.Series(standby, dtype=pl.Float64).fill_nan(None),
        profile_corr=pl.Series(corrs[lags.tolist().index(0)], dtype=pl.Float64).fill_nan(None),
        best_lag_h=pl.Series(np.where(has_any, lags[best], 0), dtype=pl.Int32),
        best_lag_corr=pl.Series(best_corr, dtype=pl.Float64).fill_nan(None),
    ).with_columns(
        best_lag_h=pl.when(pl.col("best_lag_corr").is_not_null()).then(pl.col("best_lag_h"))
    )
