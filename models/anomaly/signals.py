"""Per-meter behaviour signals for theft/waste screening, computed lazily in Polars.

This module owns the translation of interval readings (any regular resolution from 15 min
to daily, with gaps) into one row of signals per customer meter: how the recent window
(``settings.anomaly_recent_days``) differs from the meter's own earlier history and from its
peers. It knows nothing about scores; ``scorer.py`` turns these signals into a ranking.

Principles:
- Missing is missing: null readings and intervals marked as outages are never read as zero;
  daily energies come only from days with enough data.
- Data faults lower confidence (``nonmeasured_share_recent``) instead of raising suspicion.
- Solar customers (export seen, or ``solar_kwp`` > 0) are judged on night hours only, where
  a rooftop PV system cannot lower grid import; with daily data, an import drop is excused
  up to the rise in export.
- Every signal degrades to null when its input is absent (no topology → no transformer
  peers; daily data → no intraday profile), so the scorer can still rank.

Signal vocabulary (units in brackets), one row per meter, see ``SIGNAL_COLUMNS``.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ami.errors import InputError, NoDataError
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole, Quality, texts
from models.anomaly.days import FEATURES, day_table
from models.anomaly.history import CHANGE_COLUMNS, HISTORY_MAX_DAYS, change_signals

# --- module constants (candidates for Settings; not there yet) ------------------------
# Days of history before the recent window that form the baseline [d].
HISTORY_DAYS = 90
# Minimum history days with complete data before a drop can be judged [d].
MIN_HISTORY_DAYS = 7
# A day counts for daily energy only if this share of its intervals has a value [0-1].
MIN_DAY_COVERAGE = 0.9
# An hour is "zero" below this mean power [kW] ...
ZERO_ABS_KW = 0.01
# ... or below this fraction of the meter's own historical mean power [-].
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
# Self-consumed PV energy per kWh exported: residential self-consumption is typically 30-50 %
# of generation, so at most about as much as the export; 1.0 errs on the customer's side.
SELF_CONSUMPTION_FACTOR = 1.0
# Transformer-wide zero vote: at this share of voting meters at zero/missing in the same
# hour, with at least this many voters, the hour is an outage for all its meters.
COMMON_ZERO_SHARE = 0.6
COMMON_ZERO_MIN_METERS = 3
# Peer medians need at least this many meters in the group, else the population is used.
MIN_PEERS = 5
# Transformer peer medians need at least this many meters with a ratio.
MIN_TRANSFORMER_PEERS = 4
# A history day-time energy share below this marks a night-only load (lighting) [0-1].
NIGHT_LOAD_DAY_SHARE = 0.05
# Meter roles that are not customers: never scored.
NON_CUSTOMER_ROLES = texts(role for role in MeterRole if role != MeterRole.CUSTOMER)
# The last days of the recent window, where a lasting pattern must still show [d]: a
# household away for a week or two comes back, a tampered meter stays tampered.
LATEST_DAYS = 4
# The same season last year: the recent window 52 weeks earlier, so weekdays line up.
LAST_YEAR = timedelta(weeks=52)
# Complete days last year before that comparison is made [d].
MIN_LAST_YEAR_DAYS = 7
# Days with both a meter's energy and its transformer's loss before they are correlated.
MIN_LOSS_DAYS = 14
#: Smallest range of a day series that is a movement, not rounding [kWh].
SPREAD_MIN_KWH = 1e-6
# Profile correlation needs at least this many hour bins present in both windows.
MIN_PROFILE_BINS = 6
# Decimals the signals are kept to (the last bits of a sum depend on its order).
SIGNAL_DECIMALS = 9
# Days before a change at the level after it, for a low to count as an empty home [d].
VACANT_BEFORE_DAYS = 5
# Meters per chunk of the computation: memory follows a chunk's hour bins (5 000 meters ×
# 104 days × 24 ≈ 12.5 M rows). Measured on 2 cores, 300 000 meters × 104 days of stored
# bins: 60 chunks, 335 s, 3.9 GB peak (2 000 per chunk: about 1.4 times slower).
METERS_PER_CHUNK = 5_000

REQUIRED_COLUMNS = ("meter_id", "interval_end", "kwh_import")

SIGNAL_COLUMNS: dict[str, str] = {
    "meter_id": "meter identifier",
    "window_end": "end of the analysed window (as_of) [UTC]",
    "interval_minutes": "load-profile resolution of the meter [min]",
    "customer_group": "customer group from the meters table (null without topology)",
    "peer_group": "group used for peer comparison ('all' without topology)",
    "transformer_id": "transformer the meter hangs on at as_of (null without topology)",
    "is_solar": "solar customer: night hours only (intraday data) or export rise excused",
    "is_lighting": "public lighting, or a night-only load seen in history",
    "days_recent": "complete days in the recent window [d]",
    "days_hist": "complete days in the history window [d]",
    "kwh_day_recent": "median daily energy, recent window [kWh/d]",
    "kwh_day_base": "expected daily energy for the recent days from own history [kWh/d]",
    "kwh_day_total_base": "median daily import over all hours in history [kWh/d]",
    "mad_norm_hist": "median absolute deviation of history day energy / baseline [-]",
    "ratio": "median recent day energy / its day-type baseline (solar: export rise excused) [-]",
    "peer_ratio": "median ratio of the peer group (season, holidays) [-]",
    "rel_ratio": "ratio / peer_ratio [-]",
    "drop": "1 - rel_ratio: share of expected energy not registered [-]",
    "drop_z": "robust significance of the drop (MAD units) [-]",
    "trafo_rel_ratio": "rel_ratio relative to the same transformer's meters [-]",
    "peer_level": "recent level / peer-group median level (per contracted kW if known) [-]",
    "zero_share_recent": "share of recent metered hours at zero [0-1]",
    "zero_share_hist": "share of history metered hours at zero [0-1]",
    "partial_days_recent": "share of recent days with a partial-day zero run [0-1]",
    "partial_days_hist": "share of history days with a partial-day zero run [0-1]",
    "zero_hours_recent": "mean zero hours on recent partial-zero days [h/d]",
    "peak_zero_recent": "share of recent evening-peak intervals in zero hours [0-1]",
    "peak_zero_hist": "share of history evening-peak intervals in zero hours [0-1]",
    "cv_recent": "median intraday coefficient of variation, recent [-]",
    "cv_base": "baseline intraday coefficient of variation (max of history, early) [-]",
    "daily_cv_recent": "coefficient of variation of recent daily energies [-]",
    "stuck_suspect": "profile flat and daily energy constant: device fault, not behaviour",
    "profile_corr": "correlation of recent and history mean daily profiles [-]",
    "best_lag_h": "shift of the recent profile maximising that correlation [h]",
    "best_lag_corr": "correlation at best_lag_h [-]",
    "peak_share_recent": "evening-peak share of energy, recent [0-1]",
    "peak_share_hist": "evening-peak share of energy, history [0-1]",
    "nonmeasured_share_recent": "share of expected recent intervals not measured [0-1]",
    "export_kwh_day_recent": "mean daily export, recent [kWh/d]",
    "night_export_kwh_day": "mean daily export at night (19:00-05:00), whole window [kWh/d]",
    "rough_recent": "median within-hour swing between intervals / energy, recent [-]",
    "rough_hist": "the same in history [-]",
    "norm_cv_recent": "coefficient of variation of recent day energy / baseline [-]",
    "norm_cv_hist": "the same in history [-]",
    "standby_kw": "lowest hour of the history mean profile (fridge, stand-by) [kW]",
    "vacant": "recent profile flat at about the stand-by level: nobody home, not theft",
    "drop_latest": "1 - latest days' energy / peer-adjusted baseline (the drop still on) [-]",
    "rough_rel": "rough_recent / rough_hist over the peer group's median of that change [-]",
    "kwh_day_last_year": "median day import over the recent window's days 52 weeks earlier "
    "[kWh/d]",
    "days_last_year": "complete days behind it [d]",
    "yoy_rel": "recent day energy / last year's, over the peer group's median of that [-]",
    "loss_corr": "correlation of day energy with the transformer's day loss, window [-]",
    "kw_max_recent": "highest interval power, recent [kW]",
    "contracted_kw": "contracted capacity from the meters table (null without topology) [kW]",
    # the whole history (``history.py``): the most significant change towards theft
    "change_day": "first local day after the meter's most significant change",
    "change_stat": "its strength: root of the summed squared one-sided t statistics [-]",
    "days_before": "days of history before the change [d]",
    "days_after": "days from the change to the end [d]",
    "kwh_day_before": "mean day energy before the change [kWh/d]",
    "kwh_day_after": "mean day energy after it [kWh/d]",
    "kwh_day_expected": "what it would have been after it, at its place among its peers "
    "before [kWh/d]",
    "persistence": "share of the change the last days still show (0: it is over) [0-1]",
    "low_days_before": "days before the change already as low as after it [d]",
    **{f"chg_{name}": f"t statistic of the change of {name} (positive: towards theft) [-]"
       for name in FEATURES},
}


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant of local ``day`` 00:00 (the end of the day before)."""
    return datetime.combine(day, datetime.min.time(), ZoneInfo(timezone)).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The analysed local days: history ``first_day``.., recent ``recent_first``..``end_day``."""

    as_of: datetime
    first_day: date
    recent_first: date
    end_day: date

    @classmethod
    def ending(cls, as_of: datetime, settings: Settings) -> Window:
        """The window whose last interval ends at ``as_of`` [UTC]."""
        end_day = (as_of - timedelta(microseconds=1)).astimezone(settings.tz).date()
        recent_first = end_day - timedelta(days=settings.anomaly_recent_days - 1)
        return cls(as_of, recent_first - timedelta(days=HISTORY_DAYS), recent_first, end_day)

    @property
    def days(self) -> list[date]:
        """Every local day of the window, oldest first (the same season last year too)."""
        spans = ((self.last_year_first, self.last_year_end), (self.first_day, self.end_day))
        return [first + timedelta(days=d) for first, last in spans
                for d in range((last - first).days + 1)]

    @property
    def last_year_first(self) -> date:
        """First day of the recent window 52 weeks earlier (same weekdays)."""
        return self.recent_first - LAST_YEAR

    @property
    def last_year_end(self) -> date:
        """Last day of the recent window 52 weeks earlier."""
        return self.end_day - LAST_YEAR

    def covers(self, day: pl.Expr) -> pl.Expr:
        """True for the local days the signals read: the window and last year's recent days."""
        return day.is_between(self.first_day, self.end_day) | day.is_between(
            self.last_year_first, self.last_year_end
        )

    def instants(self, settings: Settings) -> pl.Expr:
        """True for the interval ends of those days (UTC, labelled by the interval end)."""

        def edge(day: date) -> datetime:
            return local_midnight(day, settings.timezone)

        end = pl.col("interval_end")
        this = (end > edge(self.first_day)) & (end <= self.as_of)
        last = (end > edge(self.last_year_first)) & (
            end <= edge(self.last_year_end + timedelta(days=1))
        )
        return this | last


