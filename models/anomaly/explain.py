"""The reasons of each scored meter: the evidence each reason code names, in two languages.

``reason_columns`` turns rows of ``AnomalyScorer.score`` into ``reason_codes`` and the
Vietnamese ``reasons`` / English ``reasons_en`` texts: the suspicious codes whose rule
scored at least ``REASON_MIN_SCORE``, by contribution, then the caveats that explain
(``_caveats``), each filled with its evidence numbers (``_evidence``). The templates are
``reasons.py``'s table.
"""

from __future__ import annotations

import polars as pl

from models.anomaly.reasons import GROUP_VI, OUTCOME_VI, fmt_number, reason_expr
from models.anomaly.rules import SCORED_CODES

# A suspicious rule is named in the reasons from this rule score on [0-1].
REASON_MIN_SCORE = 0.1


def reason_columns(scored: pl.DataFrame, *, timezone: str, recent_days: int) -> pl.DataFrame:
    """Reason codes and Vietnamese / English texts for each row of ``score`` output."""
    evidence = {lang: _evidence(lang, timezone, recent_days) for lang in ("vi", "en")}
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
