"""Theft/waste suspicion scores from per-meter signals: explainable rules + IsolationForest.

This module owns the ranking that loss-reduction teams work from. Each rule turns one
signal of ``signals.py`` into a 0-1 score with a reason code; the rules are combined as a
noisy-OR (any one strong pattern is enough) together with an unsupervised IsolationForest
(one per customer group when the topology is known), whose contribution only counts when
the meter moved in a suspicious direction. The result is multiplied by a data-confidence
factor (estimated / missing intervals lower it) and by inspection outcomes (a meter found
clean recently drops down). With inspection labels, rules that fired on confirmed thefts
gain weight and rules that fired on clean meters lose it (Laplace-smoothed, so a handful of
labels cannot swing them far).

The score is bounded 0-1 and monotone in the evidence; it is a priority, not a probability.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Self

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ami.errors import InputError, NoDataError
from ami.instants import instant
from ami.settings import Settings
from ami.tariffs import load_tariffs, tariff_on, unbilled_vnd
from ami.vocabulary import InspectionOutcome
from models.anomaly.days import FEATURES
from models.anomaly.evidence import add_note, day_energy_from_readings, with_evidence
from models.anomaly.reasons import GROUP_VI, OUTCOME_VI, fmt_number, reason_expr
from models.anomaly.signals import MIN_LOSS_DAYS, Window, compute_signals, normalise_readings

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
LABEL_OUTCOMES = tuple(str(outcome) for outcome in InspectionOutcome)
POOLED = "__pooled__"
# The supervised model needs at least this many thefts and as many other outcomes.
MIN_CLASS_LABELS = 5
# A suspicious rule is named in the reasons from this rule score on [0-1].
REASON_MIN_SCORE = 0.1
# Unbilled energy is estimated only when an energy-losing rule scores at least this [0-1].
ESTIMATE_MIN_SCORE = 0.25
# Rules whose pattern loses energy (SHAPE only moves it in time).
ENERGY_RULES = ("DROP", "SEASON_DROP", "ZERO", "PARTIAL_ZERO", "FLAT", "VARIANCE", "ROUGH")
# A change that has lasted YOUNG_CHANGE_DAYS[0] days weighs YOUNG_CHANGE_FLOOR of its
# strength, one of YOUNG_CHANGE_DAYS[1] days all of it [d], [-].
YOUNG_CHANGE_DAYS = (7.0, 21.0)
YOUNG_CHANGE_FLOOR = 0.3
# A change whose level rose by a t of RISEN_LEVEL_T[0] against its peers starts to lose
# weight, one of RISEN_LEVEL_T[1] keeps RISEN_CHANGE_WEIGHT of it [-].
RISEN_LEVEL_T = (5.0, 15.0)
RISEN_CHANGE_WEIGHT = 0.5
# The change's level t from which its energy counts as unbilled [-].
CHANGE_LEVEL_MIN_T = 3.0
# Estimated unbilled energy is reported per 30 days [d].
MONTH_DAYS = 30.0

OUTPUT_COLUMNS = (
    "meter_id",
    "score",
    "rank",
    "reasons",
    "reason_codes",
    "reasons_en",
    "est_unbilled_kwh_month",
    "est_unbilled_vnd_month",
    "customer_group",
    "model",
)


def _ramp(expr: pl.Expr, low: float, high: float) -> pl.Expr:
    """0 below ``low``, 1 above ``high``, linear between; null/NaN → 0."""
    return ((expr - low) / (high - low)).clip(0.0, 1.0).fill_nan(0.0).fill_null(0.0)


def rule_scores(recent_days: int = 14) -> dict[str, pl.Expr]:
    """One 0-1 expression per rule code over the signal table (``recent_days`` long)."""
    recent = float(recent_days)
    flat_ratio = pl.col("cv_recent") / pl.col("cv_base")
    lag = pl.col("best_lag_h").abs()
    lighting = pl.col("is_lighting")
    # A drop must still be on in the last days: people away for a week come back.
    lasting = _ramp(pl.col("drop_latest"), 0.05, 0.25)
    # A change of a few days (a holiday away: Christmas, Tết) may end tomorrow; it weighs
    # YOUNG_CHANGE_FLOOR of its strength at one week and all of it at three.
    # A meter that records more than before, against its peers, took up a new use (a
    # heater, a tenant): theft never raises the metered energy, so its shape changes alone
    # weigh RISEN_CHANGE_WEIGHT.
    young = _ramp(pl.col("days_after").cast(pl.Float64), *YOUNG_CHANGE_DAYS)
    risen = _ramp(-pl.col("chg_level"), *RISEN_LEVEL_T)
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
        * _ramp(pl.col("persistence"), 0.35, 0.75)
        * pl.when(lighting | pl.col("is_solar")).then(0.1).otherwise(1.0)
        * pl.when(pl.col("stuck_suspect").fill_null(False)).then(0.2).otherwise(1.0),
        # Peer-normalised drop, counted only when it stands out of the meter's own noise. The
        # 2026 plan orders public lighting dimmed 50 % at 23:00-04:00, so a lighting drop is
        # expected and weighs half.
        "DROP": _ramp(pl.col("drop"), 0.1, 0.45)
        * _ramp(pl.col("drop_z"), 2.0, 4.0)
        * lasting
        * pl.when(lighting).then(0.5).otherwise(1.0),
        "ZERO": _ramp(pl.col("zero_share_recent") - pl.col("zero_share_hist"), 0.3, 0.8),
        # Lighting is dark by day by design: never judged on zero runs.
        "PARTIAL_ZERO": pl.when(lighting)
        .then(0.0)
        .otherwise(
            _ramp(pl.col("partial_days_recent") - pl.col("partial_days_hist"), 0.25, 0.6)
            * (0.6 + 0.4 * _ramp(pl.col("peak_zero_recent") - pl.col("peak_zero_hist"), 0.1, 0.4))
        ),
        # Only a profile that had a shape can be flattened; a stuck register is a fault.
        "FLAT": pl.when(pl.col("stuck_suspect") | (pl.col("cv_base") < 0.15))
        .then(0.0)
        .otherwise(_ramp(1.0 - flat_ratio, 0.5, 0.85)),
        # A shift of 1-2 h is more likely a meter clock offset than a re-wired load.
        "SHAPE": pl.when(flat_ratio.fill_null(0.0) < 0.4)
        .then(0.0)
        .otherwise(
            _ramp(0.75 - pl.col("profile_corr"), 0.0, 0.6)
            * pl.when(lag >= 3).then(1.0).otherwise(0.4)
        ),
        # Day energy that swings far more than it used to (a per-day tampering factor),
        # counted only with a drop: a legitimate change of habits keeps the meter's rhythm.
        "VARIANCE": _ramp(pl.col("norm_cv_recent") / pl.col("norm_cv_hist"), 1.6, 3.0)
        * _ramp(pl.col("drop"), 0.1, 0.3)
        * lasting,
        # Intervals jumping within the hour (a per-interval tampering factor); hourly data
        # has no within-hour swing and never fires.
        "ROUGH": pl.when(lighting).then(0.0).otherwise(_ramp(pl.col("rough_rel"), 1.4, 2.2)),
        # Below the same season last year, beyond what the peers changed since.
        "SEASON_DROP": _ramp(1.0 - pl.col("yoy_rel"), 0.25, 0.6)
        * lasting
        * pl.when(lighting).then(0.5).otherwise(1.0),
        # The meter went down while its transformer's loss went up.
        "LOSS_LINK": _ramp(-pl.col("loss_corr"), 0.3, 0.7) * _ramp(pl.col("drop"), 0.1, 0.3),
        # Cover-open / magnetic-field alarms, more often than the meter used to raise them.
        "TAMPER": _ramp(pl.col("tamper_events_recent").cast(pl.Float64), 0.5, 2.0)
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
            _ramp(
                pl.col("register_gap_share_recent")
                - pl.col("register_gap_share_hist").fill_null(0.0).clip(0.0, None),
                0.1,
                0.3,
            )
        )
        .otherwise(0.0)
        * _ramp(pl.col("register_days_recent"), 3.0, 7.0),
        # Rooftop PV cannot export at night: night export (or a reverse-current alarm) is a
        # reversed connection.
        "REVERSE": pl.max_horizontal(
            _ramp(pl.col("night_export_kwh_day"), 0.1, 0.5),
            _ramp(pl.col("reverse_events_recent").cast(pl.Float64), 0.5, 3.0),
        ),
        # Demand above the contract is waste or an unauthorised load, not theft: weighs less.
        "OVER_CAPACITY": _ramp(pl.col("kw_max_recent") / pl.col("contracted_kw"), 1.1, 1.5),
        "PEER": pl.when(lighting).then(0.0).otherwise(_ramp(0.2 - pl.col("peer_level"), 0.0, 0.15)),
    }


def _features(signals: pl.DataFrame) -> np.ndarray:
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


def _suspicious_direction() -> pl.Expr:
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


def validate_labels(
    labels: pl.DataFrame, *, details: bool = False, file: str | None = None
) -> pl.DataFrame:
    """Inspection outcomes with canonical dtypes; raises ``InputError`` on bad columns/values.

    With ``details`` the optional ``recovered_kwh`` [kWh, a number ≥ 0] and ``note`` are
    kept too (null when absent); ``file`` names the input in the errors.
    """
    for column in ("meter_id", "inspected_at", "outcome"):
        if column not in labels.columns:
            raise InputError(
                "inspection labels lack a required column",
                file=file,
                column=column,
                fix="provide meter_id, inspected_at, outcome (theft / meter_fault / "
                "billing_error / no_issue) as in DESIGN §4",
            )
    frame = labels.with_columns(
        pl.col("meter_id").cast(pl.String), pl.col("outcome").cast(pl.String)
    )
    bad = frame.with_row_index("row").filter(~pl.col("outcome").is_in(LABEL_OUTCOMES))
    if bad.height:
        raise InputError(
            f"unknown inspection outcome {bad['outcome'][0]!r}",
            file=file,
            row=int(bad["row"][0]) + 1,
            column="outcome",
            fix=f"use one of {', '.join(LABEL_OUTCOMES)}",
        )
    at = frame.schema["inspected_at"]
    if at == pl.String:
        # CSV files give text: an ISO 8601 instant with zone, or a plain ISO date.
        day = pl.col("inspected_at").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        parsed = pl.coalesce(
            instant("inspected_at").dt.cast_time_unit("us"),
            day.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        )
        frame = frame.with_columns(parsed_at=parsed)
        bad = frame.with_row_index("row").filter(
            pl.col("parsed_at").is_null() & pl.col("inspected_at").is_not_null()
        )
        if bad.height:
            raise InputError(
                f"inspected_at {bad['inspected_at'][0]!r} is not a date",
                file=file,
                row=int(bad["row"][0]) + 1,
                column="inspected_at",
                fix="write inspected_at as an ISO date (YYYY-MM-DD) or timestamp",
            )
        frame = frame.with_columns(pl.col("parsed_at").alias("inspected_at"))
        at = frame.schema["inspected_at"]
    if at == pl.Date:
        at_expr = pl.col("inspected_at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(at, pl.Datetime):
        at_expr = (
            pl.col("inspected_at").dt.replace_time_zone("UTC")
            if at.time_zone is None
            else pl.col("inspected_at").dt.convert_time_zone("UTC")
        ).dt.cast_time_unit("us")
    else:
        raise InputError(
            f"inspected_at has type {at}, expected a date or timestamp",
            file=file,
            column="inspected_at",
            fix="write inspected_at as an ISO date (YYYY-MM-DD) or timestamp",
        )
    typed = frame.with_columns(at_expr.alias("inspected_at"))
    if not details:
        return typed.select("meter_id", "inspected_at", "outcome")
    text = (
        pl.col("recovered_kwh").cast(pl.String).str.strip_chars()
        if "recovered_kwh" in typed.columns
        else pl.lit(None, pl.String)
    )
    typed = typed.with_columns(_kwh=pl.when(text != "").then(text)).with_columns(
        recovered_kwh=pl.col("_kwh").cast(pl.Float64, strict=False),
        note=pl.col("note").cast(pl.String) if "note" in typed.columns else pl.lit(None, pl.String),
    )
    for failed, problem in (
        (pl.col("_kwh").is_not_null() & ~pl.col("recovered_kwh").is_finite().fill_null(False),
         "is not a number"),
        (pl.col("recovered_kwh") < 0, "is negative"),
    ):
        bad = typed.with_row_index("row").filter(failed)
        if bad.height:
            raise InputError(
                f"recovered_kwh {bad['_kwh'][0]!r} {problem}",
                file=file,
                row=int(bad["row"][0]) + 1,
                column="recovered_kwh",
                fix="write the energy recovered in kWh, a number ≥ 0 with a decimal point, "
                "or leave it empty",
            )
    return typed.select("meter_id", "inspected_at", "outcome", "recovered_kwh", "note")


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-4, 1.0 - 1e-4)
    return np.log(q / (1.0 - q))


def _supervised_features(frame: pl.DataFrame) -> np.ndarray:
    """Signals and unsupervised parts for the supervised model; missing stays NaN."""
    exprs = [
        *[pl.col(f"s_{code}") for code in SCORED_CODES],
        pl.col("raw_score"),
        pl.col("isolation"),
        pl.col("drop").clip(-2.0, 1.0),
        pl.col("drop_latest").clip(-2.0, 1.0),
        pl.col("drop_z").clip(-20.0, 20.0),
        pl.col("zero_share_recent") - pl.col("zero_share_hist"),
        pl.col("partial_days_recent") - pl.col("partial_days_hist"),
        pl.col("peak_zero_recent") - pl.col("peak_zero_hist"),
        (pl.col("cv_recent") / pl.col("cv_base")).clip(0.0, 5.0),
        pl.col("profile_corr"),
        pl.col("best_lag_h").abs().cast(pl.Float64),
        pl.col("peak_share_recent") - pl.col("peak_share_hist"),
        (pl.col("norm_cv_recent") / pl.col("norm_cv_hist")).clip(0.0, 10.0),
        pl.col("rough_rel").clip(0.0, 10.0),
        pl.col("peer_level").clip(0.0, 10.0),
        pl.col("yoy_rel").clip(0.0, 10.0),
        (1.0 - pl.col("trafo_rel_ratio")).clip(-2.0, 1.0),
        pl.col("nonmeasured_share_recent"),
        pl.col("is_solar").cast(pl.Float64),
        pl.col("is_lighting").cast(pl.Float64),
        # the whole history: what changed, how strongly, whether it goes on
        pl.col("change_stat"), pl.col("persistence"),
        *[pl.col(f"chg_{name}").clip(-50.0, 50.0) for name in FEATURES],
        (pl.col("kwh_day_after") / pl.col("kwh_day_before")).clip(0.0, 10.0),
    ]
    out = frame.select([e.cast(pl.Float64).fill_nan(None).alias(f"x{i}") for i, e in
                        enumerate(exprs)])
    return out.to_numpy().astype(np.float64)  # nulls → NaN, which the trees handle


def _latest_labels(labels: pl.DataFrame) -> pl.DataFrame:
    """The latest validated inspection outcome of each meter."""
    return (
        validate_labels(labels)
        .sort("meter_id", "inspected_at")
        .unique(subset="meter_id", keep="last", maintain_order=True)
    )


def _labels_in_memory(frame: pl.DataFrame, labels: pl.DataFrame,
                      memory: timedelta) -> pl.DataFrame:
    """Rows of ``frame`` with their meter's outcome inspected in ``memory`` up to window_end."""
    return frame.join(labels, on="meter_id", how="inner").filter(
        (pl.col("inspected_at") <= pl.col("window_end"))
        & (pl.col("inspected_at") > pl.col("window_end") - memory)
    )