def compute_signals(
    readings: pl.LazyFrame,
    meters: pl.DataFrame | None = None,
    *,
    settings: Settings,
    as_of: datetime | None = None,
    transformer_losses: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row of behaviour signals per customer meter over the window ending at ``as_of``.

    The readings are reduced, streaming, to hour bins per meter and local day (a chunk of
    meters at a time); all later work runs on those bins. ``signals_from_bins`` starts from
    bins already stored per day (the warehouse path).

    Args:
        readings: interval readings in the silver contract (``meter_id``, ``interval_end``,
            ``kwh_import`` required; ``interval_minutes``, ``kwh_export``, ``quality``,
            ``rule`` optional).
        meters: optional meters & customers table (topology, groups, solar).
        settings: project settings (time zone, peak window, recent window length).
        as_of: end of the window [UTC]; default the last ``interval_end`` in the data.
        transformer_losses: loss per transformer and local day (``transformer_id``,
            ``day``, ``loss_kwh``); by default computed from the readings of the
            transformer total meters when ``meters`` names them.

    Returns:
        A DataFrame with the columns of ``SIGNAL_COLUMNS``, sorted by ``meter_id``.

    """
    lf = normalise_readings(readings)
    window = Window.ending(_resolve_as_of(lf, as_of), settings)
    topo = _current_topology(meters, window.as_of) if meters is not None else None
    history = history_signals(lf, topo, settings=settings, window=window)
    lf = lf.filter(window.instants(settings))
    if transformer_losses is None and topo is not None:
        transformer_losses = transformer_day_losses(lf, topo, settings, window)
    lf = _with_interval_minutes(_customers_only(lf, topo), settings)
    parts = []
    for part in _chunks(lf, topo):
        bins = hour_bins(part, settings, window.covers(pl.col("day")), unique=False)
        bins = drop_common_outages(bins, topo)
        parts.append(_bin_signals(bins, topo, window, transformer_losses))
    return _finish(parts, window, settings, history)


def history_signals(lf: pl.LazyFrame, topo: pl.DataFrame | None, *, settings: Settings,
                    window: Window) -> pl.DataFrame:
    """Each customer meter's most significant change over its whole history (``history``).

    ``lf``: ``normalise_readings`` output. Up to ``HISTORY_MAX_DAYS`` local days ending
    with the window are read; only measured energy counts.
    """
    first = window.end_day - timedelta(days=HISTORY_MAX_DAYS - 1)
    readings = lf.filter((pl.col("interval_end") > local_midnight(first, settings.timezone))
                         & (pl.col("interval_end") <= window.as_of))
    days = history_days(readings, topo, settings=settings, first_day=first,
                        end_day=window.end_day, unique=False)
    return change_signals(days)


def history_days(readings: pl.LazyFrame, topo: pl.DataFrame | None, *, settings: Settings,
                 first_day: date, end_day: date, unique: bool) -> pl.DataFrame:
    """``history.day_table`` of customer meters' measured energy, supply outages blanked.

    ``readings``: ``normalise_readings`` output (``unique``: one row per meter and instant,
    as silver). The same for a readings file's whole history and for a warehouse day (gold
    ``anomaly_days``), so both score alike.
    """
    lf = _with_interval_minutes(_customers_only(readings, topo), settings)
    rows = lf.with_columns(measured=_measured()) if unique else _deduplicate(lf)
    measured = _blank_common_outages(
        rows.with_columns(kwh_import=pl.when(pl.col("measured")).then(pl.col("kwh_import"))),
        topo)
    groups = topo.select("meter_id", "customer_group") if topo is not None else None
    return day_table(measured, settings=settings, first_day=first_day, end_day=end_day,
                     groups=groups)


def _outage_voters(topo: pl.DataFrame) -> pl.DataFrame:
    """Meters whose zeros tell a supply outage: not street lights, not solar (zero by design)."""
    return topo.filter(
        pl.col("transformer_id").is_not_null()
        & (pl.col("customer_group").fill_null("") != CustomerGroup.PUBLIC_LIGHTING)
        & (pl.col("solar_kwp").fill_null(0.0) <= 0.0)
    ).select("meter_id", "transformer_id")


def _blank_common_outages(readings: pl.LazyFrame, topo: pl.DataFrame | None) -> pl.LazyFrame:
    """Intervals when most meters of a transformer read zero: a supply outage, not theft.

    The interval version of ``drop_common_outages`` (same voters and shares): the energy
    of those intervals is missing, for every meter of the transformer.
    """
    if topo is None:
        return readings
    voters = _outage_voters(topo)
    kw = pl.col("kwh_import") / (pl.col("interval_minutes").cast(pl.Float64) / 60.0)
    off = (
        readings.join(voters.lazy(), on="meter_id", how="inner")
        .group_by("transformer_id", "interval_end")
        .agg(n=pl.col("kwh_import").count(), n_zero=(kw <= ZERO_ABS_KW).sum())
        .filter((pl.col("n") >= COMMON_ZERO_MIN_METERS)
                & (pl.col("n_zero") >= COMMON_ZERO_SHARE * pl.col("n")))
        .select("transformer_id", "interval_end", outage=pl.lit(True))
    )
    return (
        readings.join(topo.lazy().select("meter_id", "transformer_id"), on="meter_id",
                      how="left")
        .join(off, on=["transformer_id", "interval_end"], how="left")
        .with_columns(kwh_import=pl.when(pl.col("outage").fill_null(False)).then(None)
                      .otherwise(pl.col("kwh_import")))
        .drop("transformer_id", "outage")
    )


def signals_from_bins(
    bins: pl.LazyFrame,
    meters: pl.DataFrame | None,
    *,
    settings: Settings,
    as_of: datetime,
    transformer_losses: pl.DataFrame | None = None,
    history: pl.DataFrame | Future[pl.DataFrame | None] | None = None,
) -> pl.DataFrame:
    """``compute_signals`` from stored hour bins (``day_bins`` output with a ``day`` column).

    Meters are taken in ranges of ``meter_id``: bins stored sorted by meter let each range
    read only its own row groups, so a province is read once, not once per chunk. Give
    the bins of the window's days only (filter the partitions): other filters run per chunk
    in memory, because a filter on a derived column stops the scan from streaming.
    ``history``: ``change_signals`` of the stored day tables (gold ``anomaly_days``), or
    their future: it is waited for when the window's chunks are done.
    """
    window = Window.ending(as_of, settings)
    topo = _current_topology(meters, window.as_of) if meters is not None else None
    unique = bins.select(pl.col("meter_id").unique())
    ids = _customers_only(unique, topo).collect(engine="streaming").sort("meter_id")
    parts = []
    for first in range(0, ids.height, METERS_PER_CHUNK):
        chunk = ids.slice(first, METERS_PER_CHUNK)
        lo, hi = chunk["meter_id"][0], chunk["meter_id"][-1]
        # The range filter reaches the Parquet scan (row groups outside are skipped). The
        # chunk's ids become an Enum (in their sorted order): the grid meters inside the
        # range drop as nulls, and every grouping and join of the chunk is on integers —
        # a chunk's bins in a third less time than with the text ids and a semi-join.
        keys = pl.Enum(chunk["meter_id"])
        part = (
            bins.filter(pl.col("meter_id").is_between(pl.lit(lo), pl.lit(hi)))
            .collect(engine="streaming")
            .with_columns(pl.col("meter_id").cast(keys, strict=False))
            .filter(pl.col("meter_id").is_not_null() & window.covers(pl.col("day")))
        )
        chunk_topo = None if topo is None else topo.with_columns(
            pl.col("meter_id").cast(keys, strict=False)).drop_nulls("meter_id")
        parts.append(_bin_signals(part, chunk_topo, window, transformer_losses)
                     .with_columns(pl.col("meter_id").cast(pl.String)))
    if isinstance(history, Future):
        history = history.result()
    return _finish(parts, window, settings, history)


def day_bins(
    readings: pl.LazyFrame, meters: pl.DataFrame | None, *, settings: Settings, day: date
) -> pl.DataFrame:
    """Hour bins of one local day of unique (silver) readings, supply outages blanked.

    Only the topology valid at the end of the day votes on outages, so that a meter added
    later does not change the bins of past days; grid meters are dropped when scored. The
    bins come sorted by meter (stored so, a range of meters reads few row groups).
    """
    topo = topology_on(meters, local_midnight(day + timedelta(days=1), settings.timezone))
    lf = _with_interval_minutes(normalise_readings(readings), settings)
    # Silver is written sorted by meter: then the grouping keeps that order for free.
    in_order = bool(
        lf.select((pl.col("meter_id") >= pl.col("meter_id").shift(1)).all()).collect().item()
    )
    bins = hour_bins(lf, settings, pl.col("day") == day, unique=True, in_order=in_order)
    if not in_order:
        bins = bins.sort("meter_id", "hour")
    return drop_common_outages(bins, topo)


def topology_on(meters: pl.DataFrame | None, instant: datetime) -> pl.DataFrame | None:
    """The meter rows valid at ``instant`` (none for meters not yet or no longer valid)."""
    if meters is None:
        return None
    return _current_topology(meters, instant, strict=True).sort("meter_id")


def topology_digest(meters: pl.DataFrame | None, instant: datetime) -> str:
    """A checksum of the topology valid at ``instant``: day bins depend on nothing else."""
    topo = topology_on(meters, instant)
    if topo is None:
        return ""
    return hashlib.sha256(topo.write_csv().encode()).hexdigest()


def _finish(parts: list[pl.DataFrame], window: Window, settings: Settings,
            history: pl.DataFrame | None = None) -> pl.DataFrame:
    """Chunks joined, then the comparisons that need every meter (peers).

    ``history``: ``change_signals`` per meter (null columns without it).
    """
    parts = [part for part in parts if part.height]
    if not parts:
        raise NoDataError(
            f"No customer-meter readings between {window.first_day} and {window.end_day} "
            "(local days).",
            fix="check the as_of date and that readings exist for customer meters in the "
            "window; transformer/feeder/boundary meters are not scored.",
        )
    signals = (
        pl.concat(parts, how="vertical_relaxed")
        .sort("meter_id")
        .with_columns(window_end=pl.lit(window.as_of, dtype=pl.Datetime("us", "UTC")))
    )
    if history is None:
        history = pl.DataFrame(schema=CHANGE_COLUMNS)
    signals = signals.join(history, on="meter_id", how="left")
    # Polars adds in an order that depends on its threads and on the file's chunks; the
    # last bits differ from run to run. Rounded, the same readings give the same signals,
    # and the forest and the rules the same scores.
    return _with_derived(signals, settings).select(list(SIGNAL_COLUMNS)).with_columns(
        pl.col(pl.Float64).round(SIGNAL_DECIMALS))


def _customers_only(lf: pl.LazyFrame, topo: pl.DataFrame | None) -> pl.LazyFrame:
    """Readings of customer meters: grid meters (totals, feeder heads) are never scored."""
    if topo is None:
        return lf
    grid = topo.filter(pl.col("meter_role").is_in(NON_CUSTOMER_ROLES)).select("meter_id")
    return lf.join(grid.lazy(), on="meter_id", how="anti")


def _chunks(lf: pl.LazyFrame, topo: pl.DataFrame | None) -> list[pl.LazyFrame]:
    """The readings split into groups of about ``METERS_PER_CHUNK`` meters.

    A transformer's meters stay together (the outage vote compares them); each chunk is one
    streaming scan, so memory is bounded by the chunk, not the province.
    """
    ids = lf.select(pl.col("meter_id").unique()).collect(engine="streaming")
    count = -(-ids.height // METERS_PER_CHUNK)
    if count <= 1:
        return [lf]
    keys = ids.with_columns(pl.col("meter_id").alias("key"))
    if topo is not None:
        keys = keys.join(topo.select("meter_id", "transformer_id"), on="meter_id", how="left")
        keys = keys.with_columns(key=pl.coalesce("transformer_id", "meter_id"))
    keys = keys.with_columns(chunk=pl.col("key").hash(seed=0) % count)
    return [
        lf.join(
            keys.filter(pl.col("chunk") == k).select("meter_id").lazy(), on="meter_id", how="semi"
        )
        for k in range(count)
    ]


def _bin_signals(
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


def transformer_day_losses(
    lf: pl.LazyFrame, topo: pl.DataFrame, settings: Settings, window: Window
) -> pl.DataFrame | None:
    """Loss per transformer and local day from its total meter and its customers' meters.

    in = Σ total-meter import + Σ customers' export, out = Σ customers' import (README
    "Losses"); days where the total meter misses intervals are left out. None without total
    meters.
    """
    roles = topo.select("meter_id", "meter_role", "transformer_id").filter(
        pl.col("transformer_id").is_not_null()
        & pl.col("meter_role").is_in(texts((MeterRole.TRANSFORMER_TOTAL, MeterRole.CUSTOMER)))
    )
    if roles.filter(pl.col("meter_role") == MeterRole.TRANSFORMER_TOTAL).height == 0:
        return None
    total = pl.col("meter_role") == MeterRole.TRANSFORMER_TOTAL
    kwh, export = pl.col("kwh_import").fill_null(0.0), pl.col("kwh_export").fill_null(0.0)
    # the local day of an interval is the day its end instant falls in, less a microsecond
    day = pl.col("interval_end").dt.convert_time_zone(settings.timezone).dt.offset_by("-1us")
    sums = (
        lf.join(roles.lazy(), on="meter_id")
        .with_columns(day=day.dt.date())
        .filter(pl.col("day").is_between(window.first_day, window.end_day))
        .group_by("transformer_id", "day")
        .agg(
            energy_in=(kwh * total).sum() + (export * ~total).sum(),
            energy_out=(kwh * ~total).sum() + (export * total).sum(),
            total_values=pl.col("kwh_import").filter(total).count(),
        )
        .collect(engine="streaming")
    )
    complete = pl.col("total_values") >= MIN_DAY_COVERAGE * pl.col("total_values").max().over(
        "transformer_id"
    )
    return sums.filter(complete & (pl.col("total_values") > 0)).select(
        "transformer_id", "day", loss_kwh=pl.col("energy_in") - pl.col("energy_out")
    )


# --- input checks and normalisation ---------------------------------------------------


def normalise_readings(readings: pl.LazyFrame) -> pl.LazyFrame:
    """Canonical dtypes: UTC timestamps, Float64 energies; optional columns filled."""
    schema = readings.collect_schema()
    for column in REQUIRED_COLUMNS:
        if column not in schema:
            raise InputError(
                "readings lack a required column",
                column=column,
                fix=f"provide {', '.join(REQUIRED_COLUMNS)} (canonical names, DESIGN §4); "
                "map vendor names at ingestion",
            )
    end_type = schema["interval_end"]
    if not isinstance(end_type, pl.Datetime):
        raise InputError(
            f"interval_end has type {end_type}, expected a timestamp",
            column="interval_end",
            fix="parse interval_end as a datetime (UTC, labelled by the end of the interval)",
        )
    if not schema["kwh_import"].is_numeric():
        raise InputError(
            f"kwh_import has type {schema['kwh_import']}, expected numbers",
            column="kwh_import",
            fix="cast kwh_import to a float in kWh per interval",
        )
    # Naive timestamps are taken as UTC, as stored in the warehouse.
    end = (
        pl.col("interval_end").dt.replace_time_zone("UTC")
        if end_type.time_zone is None
        else pl.col("interval_end").dt.convert_time_zone("UTC")
    )
    kwh = pl.col("kwh_import").cast(pl.Float64)
    columns = [
        pl.col("meter_id").cast(pl.String),
        end.dt.cast_time_unit("us").alias("interval_end"),
        kwh.alias("kwh_import"),
        (
            pl.col("kwh_export").cast(pl.Float64)
            if "kwh_export" in schema
            else pl.lit(None, pl.Float64)
        ).alias("kwh_export"),
        (
            pl.col("quality").cast(pl.String)
            if "quality" in schema
            else pl.when(kwh.is_null()).then(pl.lit(Quality.MISSING))
            .otherwise(pl.lit(Quality.MEASURED))
        ).alias("quality"),
        (pl.col("rule").cast(pl.String) if "rule" in schema else pl.lit(None, pl.String)).alias(
            "rule"
        ),
    ]
    if "interval_minutes" in schema:
        columns.append(pl.col("interval_minutes").cast(pl.Int32))
    # No silver rule marks a supply outage (ami.vocabulary.Rule): outages are blanked by the
    # transformer-wide zero vote (_blank_common_outages), not by the readings' rule.
    return readings.select(columns)


def _resolve_as_of(lf: pl.LazyFrame, as_of: datetime | None) -> datetime:
    """The window end: the given instant (naive = UTC) or the last interval_end."""
    last = lf.select(pl.col("interval_end").max()).collect().item()
    if last is None:
        raise NoDataError(
            "The readings are empty: there is nothing to score.",
            fix="load readings first (ami ingest) or point --readings at a non-empty file",
        )
    if as_of is None:
        return last
    return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)


def _with_interval_minutes(lf: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """Infer the resolution per meter (median step) when the column is absent."""
    if "interval_minutes" in lf.collect_schema():
        return lf.with_columns(pl.col("interval_minutes").fill_null(settings.interval_minutes))
    steps = lf.group_by("meter_id").agg(
        interval_minutes=pl.col("interval_end")
        .unique()
        .sort()
        .diff()
        .dt.total_minutes()
        .median()
        .round()
        .cast(pl.Int32)
    )
    return lf.join(steps, on="meter_id", how="left").with_columns(
        pl.col("interval_minutes").fill_null(settings.interval_minutes)
    )


def _measured() -> pl.Expr:
    """An interval without data fault: measured, with a value."""
    return (pl.col("quality") == Quality.MEASURED) & pl.col("kwh_import").is_not_null()


def _deduplicate(lf: pl.LazyFrame) -> pl.LazyFrame:
    """One row per meter and instant: duplicated rows never double-count energy."""
    return lf.group_by("meter_id", "interval_end").agg(
        pl.col("interval_minutes").max(),
        pl.col("kwh_import").mean(),
        pl.col("kwh_export").mean(),
        measured=_measured().all(),
    )


def _current_topology(
    meters: pl.DataFrame, as_of: datetime, *, strict: bool = False
) -> pl.DataFrame:
    """The meters row valid at ``as_of`` (else the latest one, unless ``strict``), per meter."""
    if "meter_id" not in meters.columns:
        raise InputError(
            "meters table lacks a required column",
            column="meter_id",
            fix="provide the CMIS meters export with canonical columns (DESIGN §4)",
        )
    defaults: dict[str, pl.Expr] = {
        "meter_role": pl.lit(MeterRole.CUSTOMER),
        "customer_group": pl.lit(None, pl.String),
        "transformer_id": pl.lit(None, pl.String),
        "contracted_kw": pl.lit(None, pl.Float64),
        "solar_kwp": pl.lit(None, pl.Float64),
        "valid_from": pl.lit(None, pl.Datetime("us", "UTC")),
        "valid_to": pl.lit(None, pl.Datetime("us", "UTC")),
    }
    frame = meters.with_columns(
        [expr.alias(name) for name, expr in defaults.items() if name not in meters.columns]
    )
    for name in ("valid_from", "valid_to"):
        dtype = frame.schema[name]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            frame = frame.with_columns(pl.col(name).dt.replace_time_zone("UTC"))
        elif isinstance(dtype, pl.Datetime):
            frame = frame.with_columns(pl.col(name).dt.convert_time_zone("UTC"))
        elif dtype == pl.Date:
            frame = frame.with_columns(
                pl.col(name).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
            )
    frame = frame.with_columns(
        pl.col("meter_id").cast(pl.String),
        pl.col("meter_role").cast(pl.String).fill_null(MeterRole.CUSTOMER),
        pl.col("customer_group").cast(pl.String),
        pl.col("transformer_id").cast(pl.String),
        pl.col("contracted_kw").cast(pl.Float64),
        pl.col("solar_kwp").cast(pl.Float64),
        valid_now=pl.col("valid_from").fill_null(as_of).le(as_of)
        & (pl.col("valid_to").is_null() | pl.col("valid_to").gt(as_of)),
    )
    if strict:
        frame = frame.filter(pl.col("valid_now"))
    return (
        frame.sort(["meter_id", "valid_now", "valid_from"], nulls_last=False)
        .unique(subset="meter_id", keep="last", maintain_order=True)
        .select(
            "meter_id",
            "meter_role",
            "customer_group",
            "transformer_id",
            "contracted_kw",
            "solar_kwp",
        )
    )


# --- interval → hour-bin reduction (the one streaming pass) ------------------------------


def hour_bins(
    lf: pl.LazyFrame, settings: Settings, days: pl.Expr, *, unique: bool, in_order: bool = False
) -> pl.DataFrame:
    """Energy, counts and evening-peak parts per meter, local day and local start hour.

    ``days`` selects the local days (a predicate on the ``day`` column). ``in_order``: the
    readings come sorted by meter, and the bins keep that order.

    ``unique`` says the readings hold one row per meter and instant (silver does); other
    inputs are de-duplicated first. Masked columns are formed before the grouping so that
    every aggregation is a plain sum, count or extreme (the fast path).
    """
    readings = (
        lf.with_columns(measured=_measured()) if unique else _deduplicate(lf)
    )
    peak_start = settings.peak_start.hour * 60 + settings.peak_start.minute
    peak_end = settings.peak_end.hour * 60 + settings.peak_end.minute
    start = (
        pl.col("interval_end") - pl.duration(minutes=pl.col("interval_minutes"))
    ).dt.convert_time_zone(settings.timezone)
    hours = pl.col("interval_minutes").cast(pl.Float64) / 60.0
    kwh = pl.col("kwh_import")
    minute = pl.col("start").dt.hour().cast(pl.Int32) * 60 + pl.col("start").dt.minute()
    # The evening peak is only defined for intraday resolutions.
    peak = (pl.col("interval_minutes") <= 60) & (minute >= peak_start) & (minute < peak_end)
    bins = (
        readings.with_columns(start=start)
        .with_columns(day=pl.col("start").dt.date())
        .filter(days)
        .select(
            "meter_id",
            "day",
            "interval_minutes",
            pl.col("start").dt.hour().cast(pl.Int32).alias("hour"),
            kwh,
            pl.col("measured").cast(pl.Int32),
            pl.when(kwh.is_not_null()).then(hours).alias("hours_valid"),
            pl.when(peak).then(kwh).alias("kwh_peak"),
            pl.col("kwh_export"),
            (kwh / hours).alias("kw"),
        )
        .group_by("meter_id", "day", "hour", maintain_order=in_order)
        .agg(
            pl.col("interval_minutes").max(),
            n_valid=kwh.count().cast(pl.Int32),
            n_measured=pl.col("measured").sum().cast(pl.Int32),
            kwh=kwh.sum(),
            hours_valid=pl.col("hours_valid").sum(),
            kwh_peak=pl.col("kwh_peak").sum(),
            n_peak=pl.col("kwh_peak").count().cast(pl.Int32),
            export=pl.col("kwh_export").sum(),
            kwh_max=kwh.max(),
            kwh_min=kwh.min(),
            kw_max=pl.col("kw").max(),
        )
    )
    # Within-hour swing between intervals: random per-interval tampering raises it.
    return (
        bins.with_columns(
            kwh_spread=pl.when(pl.col("n_valid") >= 2).then(pl.col("kwh_max") - pl.col("kwh_min"))
        )
        .drop("kwh_max", "kwh_min")
        .collect(engine="streaming")
    )


def drop_common_outages(bins: pl.DataFrame, topo: pl.DataFrame | None) -> pl.DataFrame:
    """Blank the hours when most meters of the same transformer read zero or nothing.

    A supply outage zeroes a whole transformer at once; theft is one meter. Public lighting
    and solar customers do not vote because they are zero by design at times. The blanked
    energy is missing (not zero, not stolen); the intervals stay 'measured', so confidence
    is kept. Without topology nothing is blanked.
    """
    if topo is None or bins.height == 0:
        return bins
    voters = _outage_voters(topo)
    kw = pl.when(pl.col("hours_valid") > 0).then(pl.col("kwh") / pl.col("hours_valid"))
    votes = (
        bins.join(voters, on="meter_id", how="inner")
        .filter(pl.col("export").fill_null(0.0) <= 0.0)
        .group_by("transformer_id", "day", "hour")
        .agg(n=pl.len(), n_zero=(kw.fill_null(0.0) <= ZERO_ABS_KW).sum())
        .filter(
            (pl.col("n") >= COMMON_ZERO_MIN_METERS)
            & (pl.col("n_zero") >= COMMON_ZERO_SHARE * pl.col("n"))
        )
        .select("transformer_id", "day", "hour", outage=pl.lit(True))
    )
    if votes.height == 0:
        return bins
    outage = pl.col("outage").fill_null(False)
    blank = ("kwh", "kwh_peak", "kwh_spread", "kw_max")
    return (
        bins.join(topo.select("meter_id", "transformer_id"), on="meter_id", how="left",
                  maintain_order="left")
        .join(votes, on=["transformer_id", "day", "hour"], how="left", maintain_order="left")
        .with_columns(
            [pl.when(outage).then(None).otherwise(pl.col(c)).alias(c) for c in blank]
            + [pl.when(outage).then(0).otherwise(pl.col(c)).alias(c) for c in ("n_valid", "n_peak")]
            + [pl.when(outage).then(0.0).otherwise(pl.col("hours_valid")).alias("hours_valid")]
        )
        .drop("outage", "transformer_id")
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


def _with_derived(signals: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Baselines, peer-normalised ratios, drop significance, data quality and fault hints."""
    enough = (pl.col("days_hist") >= MIN_HISTORY_DAYS) & (pl.col("days_recent") >= 1)
    # Solar customers without intraday data: a rise in export explains an import drop up to
    # SELF_CONSUMPTION_FACTOR times that rise (the self-consumed PV energy is not metered).
    solar_excuse = pl.when(pl.col("is_solar") & ~pl.col("night_only")).then(
        SELF_CONSUMPTION_FACTOR
        * (
            pl.col("export_kwh_day_recent").fill_null(0.0)
            - pl.col("export_kwh_day_hist").fill_null(0.0)
        ).clip(0.0)
        / pl.col("kwh_day_base")
    )
    frame = signals.with_columns(
        ratio=pl.when(enough).then(pl.col("norm_recent") + solar_excuse.fill_null(0.0)),
        ratio_latest=pl.when(enough).then(pl.col("norm_latest") + solar_excuse.fill_null(0.0)),
        rough_change=pl.col("rough_recent") / pl.col("rough_hist"),
    )

    group_n = pl.col("ratio").count().over("peer_group")
    global_median = frame["ratio"].median()
    global_median = 1.0 if global_median is None else float(global_median)  # type: ignore[arg-type]
    frame = frame.with_columns(
        peer_ratio=pl.when(group_n >= MIN_PEERS)
        .then(pl.col("ratio").median().over("peer_group"))
        .otherwise(pl.lit(global_median))
        .fill_null(1.0)
    ).with_columns(
        rel_ratio=pl.col("ratio") / pl.when(pl.col("peer_ratio") > 0).then(pl.col("peer_ratio"))
    )

    trafo_n = pl.col("rel_ratio").count().over("transformer_id")
    has_cap = pl.col("contracted_kw").fill_null(0.0) > 0
    level = (
        pl.when(has_cap)
        .then(pl.col("kwh_day_recent") / pl.col("contracted_kw"))
        .otherwise(pl.col("kwh_day_recent"))
    )
    frame = frame.with_columns(
        trafo_rel_ratio=pl.when(
            pl.col("transformer_id").is_not_null() & (trafo_n >= MIN_TRANSFORMER_PEERS)
        ).then(pl.col("rel_ratio") / pl.col("rel_ratio").median().over("transformer_id")),
        level=pl.when(~pl.col("is_solar")).then(level),
        has_cap=has_cap,
    ).with_columns(
        peer_level=pl.when(pl.col("level").count().over("peer_group", "has_cap") >= MIN_PEERS).then(
            pl.col("level") / pl.col("level").median().over("peer_group", "has_cap")
        )
    )
    spread = pl.max_horizontal(1.4826 * pl.col("mad_norm_hist"), pl.lit(0.02))
    expected_intervals = pl.col("expected_per_day") * settings.anomaly_recent_days
    # Against the same season last year (solar customers: their import changed with the PV).
    yoy = pl.when(
        (pl.col("days_last_year") >= MIN_LAST_YEAR_DAYS)
        & (pl.col("kwh_day_last_year") > 0.05)
        & ~pl.col("is_solar")
    ).then(pl.col("kwh_day_recent") / pl.col("kwh_day_last_year"))
    frame = frame.with_columns(yoy_ratio=yoy)
    yoy_n = pl.col("yoy_ratio").count().over("peer_group")
    frame = frame.with_columns(
        yoy_rel=pl.col("yoy_ratio")
        / pl.when(yoy_n >= MIN_PEERS).then(pl.col("yoy_ratio").median().over("peer_group"))
    )
    # A change the whole peer group shares (season, a holiday) is not the meter's own.
    rough_n = pl.col("rough_change").count().over("peer_group")
    frame = frame.with_columns(
        rough_rel=pl.col("rough_change")
        / pl.when(rough_n >= MIN_PEERS)
        .then(pl.col("rough_change").median().over("peer_group"))
        .otherwise(pl.lit(1.0))
    )
    return frame.with_columns(
        drop=1.0 - pl.col("rel_ratio"),
        drop_latest=1.0 - pl.col("ratio_latest") / pl.col("peer_ratio"),
        drop_z=(pl.col("peer_ratio") - pl.col("ratio"))
        / (spread / pl.col("days_recent").cast(pl.Float64).sqrt()),
        cv_base=pl.max_horizontal("cv_hist", "cv_early"),
        peak_share_recent=pl.when(pl.col("has_peak")).then(pl.col("peak_share_recent")),
        peak_share_hist=pl.when(pl.col("has_peak")).then(pl.col("peak_share_hist")),
        peak_zero_recent=pl.when(pl.col("has_peak")).then(pl.col("peak_zero_recent")),
        peak_zero_hist=pl.when(pl.col("has_peak")).then(pl.col("peak_zero_hist")),
        nonmeasured_share_recent=(1.0 - pl.col("n_measured_recent") / expected_intervals).clip(
            0.0, 1.0
        ),
        # A stuck register repeats one value: no intraday shape and no day-to-day change.
        stuck_suspect=((pl.col("cv_recent") < 0.05) & (pl.col("daily_cv_recent") < 0.02)).fill_null(
            False
        ),
    ).with_columns(
        # Away from home: energy at about the stand-by level, the daily shape gone. Bypass
        # leaves nothing (well below stand-by); tampering keeps or scrambles the shape.
        vacant=(
            (pl.col("drop") >= 0.5)
            & (pl.col("cv_recent") <= 0.5 * pl.col("cv_base"))
            & (pl.col("kwh_day_recent") / 24.0).is_between(
                0.1 * pl.col("standby_kw"), 1.5 * pl.col("standby_kw")
            )
            # stand-by is steady; intervals jumping at random are tampering
            & (pl.col("rough_rel").fill_null(1.0) < 1.3)
            & ~pl.col("is_solar")
            & ~pl.col("is_lighting")
            # an empty home is an excuse only if the home was as low before too: a new
            # low (or zero) with nothing else to explain it is evidence
            & (pl.col("low_days_before").fill_null(0) >= VACANT_BEFORE_DAYS)
        ).fill_null(False),
    )
