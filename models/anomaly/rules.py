"""The explainable rules of the theft scorer and the features of its IsolationForest.

Each rule turns one signal of ``signals.py`` into a 0-1 score with a reason code
(``rule_scores``); ``scorer.py`` combines them, weighted (``DEFAULT_RULE_WEIGHTS``), as a
noisy-OR with the forest, whose signed change features (``forest_features``) are here too,
and whose part counts only when a signal moved the way theft moves it
(``suspicious_direction``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

RULE_CODES = (
    "CHANGE", "DROP", "SEASON_DROP", "ZERO", "PARTIAL_ZERO", "FLAT", "SHAPE", "VARIANCE", "ROUGH",
    "LOSS_LINK",
    "TAMPER", "REGISTER_GAP", "REVERSE", "OVER_CAPACITY", "PEER",
)
SCORED_CODES = (*RULE_CODES, "ISOLATION")
#: The whole history's change (CHANGE) carries the ranking. The recent-window rules
#: (14 days against the 90 before) name what changed lately; on real households they
#: mostly fire on behaviour (a cold week, guests, a new routine), so they weigh a tenth of
#: what they would alone: they break ties and explain. Independent evidence (alarms,
#: registers, night export, the transformer's loss) keeps its weight.
WINDOW_RULE_SHARE = 0.05
DEFAULT_RULE_WEIGHTS: dict[str, float] = {
    "CHANGE": 0.95,
    **{code: WINDOW_RULE_SHARE * weight for code, weight in {
        "DROP": 0.85, "ZERO": 0.95, "PARTIAL_ZERO": 0.9, "FLAT": 0.85, "SHAPE": 0.85,
        "VARIANCE": 0.6, "ROUGH": 0.75, "SEASON_DROP": 0.6}.items()},
    "LOSS_LINK": 0.6,
    "TAMPER": 0.7,
    "REGISTER_GAP": 0.5,
    "REVERSE": 0.9,
    "OVER_CAPACITY": 0.3,
    "PEER": WINDOW_RULE_SHARE * 0.3,
}
# A change that has lasted YOUNG_CHANGE_DAYS[0] days weighs YOUNG_CHANGE_FLOOR of its
# strength, one of YOUNG_CHANGE_DAYS[1] days all of it [d], [-].
YOUNG_CHANGE_DAYS = (7.0, 21.0)
YOUNG_CHANGE_FLOOR = 0.3
# A change whose level rose by a t of RISEN_LEVEL_T[0] against its peers starts to lose
# weight, one of RISEN_LEVEL_T[1] keeps RISEN_CHANGE_WEIGHT of it [-].
RISEN_LEVEL_T = (5.0, 15.0)
RISEN_CHANGE_WEIGHT = 0.5


def ramp(expr: pl.Expr, low: float, high: float) -> pl.Expr:
    """0 below ``low``, 1 above ``high``, linear between; null/NaN → 0."""
    return ((expr - low) / (high - low)).clip(0.0, 1.0).fill_nan(0.0).fill_null(0.0)


def rule_scores(recent_days: int = 14) -> dict[str, pl.Expr]:
    """One 0-1 expression per rule code over the signal table (``recent_days`` long)."""
    recent = float(recent_days)
    flat_ratio = pl.col("cv_recent") / pl.col("cv_base")
    lag = pl.col("best_lag_h").abs()
    lighting = pl.col("is_lighting")
    # A drop must still be on in the last days: people away for a week come back.
    lasting = ramp(pl.col("drop_latest"), 0.05, 0.25)
    # A change of a few days (a holiday away: Christmas, Tết) may end tomorrow; it weighs
    # YOUNG_CHANGE_FLOOR of its strength at one week and all of it at three.
    # A meter that records more than before, against its peers, took up a new use (a
    # heater, a tenant): theft never raises the metered energy, so its shape changes alone
    # weigh RISEN_CHANGE_WEIGHT.
    young = ramp(pl.col("days_after").cast(pl.Float64), *YOUNG_CHANGE_DAYS)
    risen = ramp(-pl.col("chg_level"), *RISEN_LEVEL_T)
    change_stat = (pl.col("change_stat")
                   * (YOUNG_CHANGE_FLOOR + (1.0 - YOUNG_CHANGE_FLOOR) * young)
                   * (1.0 - (1.0 - RISEN_CHANGE_WEIGHT) * risen)).fill_null(0.0)
    change_mad = (change_stat - change_stat.median()).abs().median() * 1.4826
    return {
        # The most significant change of the whole history towards theft (history.py),
        # against how much every meter's history changes.
        # A logistic of its robust z: never flat, so a stronger change always ranks higher.
        # A change that is over (a week away, a meter stuck for days) is no theft going on.
        # Street lights are dimmed by order (the 2026 plan), rooftop solar lowers import by
        # day: their changes weigh a tenth (the window rules judge solar on night hours).
        # A stuck register repeats its value: a device fault, explained, not accused.
        "CHANGE": (1.0 / (1.0 + (-((change_stat - change_stat.median()) / change_mad - 4.0)
                                / 1.5).exp())).fill_nan(0.0).fill_null(0.0)
        * ramp(pl.col("persistence"), 0.35, 0.75)
        * pl.when(lighting | pl.col("is_solar")).then(0.1).otherwise(1.0)
        * pl.when(pl.col("stuck_suspect").fill_null(False)).then(0.2).otherwise(1.0),
        # Peer-normalised drop, counted only when it stands out of the meter's own noise. The
        # 2026 plan orders public lighting dimmed 50 % at 23:00-04:00, so a lighting drop is
        # expected and weighs half.
        "DROP": ramp(pl.col("drop"), 0.1, 0.45)
        * ramp(pl.col("drop_z"), 2.0, 4.0)
        * lasting
        * pl.when(lighting).then(0.5).otherwise(1.0),
        "ZERO": ramp(pl.col("zero_share_recent") - pl.col("zero_share_hist"), 0.3, 0.8),
        # Lighting is dark by day by design: never judged on zero runs.
        "PARTIAL_ZERO": pl.when(lighting)
        .then(0.0)
        .otherwise(
            ramp(pl.col("partial_days_recent") - pl.col("partial_days_hist"), 0.25, 0.6)
            * (0.6 + 0.4 * ramp(pl.col("peak_zero_recent") - pl.col("peak_zero_hist"), 0.1, 0.4))
        ),
        # Only a profile that had a shape can be flattened; a stuck register is a fault.
        "FLAT": pl.when(pl.col("stuck_suspect") | (pl.col("cv_base") < 0.15))
        .then(0.0)
        .otherwise(ramp(1.0 - flat_ratio, 0.5, 0.85)),
        # A shift of 1-2 h is more likely a meter clock offset than a re-wired load.
        "SHAPE": pl.when(flat_ratio.fill_null(0.0) < 0.4)
        .then(0.0)
        .otherwise(
            ramp(0.75 - pl.col("profile_corr"), 0.0, 0.6)
            * pl.when(lag >= 3).then(1.0).otherwise(0.4)
        ),
        # Day energy that swings far more than it used to (a per-day tampering factor),
        # counted only with a drop: a legitimate change of habits keeps the meter's rhythm.
        "VARIANCE": ramp(pl.col("norm_cv_recent") / pl.col("norm_cv_hist"), 1.6, 3.0)
        * ramp(pl.col("drop"), 0.1, 0.3)
        * lasting,
        # Intervals jumping within the hour (a per-interval tampering factor); hourly data
        # has no within-hour swing and never fires.
        "ROUGH": pl.when(lighting).then(0.0).otherwise(ramp(pl.col("rough_rel"), 1.4, 2.2)),
        # Below the same season last year, beyond what the peers changed since.
        "SEASON_DROP": ramp(1.0 - pl.col("yoy_rel"), 0.25, 0.6)
        * lasting
        * pl.when(lighting).then(0.5).otherwise(1.0),
        # The meter went down while its transformer's loss went up.
        "LOSS_LINK": ramp(-pl.col("loss_corr"), 0.3, 0.7) * ramp(pl.col("drop"), 0.1, 0.3),
        # Cover-open / magnetic-field alarms, more often than the meter used to raise them.
        "TAMPER": ramp(pl.col("tamper_events_recent").cast(pl.Float64), 0.5, 2.0)
        * (
            pl.col("tamper_events_recent")
            > recent * pl.col("tamper_events_hist_per_day").fill_null(0.0)
        )
        .fill_null(False)
        .cast(pl.Float64),
        # The register counted more than the load profile shows (a tampered profile). A
        # register that went backwards is a replaced or faulty meter: not compared.
        "REGISTER_GAP": pl.when(pl.col("register_resets").fill_null(0) == 0)
        .then(
            ramp(
                pl.col("register_gap_share_recent")
                - pl.col("register_gap_share_hist").fill_null(0.0).clip(0.0, None),
                0.1,
                0.3,
            )
        )
        .otherwise(0.0)
        * ramp(pl.col("register_days_recent"), 3.0, 7.0),
        # Rooftop PV cannot export at night: night export (or a reverse-current alarm) is a
        # reversed connection.
        "REVERSE": pl.max_horizontal(
            ramp(pl.col("night_export_kwh_day"), 0.1, 0.5),
            ramp(pl.col("reverse_events_recent").cast(pl.Float64), 0.5, 3.0),
        ),
        # Demand above the contract is waste or an unauthorised load, not theft: weighs less.
        "OVER_CAPACITY": ramp(pl.col("kw_max_recent") / pl.col("contracted_kw"), 1.1, 1.5),
        "PEER": pl.when(lighting).then(0.0).otherwise(ramp(0.2 - pl.col("peer_level"), 0.0, 0.15)),
    }


def forest_features(signals: pl.DataFrame) -> np.ndarray:
    """Signed change features for the IsolationForest; missing = no change (0)."""
    exprs = [
        pl.col("drop").clip(-1.0, 1.0),
        pl.col("zero_share_recent") - pl.col("zero_share_hist"),
        pl.col("partial_days_recent") - pl.col("partial_days_hist"),
        pl.col("peak_zero_recent") - pl.col("peak_zero_hist"),
        (1.0 - pl.col("cv_recent") / pl.col("cv_base")).clip(-1.0, 1.0),
        1.0 - pl.col("profile_corr"),
        pl.col("peak_share_hist") - pl.col("peak_share_recent"),
        pl.col("peer_level").clip(1e-3, None).log().clip(-5.0, 5.0),
        (1.0 - pl.col("trafo_rel_ratio")).clip(-1.0, 1.0),
        (1.0 - pl.col("yoy_rel")).clip(-1.0, 1.0),
        (pl.col("norm_cv_recent") / pl.col("norm_cv_hist")).clip(1e-2, None).log().clip(-3, 3),
        pl.col("rough_rel").clip(1e-2, None).log().clip(-3, 3),
        pl.col("drop_latest").clip(-1.0, 1.0),
    ]
    frame = signals.select(
        [e.fill_nan(None).fill_null(0.0).alias(f"f{i}") for i, e in enumerate(exprs)]
    )
    return frame.to_numpy().astype(np.float64)


def suspicious_direction() -> pl.Expr:
    """True when at least one signal moved the way theft moves it."""
    return (
        (pl.col("drop") > 0.1)
        | (pl.col("zero_share_recent") - pl.col("zero_share_hist") > 0.1)
        | (pl.col("partial_days_recent") - pl.col("partial_days_hist") > 0.15)
        | (1.0 - pl.col("cv_recent") / pl.col("cv_base") > 0.3)
        | (pl.col("profile_corr") < 0.6)
        | (pl.col("peer_level") < 0.3)
        | (pl.col("norm_cv_recent") > 1.5 * pl.col("norm_cv_hist"))
        | (pl.col("rough_rel") > 1.3)
    ).fill_null(False)
