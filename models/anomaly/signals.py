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

Where the pieces are: ``readings.py`` (the window, readings and topology as read),
``bins.py`` (the hour bins, supply outages), ``tables.py`` (per-meter tables of a chunk of
meters), ``derived.py`` (the peer comparisons over all meters), ``history.py`` and
``days.py`` (the whole history's change). This module runs them, a chunk of meters at a
time, into the table of ``SIGNAL_COLUMNS``.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import date, datetime, timedelta

import polars as pl

from ami.errors import NoDataError
from ami.settings import Settings
from ami.vocabulary import MeterRole, texts
from models.anomaly.bins import blank_common_outages, drop_common_outages, hour_bins
from models.anomaly.days import FEATURES, day_table
from models.anomaly.derived import with_derived
from models.anomaly.history import CHANGE_COLUMNS, HISTORY_MAX_DAYS, change_signals
from models.anomaly.readings import (
    Window,
    current_topology,
    deduplicate,
    is_measured,
    local_midnight,
    normalise_readings,
    resolve_as_of,
    with_interval_minutes,
)
from models.anomaly.tables import MIN_DAY_COVERAGE, bin_signals

# --- module constants (candidates for Settings; not there yet) ------------------------
# Meter roles that are not customers: never scored.
NON_CUSTOMER_ROLES = texts(role for role in MeterRole if role != MeterRole.CUSTOMER)
# Decimals the signals are kept to (the last bits of a sum depend on its order).
SIGNAL_DECIMALS = 9
# Meters per chunk of the computation: memory follows a chunk's hour bins (5 000 meters ×
# 104 days × 24 ≈ 12.5 M rows). Measured on 2 cores, 300 000 meters × 104 days of stored
# bins: 60 chunks, 335 s, 3.9 GB peak (2 000 per chunk: about 1.4 times slower).
METERS_PER_CHUNK = 5_000

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
    window = Window.ending(resolve_as_of(lf, as_of), settings)
    topo = current_topology(meters, window.as_of) if meters is not None else None
    history = history_signals(lf, topo, settings=settings, window=window)
    lf = lf.filter(window.instants(settings))
    if transformer_losses is None and topo is not None:
        transformer_losses = transformer_day_losses(lf, topo, settings, window)
    lf = with_interval_minutes(_customers_only(lf, topo), settings)
    parts = []
    for part in _chunks(lf, topo):
        bins = hour_bins(part, settings, window.covers(pl.col("day")), unique=False)
        bins = drop_common_outages(bins, topo)
        parts.append(bin_signals(bins, topo, window, transformer_losses))
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
    """``days.day_table`` of customer meters' measured energy, supply outages blanked.

    ``readings``: ``normalise_readings`` output (``unique``: one row per meter and instant,
    as silver). The same for a readings file's whole history and for a warehouse day (gold
    ``anomaly_days``), so both score alike.
    """
    lf = with_interval_minutes(_customers_only(readings, topo), settings)
    rows = lf.with_columns(measured=is_measured()) if unique else deduplicate(lf)
    measured = blank_common_outages(
        rows.with_columns(kwh_import=pl.when(pl.col("measured")).then(pl.col("kwh_import"))),
        topo)
    groups = topo.select("meter_id", "customer_group") if topo is not None else None
    return day_table(measured, settings=settings, first_day=first_day, end_day=end_day,
                     groups=groups)


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
    topo = current_topology(meters, window.as_of) if meters is not None else None
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
        parts.append(bin_signals(part, chunk_topo, window, transformer_losses)
                     .with_columns(pl.col("meter_id").cast(pl.String)))
    if isinstance(history, Future):
        history = history.result()
    return _finish(parts, window, settings, history)


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
    return with_derived(signals, settings).select(list(SIGNAL_COLUMNS)).with_columns(
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
