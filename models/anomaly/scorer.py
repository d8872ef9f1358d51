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

The rules and the forest's features are in ``rules.py``, the supervised model in
``supervised.py`` (inspection outcomes read by ``labels.py``), the reason texts in
``explain.py`` and the notes in ``notes.py``; this module fits and combines them.

The score is bounded 0-1 and monotone in the evidence; it is a priority, not a probability.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Self

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from sklearn.ensemble import IsolationForest

from ami.errors import NoDataError
from ami.settings import Settings
from ami.tariffs import load_tariffs, tariff_on, unbilled_vnd
from ami.vocabulary import InspectionOutcome
from models.anomaly.evidence import with_evidence
from models.anomaly.explain import reason_columns
from models.anomaly.labels import latest_labels
from models.anomaly.notes import (
    add_note,
    note_no_loss_link,
    note_too_few_labels,
    note_unlisted_meters,
)
from models.anomaly.readings import Window, normalise_readings
from models.anomaly.registers import day_energy_from_readings
from models.anomaly.rules import (
    DEFAULT_RULE_WEIGHTS,
    RULE_CODES,
    WINDOW_RULE_SHARE,
    forest_features,
    ramp,
    rule_scores,
    suspicious_direction,
)
from models.anomaly.signals import compute_signals
from models.anomaly.supervised import SupervisedModel

# The key of the forest fitted on every meter (a group too small for its own).
POOLED = "__pooled__"
# Unbilled energy is estimated only when an energy-losing rule scores at least this [0-1].
ESTIMATE_MIN_SCORE = 0.25
# Rules whose pattern loses energy (SHAPE only moves it in time).
ENERGY_RULES = ("DROP", "SEASON_DROP", "ZERO", "PARTIAL_ZERO", "FLAT", "VARIANCE", "ROUGH")
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
    "change_day",
)


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
        x = forest_features(signals)
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
            latest = latest_labels(labels)
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
            s_ISOLATION=ramp(pl.col("isolation"), *self.isolation_range)
            * suspicious_direction().cast(pl.Float64)
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
        return reason_columns(scored, timezone=self.timezone, recent_days=self.recent_days)

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
        x = forest_features(signals)
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
        note_too_few_labels(signals, labels, model.label_memory_days, on=on, notes=notes)
    note_no_loss_link(signals, on=on, notes=notes)
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