#: From this many inspection outcomes on, boosted trees learn them; below, a linear model
#: around the unsupervised score (``ShrunkLogistic``).
TREES_MIN_LABELS = 300
#: Penalties the few-label model chooses from by cross-validation; ``inf``: the labels only
#: calibrate the unsupervised score (its ranking unchanged).
SHRINK_PENALTIES = (3.0, 10.0, 30.0, 100.0, float("inf"))
#: Penalty on the unsupervised logit's slope away from 1: outcomes that the unsupervised
#: score already separates must not stretch it until every suspect reads 1.0 (a tie).
SLOPE_PENALTY = 1.0


def _trees(n_labels: int, seed: int) -> ClassifierMixin:
    """Boosted trees for hundreds of outcomes (``TREES_MIN_LABELS`` on)."""
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
        min_samples_leaf=max(3, n_labels // 40), l2_regularization=1.0, random_state=seed)


class ShrunkLogistic:
    """A logistic regression around the unsupervised score, shrunk towards it.

    logit P(theft) = a + b·logit(unsupervised) + β·x, with x the standardised change
    features of the whole history and an L2 penalty on β chosen by cross-validation among
    ``SHRINK_PENALTIES``. A few dozen outcomes (a new loss team's first inspections, ten
    thefts among them) cannot teach thirty signals: unless the held-out folds say that
    they help, β stays near 0 and the labels only calibrate the unsupervised ranking —
    they never make it worse by memorising the few thefts seen.
    """

    def __init__(self, penalty: float, center: np.ndarray, scale: np.ndarray,
                 weights: np.ndarray) -> None:
        self.penalty, self.center, self.scale, self.weights = penalty, center, scale, weights

    @classmethod
    def train(cls, x: np.ndarray, offset: np.ndarray, y: np.ndarray, *, seed: int
              ) -> ShrunkLogistic:
        """The strongest penalty within a standard error of the best out-of-fold fit.

        The "one standard error" rule (glmnet's ``lambda.1se``): among penalties whose
        held-out log-likelihood is within one standard error (over the folds) of the best,
        the strongest — with forty outcomes, a better fold score is mostly luck.
        """
        folds = list(StratifiedKFold(min(5, int(y.sum()), int((~y).sum())), shuffle=True,
                                     random_state=seed).split(x, y))
        scores = np.array([[_log_likelihood(
            cls.fit(x[train], offset[train], y[train], penalty).decision(
                x[test], offset[test]), y[test]) for train, test in folds]
            for penalty in SHRINK_PENALTIES])
        best = int(scores.mean(axis=1).argmax())
        bar = scores[best].mean() - scores[best].std(ddof=1) / np.sqrt(len(folds))
        chosen = max(i for i in range(len(SHRINK_PENALTIES)) if scores[i].mean() >= bar)
        return cls.fit(x, offset, y, SHRINK_PENALTIES[chosen])

    @classmethod
    def fit(cls, x: np.ndarray, offset: np.ndarray, y: np.ndarray,
            penalty: float) -> ShrunkLogistic:
        """The penalised maximum-likelihood fit for one penalty (NaN features at the median)."""
        with np.errstate(all="ignore"):
            center = np.nan_to_num(np.nanmedian(x, axis=0))
            filled = np.where(np.isnan(x), center, x)
            scale = filled.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        z = (filled - center) / scale if np.isfinite(penalty) else filled[:, :0]
        target = y.astype(np.float64)
        lam = penalty if np.isfinite(penalty) else 0.0

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            margin = w[0] + w[1] * offset + z @ w[2:]
            gradient = expit(margin) - target
            value = (-_log_likelihood(margin, y) + lam * float(w[2:] @ w[2:])
                     + SLOPE_PENALTY * (w[1] - 1.0) ** 2)
            grad = np.concatenate([[gradient.sum(),
                                    gradient @ offset + 2.0 * SLOPE_PENALTY * (w[1] - 1.0)],
                                   z.T @ gradient + 2.0 * lam * w[2:]])
            return value, grad

        start = np.zeros(2 + z.shape[1])
        start[1] = 1.0
        # Every feature points towards theft: the labels may weigh it more or less, never
        # turn evidence of theft into evidence of innocence (a bypass stays on top).
        bounds = [(None, None), (0.0, None)] + [(0.0, None)] * z.shape[1]
        weights = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x
        return cls(penalty, center, scale, weights)

    def decision(self, x: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """The logit of theft per row."""
        z = (np.where(np.isnan(x), self.center, x) - self.center) / self.scale
        return self.weights[0] + self.weights[1] * offset + z[:, : len(self.weights) - 2] \
            @ self.weights[2:]


def _log_likelihood(margin: np.ndarray, y: np.ndarray) -> float:
    """Sum of log P(y) of a logistic model with these margins (stable for large |margin|)."""
    return float(-np.logaddexp(0.0, np.where(y, -margin, margin)).sum())


def _change_features(frame: pl.DataFrame) -> np.ndarray:
    """The whole history's change, per feature, for the few-label model; missing = NaN.

    t statistics run from 0 to a few hundred (a bypass): on a log scale, so that a
    handful of labels cannot give one meter's extreme value a weight that outshouts
    every other meter (and saturates the probability at 1 for many).
    """
    def signed_log(expr: pl.Expr) -> pl.Expr:
        return expr.sign() * expr.abs().log1p()

    exprs = [signed_log(pl.col("change_stat")), pl.col("persistence"),
             *[signed_log(pl.col(f"chg_{name}")) for name in FEATURES]]
    return frame.select([e.cast(pl.Float64).fill_nan(None).alias(f"x{i}")
                         for i, e in enumerate(exprs)]).to_numpy().astype(np.float64)


class SupervisedModel:
    """A model of inspection outcomes on top of the unsupervised score.

    It learns from the signals of inspected meters (theft = 1; no issue, meter fault,
    billing error = 0). Below ``TREES_MIN_LABELS`` outcomes it is a ``ShrunkLogistic``
    around the unsupervised score. From there on, boosted trees on every signal, and a
    logistic calibrator, fitted on their out-of-fold predictions together with the
    unsupervised score, turns both into a calibrated probability of theft.
    """

    def __init__(self, n_labels: int, *, linear: ShrunkLogistic | None = None,
                 trees: ClassifierMixin | None = None,
                 calibrator: LogisticRegression | None = None,
                 columns: np.ndarray | None = None) -> None:
        self.n_labels, self.linear = n_labels, linear
        self.trees, self.calibrator = trees, calibrator
        self.columns = columns  # the features that had values among the labelled meters

    @classmethod
    def train(cls, frame: pl.DataFrame, labels: pl.DataFrame, *, seed: int,
              memory: timedelta) -> SupervisedModel | None:
        """The model, or None when the labels cannot support one (too few of a class)."""
        joined = _labels_in_memory(frame, labels, memory)
        y = (joined["outcome"] == InspectionOutcome.THEFT).to_numpy()
        positives, negatives = int(y.sum()), int((~y).sum())
        if min(positives, negatives) < MIN_CLASS_LABELS:
            return None
        unsupervised = _logit(joined["raw_score"].to_numpy())
        if len(y) < TREES_MIN_LABELS:
            return cls(len(y), linear=ShrunkLogistic.train(
                _change_features(joined), unsupervised, y, seed=seed))
        x = _supervised_features(joined)
        columns = np.flatnonzero(np.isfinite(x).sum(axis=0) >= 2)
        x = x[:, columns]
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        trees = _trees(len(y), seed)
        out_of_fold = cross_val_predict(trees, x, y, cv=folds, method="predict_proba")[:, 1]
        calibrator = LogisticRegression(C=1.0).fit(
            np.column_stack([_logit(out_of_fold), unsupervised]), y
        )
        return cls(len(y), trees=trees.fit(x, y), calibrator=calibrator, columns=columns)

    def probability(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of theft per row of an unsupervised frame [0-1]."""
        unsupervised = _logit(frame["raw_score"].to_numpy())
        if self.linear is not None:
            margin = self.linear.decision(_change_features(frame), unsupervised)
            return np.asarray(expit(margin), dtype=np.float64)
        assert self.trees is not None
        assert self.calibrator is not None
        trees = self.trees.predict_proba(_supervised_features(frame)[:, self.columns])[:, 1]
        z = np.column_stack([_logit(trees), unsupervised])
        return np.asarray(self.calibrator.predict_proba(z)[:, 1], dtype=np.float64)


class AnomalyScorer(BaseModel):
    """Rule + IsolationForest suspicion scorer; ``fit`` / ``score`` / ``explain``."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="Random seed of the IsolationForests.")
    n_estimators: int = Field(200, description="Trees per IsolationForest.")
    min_group_size: int = Field(30, description="Meters a group needs for its own forest.")
    min_forest_size: int = Field(10, description="Below this many meters no forest is fitted.")
    isolation_weight: float = Field(WINDOW_RULE_SHARE * 0.35,
                                    description="Weight of the forest in the noisy-OR [0-1].")
    isolation_range: tuple[float, float] = Field(
        (0.55, 0.70), description="Isolation score ramp (0.5 = normal, 1 = isolated) [-]."
    )
    rule_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_RULE_WEIGHTS))
    outcome_factors: dict[str, float] = Field(
        default_factory=lambda: {str(InspectionOutcome.NO_ISSUE): 0.3,
                                 str(InspectionOutcome.METER_FAULT): 0.6},
        description="Score multiplier after a recent inspection with this outcome [-].",
    )
    vacant_factor: float = Field(
        0.5, description="Score multiplier when the house looks empty (stand-by only) [-]."
    )
    label_memory_days: int = Field(180, description="Inspections older than this are ignored [d].")
    min_confidence: float = Field(0.25, description="Floor of the data-confidence factor [0-1].")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Local zone for dates in reasons.")
    recent_days: int = Field(14, description="Length of the recent window [d].")

    _forests: dict[str, IsolationForest] = PrivateAttr(default_factory=dict)
    _multipliers: dict[str, float] = PrivateAttr(default_factory=dict)
    _labels: pl.DataFrame | None = PrivateAttr(default=None)
    _supervised: SupervisedModel | None = PrivateAttr(default=None)
    _fitted: bool = PrivateAttr(default=False)

    # --- estimator API -----------------------------------------------------------------

    def fit(self, signals: pl.DataFrame, labels: pl.DataFrame | None = None) -> Self:
        """Fit the forests on the signals and learn rule weights from inspection labels."""
        self._forests = {}
        x = _features(signals)
        groups = signals["peer_group"].to_numpy()
        if len(signals) >= self.min_forest_size:
            self._forests[POOLED] = self._forest().fit(x)
        for group in sorted(set(groups.tolist())):
            mask = groups == group
            if mask.sum() >= self.min_group_size:
                self._forests[group] = self._forest().fit(x[mask])
        self._multipliers = dict.fromkeys(RULE_CODES, 1.0)
        self._labels = None
        self._supervised = None
        if labels is not None and labels.height:
            latest = _latest_labels(labels)
            self._labels = latest
            self._multipliers = self._learn_multipliers(signals, latest)
            self._supervised = SupervisedModel.train(
                self._unsupervised(signals), latest, seed=self.seed,
                memory=timedelta(days=self.label_memory_days),
            )
        self._fitted = True
        return self

    def score(self, signals: pl.DataFrame) -> pl.DataFrame:
        """Scores, rank, component scores and estimated unbilled energy per meter."""
        if not self._fitted:
            self.fit(signals)
        frame = self._unsupervised(signals)
        if self._supervised is not None:
            frame = frame.with_columns(
                unsupervised_score=pl.col("raw_score"),
                raw_score=pl.Series(self._supervised.probability(frame), dtype=pl.Float64),
            )
        else:
            frame = frame.with_columns(unsupervised_score=pl.col("raw_score"))
        confidence = (
            1.0 - 1.2 * (pl.col("nonmeasured_share_recent").fill_null(1.0) - 0.05).clip(0.0, None)
        ).clip(self.min_confidence, 1.0)
        frame = self._with_label_factor(frame)
        frame = frame.with_columns(confidence=confidence).with_columns(
            score=(
                pl.col("raw_score")
                * pl.col("confidence")
                * pl.col("label_factor")
                * pl.when(pl.col("vacant")).then(self.vacant_factor).otherwise(1.0)
            ).clip(0.0, 1.0)
        )
        return self._with_unbilled(frame)

    def _unsupervised(self, signals: pl.DataFrame) -> pl.DataFrame:
        """Rule, forest and noisy-OR columns (``s_*``, ``c_*``, ``raw_score``) per meter."""
        rules = rule_scores(self.recent_days)
        frame = signals.with_columns([expr.alias(f"s_{code}") for code, expr in rules.items()])
        frame = frame.with_columns(
            isolation=pl.Series(self._isolation(signals), dtype=pl.Float64).fill_nan(None)
        )
        frame = frame.with_columns(
            s_ISOLATION=_ramp(pl.col("isolation"), *self.isolation_range)
            * _suspicious_direction().cast(pl.Float64)
        )
        weights = {
            code: min(0.98, self.rule_weights.get(code, 0.0) * self._multipliers.get(code, 1.0))
            for code in RULE_CODES
        }
        weights["ISOLATION"] = self.isolation_weight
        contribs = [(pl.lit(weights[c]) * pl.col(f"s_{c}")).alias(f"c_{c}") for c in weights]
        frame = frame.with_columns(contribs)
        survive = pl.lit(1.0)
        for code in weights:
            survive = survive * (1.0 - pl.col(f"c_{code}"))
        return frame.with_columns(raw_score=1.0 - survive)

    def _with_unbilled(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``est_unbilled_kwh_month`` and the rank, most suspicious first."""
        # Unbilled energy: the peer-adjusted baseline minus what the meter registered, when an
        # energy-losing pattern is named in the reasons and the drop is beyond noise. Solar
        # meters: the night drop applied to their whole-day import baseline.
        base = (
            pl.when(pl.col("is_solar"))
            .then(pl.col("kwh_day_total_base"))
            .otherwise(pl.col("kwh_day_base"))
        )
        energy_rule = (
            pl.max_horizontal([pl.col(f"s_{code}") for code in ENERGY_RULES]) >= ESTIMATE_MIN_SCORE
        )
        significant = energy_rule & (pl.col("drop_z") >= 2.0).fill_null(False)
        window = (pl.when(significant)
                  .then(pl.col("drop").clip(0.0, 1.0) * base * pl.col("peer_ratio"))
                  .otherwise(0.0).fill_null(0.0).clip(0.0, None))
        # A theft older than the window: what the meter would record at its place among
        # its peers before the change, minus what it records, when the change leads and
        # lowered the level beyond noise.
        changed = ((pl.col("s_CHANGE") >= ESTIMATE_MIN_SCORE)
                   & (pl.col("chg_level") >= CHANGE_LEVEL_MIN_T)).fill_null(False)
        history = (pl.when(changed)
                   .then(pl.col("kwh_day_expected") - pl.col("kwh_day_after"))
                   .otherwise(0.0).fill_null(0.0).clip(0.0, None))
        frame = frame.with_columns(
            est_unbilled_kwh_month=pl.max_horizontal(window, history) * MONTH_DAYS)
        return frame.sort(["score", "meter_id"], descending=[True, False]).with_columns(
            rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
        )

    def explain(self, scored: pl.DataFrame) -> pl.DataFrame:
        """Reason codes and Vietnamese / English texts for each row of ``score`` output."""
        evidence = {
            lang: _evidence(lang, self.timezone, self.recent_days) for lang in ("vi", "en")
        }
        conditions = {code: pl.col(f"s_{code}") >= REASON_MIN_SCORE for code in SCORED_CODES}
        conditions.update(_caveats())
        items: dict[str, list[pl.Expr]] = {"vi": [], "en": []}
        for code, active in conditions.items():
            # Suspicious codes are ordered by contribution, caveats come last.
            weight = pl.col(f"c_{code}") if code in SCORED_CODES else pl.lit(-1.0)
            for lang, texts in items.items():
                text = pl.when(active).then(reason_expr(code, lang, evidence[lang][code]))
                texts.append(pl.struct(w=weight, code=pl.lit(code), text=text))

        def ordered(items: list[pl.Expr]) -> pl.Expr:
            return (
                pl.concat_list(items)
                .list.eval(pl.element().filter(pl.element().struct.field("text").is_not_null()))
                .list.eval(
                    pl.element().sort_by(
                        pl.element().struct.field("w"), descending=True, maintain_order=True
                    )
                )
            )

        def field(lang: str, name: str) -> pl.Expr:
            return ordered(items[lang]).list.eval(pl.element().struct.field(name))

        return scored.select(
            "meter_id",
            reason_codes=field("vi", "code"),
            reasons=field("vi", "text").list.join("; "),
            reasons_en=field("en", "text").list.join("; "),
        )

    @property
    def supervised(self) -> bool:
        """A supervised model learnt from inspection outcomes takes part in the score."""
        return self._supervised is not None

    # --- internals -----------------------------------------------------------------------

    def _forest(self) -> IsolationForest:
        return IsolationForest(
            n_estimators=self.n_estimators, random_state=self.seed, contamination="auto"
        )

    def _isolation(self, signals: pl.DataFrame) -> np.ndarray:
        """Isolation score per meter (0.5 ≈ normal, → 1 isolated); NaN without a forest."""
        out = np.full(len(signals), np.nan)
        if not self._forests:
            return out
        x = _features(signals)
        keys = np.array(
            [g if g in self._forests else POOLED for g in signals["peer_group"].to_list()],
            dtype=object,
        )
        for key in sorted(set(keys.tolist()) & set(self._forests)):
            mask = keys == key
            out[mask] = -self._forests[key].score_samples(x[mask])
        return out

    def _learn_multipliers(self, signals: pl.DataFrame, labels: pl.DataFrame) -> dict[str, float]:
        """Rule weight multipliers 0.5-1.5 from the precision of each rule on labels."""
        fired = signals.select(
            "meter_id",
            *[expr.alias(code) for code, expr in rule_scores(self.recent_days).items()],
        )
        joined = fired.join(
            labels.filter(pl.col("outcome").is_in(
                [str(InspectionOutcome.THEFT), str(InspectionOutcome.NO_ISSUE)])), on="meter_id"
        )
        multipliers: dict[str, float] = {}
        for code in RULE_CODES:
            hits = joined.filter(pl.col(code) >= 0.5)
            thefts = hits.filter(pl.col("outcome") == InspectionOutcome.THEFT).height
            clean = hits.filter(pl.col("outcome") == InspectionOutcome.NO_ISSUE).height
            # Laplace smoothing: with no evidence the multiplier stays 1.
            multipliers[code] = 0.5 + (thefts + 1) / (thefts + clean + 2)
        return multipliers

    def _with_label_factor(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Multiply down meters inspected recently and found clean or faulty."""
        if self._labels is None:
            return frame.with_columns(
                label_factor=pl.lit(1.0),
                inspected_at=pl.lit(None, pl.Datetime("us", "UTC")),
                outcome=pl.lit(None, pl.String),
            )
        frame = frame.join(self._labels, on="meter_id", how="left")
        memory = timedelta(days=self.label_memory_days)
        recent = (pl.col("inspected_at") <= pl.col("window_end")) & (
            pl.col("inspected_at") > pl.col("window_end") - memory
        )
        factor = pl.col("outcome").replace_strict(
            self.outcome_factors, default=1.0, return_dtype=pl.Float64
        )
        return frame.with_columns(
            label_factor=pl.when(recent.fill_null(False)).then(factor).otherwise(1.0),
            outcome=pl.when(recent.fill_null(False)).then(pl.col("outcome")),
            inspected_at=pl.when(recent.fill_null(False)).then(pl.col("inspected_at")),
        )


#: What a change of each history feature means, for the CHANGE reason (vi, en).
CHANGE_TEXT: dict[str, tuple[str, str]] = {
    "level": ("thấp hơn hẳn so với các hộ cùng nhóm", "far below its peers'"),
    "zero_share": ("nhiều chu kỳ bằng 0", "many intervals at zero"),
    "roughness": ("biểu đồ nhảy thất thường giữa các chu kỳ", "erratic between intervals"),
    "smoothness": ("mất tính liên tục của phụ tải", "no continuity between intervals"),
    "repeat_share": ("giá trị lặp lại như bị san phẳng", "values repeated as if flattened"),
    "peer_shape": ("hình dạng ngày khác hẳn các hộ khác", "a day shape unlike its peers'"),
    "evening_share": ("cao điểm tối giảm", "less in the evening"),
    "morning_share": ("sáng sớm tăng", "more in the early morning"),
    "level_swing": ("sản lượng ngày dao động bất thường", "day energy swinging"),
}
#: A feature is named in the CHANGE reason from this t statistic on.
CHANGE_NAMED_T = 3.0


def _change_what(lang: str) -> pl.Expr:
    """The features that changed most towards theft, in words (``; a, b, c``)."""
    index = 0 if lang == "vi" else 1
    named = [pl.when(pl.col(f"chg_{name}") >= CHANGE_NAMED_T).then(pl.lit(texts[index]))
             for name, texts in CHANGE_TEXT.items()]
    what = pl.concat_str(named, separator=", ", ignore_nulls=True)
    return pl.when(what != "").then(pl.concat_str([pl.lit("; "), what])).otherwise(pl.lit(""))


def _evidence(lang: str, timezone: str, recent_days: int) -> dict[str, dict[str, pl.Expr]]:
    """Formatted evidence numbers for every reason template, by code."""

    def num(expr: pl.Expr, decimals: int = 1) -> pl.Expr:
        return fmt_number(expr, decimals, lang)

    def pct(expr: pl.Expr) -> pl.Expr:
        return fmt_number(100.0 * expr, 0, lang)

    group_name = (
        pl.col("peer_group").replace_strict(GROUP_VI, default=pl.col("peer_group"))
        if lang == "vi"
        else pl.col("peer_group").replace("all", "all-customer")
    )
    peer_change = 100.0 * (pl.col("peer_ratio") - 1.0)
    peer_text = pl.concat_str(
        [
            pl.lit("; cả nhóm: " if lang == "vi" else "; peers: "),
            pl.when(peer_change >= 0).then(pl.lit("+")).otherwise(pl.lit("")),
            fmt_number(peer_change, 0, lang),
            pl.lit(" %"),
        ]
    )
    return {
        "DROP": {
            "pct": pct(pl.col("drop")),
            "base": num(pl.col("kwh_day_base")),
            "recent": num(pl.col("kwh_day_recent")),
            "peer": peer_text,
        },
        "ZERO": {"share": pct(pl.col("zero_share_recent")), "hist": pct(pl.col("zero_share_hist"))},
        "PARTIAL_ZERO": {
            "hours": num(pl.col("zero_hours_recent")),
            "days": pct(pl.col("partial_days_recent")),
            "hist": pct(pl.col("partial_days_hist")),
            "peak": pct(pl.col("peak_zero_recent")),
        },
        "FLAT": {"cv_recent": num(pl.col("cv_recent"), 2), "cv_base": num(pl.col("cv_base"), 2)},
        "SHAPE": {
            "corr": num(pl.col("profile_corr"), 2),
            "lag": num(pl.col("best_lag_h").cast(pl.Float64), 0),
            "peak_base": pct(pl.col("peak_share_hist")),
            "peak_recent": pct(pl.col("peak_share_recent")),
        },
        "VARIANCE": {
            "cv_recent": num(pl.col("norm_cv_recent"), 2),
            "cv_hist": num(pl.col("norm_cv_hist"), 2),
        },
        "ROUGH": {"recent": num(pl.col("rough_recent"), 2), "hist": num(pl.col("rough_hist"), 2)},
        "REVERSE": {
            "night": num(pl.col("night_export_kwh_day")),
            "events": num(pl.col("reverse_events_recent").fill_null(0).cast(pl.Float64), 0),
        },
        "SEASON_DROP": {
            "pct": pct(1.0 - pl.col("yoy_rel")),
            "last_year": num(pl.col("kwh_day_last_year")),
            "recent": num(pl.col("kwh_day_recent")),
        },
        "LOSS_LINK": {
            "transformer": pl.col("transformer_id").fill_null("-"),
            "corr": num(pl.col("loss_corr"), 2),
        },
        "TAMPER": {
            "count": num(pl.col("tamper_events_recent").cast(pl.Float64), 0),
            "days": pl.lit(str(recent_days)),
        },
        "REGISTER_GAP": {
            "gap": pct(pl.col("register_gap_share_recent")),
            "days": num(pl.col("register_days_recent"), 0),
            "hist": pct(pl.col("register_gap_share_hist")),
        },
        "OVER_CAPACITY": {
            "kw": num(pl.col("kw_max_recent")),
            "contracted": num(pl.col("contracted_kw")),
        },
        "PEER": {"ratio": pct(pl.col("peer_level")), "group": group_name},
        "CHANGE": {
            "day": pl.col("change_day").dt.strftime("%d/%m/%Y" if lang == "vi" else "%Y-%m-%d"),
            "before": num(pl.col("kwh_day_before")),
            "after": num(pl.col("kwh_day_after")),
            "what": _change_what(lang),
            "stat": num(pl.col("change_stat")),
        },
        "ISOLATION": {"group": group_name, "value": num(pl.col("isolation"), 2)},
        "DATA_QUALITY": {"share": pct(pl.col("nonmeasured_share_recent"))},
        "STUCK": {},
        "VACANT": {"standby": num(pl.col("standby_kw"), 2)},
        "SOLAR": {"export": num(pl.col("export_kwh_day_recent"))},
        "INSPECTED_OK": {
            "date": pl.col("inspected_at").dt.convert_time_zone(timezone).dt.strftime("%d/%m/%Y"),
            "outcome": pl.col("outcome").replace_strict(OUTCOME_VI, default=pl.col("outcome")),
            "outcome_en": pl.col("outcome").str.replace("_", " "),
        },
    }


def _caveats() -> dict[str, pl.Expr]:
    """Explanatory (non-suspicious) reason codes and when they apply."""
    return {
        "DATA_QUALITY": (pl.col("nonmeasured_share_recent") >= 0.1).fill_null(False),
        "STUCK": pl.col("stuck_suspect"),
        "VACANT": pl.col("vacant"),
        "SOLAR": pl.col("is_solar"),
        "INSPECTED_OK": (pl.col("label_factor") < 1.0).fill_null(False),
    }


def score_meters(
    readings: pl.LazyFrame,
    meters: pl.DataFrame | None,
    labels: pl.DataFrame | None,
    *,
    settings: Settings,
    as_of: datetime | None = None,
    scorer: AnomalyScorer | None = None,
    events: pl.LazyFrame | pl.DataFrame | None = None,
    registers: pl.LazyFrame | pl.DataFrame | None = None,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """Rank customer meters by theft/waste suspicion over the window ending at ``as_of``.

    Returns one row per customer meter with ``OUTPUT_COLUMNS``: ``score`` [0-1, higher =
    more suspicious], ``rank`` (1 = most suspicious, ties by meter_id), Vietnamese
    ``reasons`` and English ``reasons_en`` (``CODE: text (evidence)`` joined by "; "),
    ``reason_codes``, ``est_unbilled_kwh_month`` [kWh per 30 d; 0 = no energy estimated
    at stake] and its value ``est_unbilled_vnd_month`` [VND, excluding VAT, at the
    customer group's tariff; no group = household], ``customer_group`` and ``model``
    (``unsupervised``, or ``supervised`` once inspection outcomes could train one). Meter
    ``events`` and ``registers`` (README: data contract), when given, add tamper, reverse-current
    and register-versus-profile evidence.

    Optional enrichments never withhold the ranking: prices, events, register reads, the
    meters table (topology, groups) and inspection outcomes that do not cover the window
    are left out of it, and one line per cause is appended to ``notes`` (when a list is
    given) saying what is missing and how to add it. In particular, when no tariff is in
    force on the window's last local day, ``est_unbilled_vnd_month`` is null (not priced)
    for every meter; with a tariff it is 0 exactly where ``est_unbilled_kwh_month`` is 0.
    Bad input (a missing required column, a wrong type) still raises ``InputError``.
    """
    signals = compute_signals(readings, meters, settings=settings, as_of=as_of)
    note_unlisted_meters(signals, meters, notes)
    if events is not None or registers is not None:
        window = Window.ending(signals["window_end"].max(), settings)  # type: ignore[arg-type]
        day_energy = (
            day_energy_from_readings(normalise_readings(readings), settings=settings,
                                     first_day=window.first_day, end_day=window.end_day)
            if registers is not None else None
        )
        signals = with_evidence(signals, settings=settings, events=events, registers=registers,
                                day_energy=day_energy, notes=notes)
    return score_signals(signals, labels, settings=settings, scorer=scorer, notes=notes)


def score_signals(
    signals: pl.DataFrame,
    labels: pl.DataFrame | None,
    *,
    settings: Settings,
    scorer: AnomalyScorer | None = None,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """``score_meters`` from a signal table (``compute_signals`` or ``signals_from_bins``).

    ``notes`` as in :func:`score_meters`: the unpriced window, inspection outcomes too few
    to train the supervised model, and a transformer loss series that does not reach the
    window are noted here.
    """
    signals = with_evidence(signals, settings=settings)  # null evidence where none was given
    model = scorer if scorer is not None else AnomalyScorer(
        timezone=settings.timezone, recent_days=settings.anomaly_recent_days
    )
    scored = model.fit(signals, labels).score(signals)
    explained = model.explain(scored)
    window_end = signals["window_end"].max()
    # Prices of the last local day scored (today's without a window end).
    on = (
        Window.ending(window_end, settings).end_day
        if isinstance(window_end, datetime)
        else datetime.now(settings.tz).date()
    )
    vnd = _unbilled_vnd(scored, on=on, settings=settings, notes=notes)
    if labels is not None and labels.height and not model.supervised:
        _note_too_few_labels(signals, labels, model, on=on, notes=notes)
    _note_no_loss_link(signals, on=on, notes=notes)
    return (
        scored.with_columns(est_unbilled_vnd_month=vnd)
        .join(explained, on="meter_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("score").cast(pl.Float64),
            pl.col("est_unbilled_kwh_month").cast(pl.Float64),
            model=pl.lit("supervised" if model.supervised else "unsupervised"),
        )
        .select(OUTPUT_COLUMNS)
    )


def _unbilled_vnd(
    scored: pl.DataFrame, *, on: date, settings: Settings, notes: list[str] | None
) -> pl.Series:
    """The VND value of each row's ``est_unbilled_kwh_month`` at the tariff in force ``on``.

    0 where no energy is at stake; null for every row when no tariff is in force ``on``
    (the ranking is still wanted: a price is an addition to it), with one note. A bad
    tariff table (``AMI_TARIFFS``) still raises.
    """
    tariffs = load_tariffs(settings=settings)
    try:
        tariff_on(on, tariffs=tariffs)
    except NoDataError as exc:  # the table starts after ``on``: the only NoDataError there
        add_note(notes, f"est_unbilled_vnd_month left empty: {exc.message}; to price it, "
                 f"{exc.fix}")
        return pl.Series("unbilled_vnd", [None] * scored.height, dtype=pl.Float64)
    priced = scored.select(
        "customer_group",
        billed_kwh_month=pl.col("kwh_day_recent").fill_null(0.0) * MONTH_DAYS,
        unbilled_kwh_month=pl.col("est_unbilled_kwh_month"),
    )
    return unbilled_vnd(priced, on=on, tariffs=tariffs)


def note_unlisted_meters(
    signals: pl.DataFrame, meters: pl.DataFrame | None, notes: list[str] | None
) -> None:
    """Note the scored meters a given meters table does not list (scored without topology).

    An empty table is no table (readings only, as without ``--meters``): nothing to note.
    """
    if meters is None or meters.is_empty() or notes is None or "meter_id" not in meters.columns:
        return
    listed = meters.select(pl.col("meter_id").cast(pl.String))
    unlisted = signals.select("meter_id").join(listed, on="meter_id", how="anti")["meter_id"]
    if unlisted.len():
        examples = ", ".join(unlisted.head(3).to_list()) + (", …" if unlisted.len() > 3 else "")
        add_note(notes, f"{unlisted.len()} scored meter(s) are not in the meters table "
                 f"({examples}): ranked without topology (peer group 'other', no transformer) "
                 "and priced as households; add them to the meters table to use theirs")


def _note_too_few_labels(signals: pl.DataFrame, labels: pl.DataFrame, model: AnomalyScorer,
                         *, on: date, notes: list[str] | None) -> None:
    """Note why inspection outcomes that were given trained no supervised model."""
    memory = model.label_memory_days
    inspected = _labels_in_memory(signals.select("meter_id", "window_end"),
                                  _latest_labels(labels), timedelta(days=memory))
    thefts = int((inspected["outcome"] == InspectionOutcome.THEFT).sum())
    others = inspected.height - thefts
    add_note(notes, f"model unsupervised: among the scored meters, {thefts} theft(s) and "
             f"{others} other outcome(s) were inspected in the {memory} days up to {on}; "
             f"learning from inspections needs at least {MIN_CLASS_LABELS} of each")


def _note_no_loss_link(signals: pl.DataFrame, *, on: date, notes: list[str] | None) -> None:
    """Note a topology whose transformer day losses do not reach the window (no LOSS_LINK)."""
    if "loss_corr" not in signals.columns or "transformer_id" not in signals.columns:
        return
    if signals["transformer_id"].is_not_null().any() and signals["loss_corr"].is_null().all():
        add_note(notes, "LOSS_LINK left out: no meter has "
                 f"{MIN_LOSS_DAYS} days with both its energy and its transformer's day loss in "
                 f"the window up to {on} (day losses come from the transformer total meters' "
                 "readings, in the warehouse from the gold day balances)")
