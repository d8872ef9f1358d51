"""Signals derived once every meter's chunk is done: the comparisons with the peers.

The ratio of recent to expected energy (solar customers: an export rise excused), its
peer-group and transformer medians, the drop and its significance in the meter's own
noise, the level against the peers, the same season last year against the peers' change,
data quality, and the hints that explain a low without theft (a stuck register, an empty
home). ``signals.py`` applies ``with_derived`` to the joined table of ``tables.py``'s rows.
"""

from __future__ import annotations

import polars as pl

from ami.settings import Settings

# --- module constants (candidates for Settings; not there yet) ------------------------
# Minimum history days with complete data before a drop can be judged [d].
MIN_HISTORY_DAYS = 7
# Self-consumed PV energy per kWh exported: residential self-consumption is typically 30-50 %
# of generation, so at most about as much as the export; 1.0 errs on the customer's side.
SELF_CONSUMPTION_FACTOR = 1.0
# Peer medians need at least this many meters in the group, else the population is used.
MIN_PEERS = 5
# Transformer peer medians need at least this many meters with a ratio.
MIN_TRANSFORMER_PEERS = 4
# Complete days last year before that comparison is made [d].
MIN_LAST_YEAR_DAYS = 7
# Days before a change at the level after it, for a low to count as an empty home [d].
VACANT_BEFORE_DAYS = 5


def with_derived(signals: pl.DataFrame, settings: Settings) -> pl.DataFrame:
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
