"""The schema of every silver and gold table, declared once, with units.

``write_partition`` conforms each frame to its table's schema: columns in the declared
order and types (a lossless cast is allowed, e.g. Int32 → Int64 or an all-null column),
and a frame with a missing, extra or incompatible column is refused with a message that
names the table and the column. Changing a schema is an explicit migration: raise the
table's ``version`` and add the step that rewrites older partitions to
``warehouse.migrations.MIGRATIONS``; ``ami warehouse migrate`` applies it and the catalog
records each partition's version.

Units: ``kWh`` energy, ``kW`` power, ``kWp`` solar peak, ``min`` minutes, ``%`` percent,
``0-1`` a share, ``UTC`` an instant (microseconds, UTC). Silver and gold never hold local
times; local dates are the partition keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ami.errors import TerminalError

UTC_US = pl.Datetime("us", "UTC")


class SchemaError(TerminalError):
    """A frame does not fit its table's declared schema."""


@dataclass(frozen=True)
class Column:
    """One column: name, type, unit ("" when none) and meaning."""

    name: str
    dtype: pl.DataType
    unit: str
    doc: str


@dataclass(frozen=True)
class TableSchema:
    """A table's columns (partition keys excluded) and its schema version."""

    name: str
    grain: str                # one row per …
    columns: tuple[Column, ...]
    version: int = 1
    time_column: str | None = None  # whose min/max the catalog records
    #: Rows per Parquet row group: large enough for scans, small enough for per-meter reads
    #: (a reader filtering on the sort key skips the row groups it does not need).
    row_group_rows: int = 512 * 1024

    @property
    def polars(self) -> dict[str, pl.DataType]:
        """Column name → Polars type, in the declared order."""
        return {c.name: c.dtype for c in self.columns}

    def empty(self) -> pl.DataFrame:
        """A frame with no rows and this schema."""
        return pl.DataFrame(schema=self.polars)

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with the declared columns, order and types; SchemaError otherwise."""
        declared = self.polars
        missing = [c for c in declared if c not in frame.columns]
        extra = [c for c in frame.columns if c not in declared]
        if missing or extra:
            raise SchemaError(
                f"rows for table {self.name} do not fit its schema (version {self.version}):"
                + (f" missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else ""),
                fix="a schema change is a migration: declare it in warehouse/schemas.py and "
                    "add the step to warehouse/migrations.py")
        out = []
        for name, dtype in declared.items():
            column = frame[name]
            if column.dtype != dtype:
                try:
                    column = column.cast(dtype, strict=True)
                except pl.exceptions.PolarsError:
                    raise SchemaError(
                        f"column {name} of table {self.name} is {column.dtype}, the schema "
                        f"says {dtype}",
                        fix="convert the value where it is computed, or migrate the "
                            "schema (warehouse/schemas.py, warehouse/migrations.py)") from None
            out.append(column)
        return pl.DataFrame(out)


def _c(name: str, dtype: pl.DataType, unit: str = "", doc: str = "") -> Column:
    return Column(name, dtype, unit, doc)


S, F, I32, I64, B = pl.String(), pl.Float64(), pl.Int32(), pl.Int64(), pl.Boolean()

_COUNTS = (
    _c("n_intervals", I64, "", "intervals of the period"),
    _c("n_measured", I64, "", "of them measured"),
    _c("n_estimated", I64, "", "of them estimated by VEE"),
    _c("n_edited", I64, "", "of them edited by hand"),
    _c("n_missing", I64, "", "of them missing"),
)
_BALANCE = (
    _c("level", S, "", "transformer | feeder | branch | province"),
    _c("node_id", S, "", "the node's id"),
    _c("period", S, "", "YYYY-MM-DD or YYYY-MM"),
    _c("energy_in_kwh", F, "kWh", "energy received (total meter, solar export below)"),
    _c("energy_out_kwh", F, "kWh", "energy delivered to customers"),
    _c("loss_kwh", F, "kWh", "in − out"),
    _c("loss_pct", F, "%", "loss / in × 100"),
    _c("technical_loss_kwh", F, "kWh", "technical part (power flow or estimate)"),
    _c("technical_method", S, "", "power_flow | estimate | estimate_default | mixed"),
    _c("non_technical_kwh", F, "kWh", "loss − technical (negative: flagged, not clipped)"),
    _c("measured_share", F, "0-1", "share of the energy in and out that was measured, a "
                                   "missing reading counting as unmeasured (models.figures)"),
    _c("reliable", B, "", "a total meter and a measured share at or above the completeness "
                          "threshold"),
    _c("n_intervals", I64, "", "readings behind the balance (meter × interval)"),
    _c("n_measured", I64, "", "of them measured"),
    _c("n_missing", I64, "", "of them missing (no value)"),
    _c("measured_kwh", F, "kWh", "of the energy in + out, the part that measured readings "
                                 "recorded"),
    _c("has_total_meter", B, "", "the node has a total meter"),
    _c("days", I32, "d", "days covered"),
    _c("flags", S, "", "no_total_meter, negative_loss, negative_non_technical, "
                       "partial_period (comma-separated)"),
)

TABLES: dict[str, TableSchema] = {t.name: t for t in (
    TableSchema("readings", "meter × interval", (
        _c("meter_id", S, "", "meter id (CMIS)"),
        _c("interval_end", UTC_US, "UTC", "end of the interval"),
        _c("interval_minutes", I32, "min", "interval length"),
        _c("kwh_import", F, "kWh", "energy imported in the interval"),
        _c("kwh_export", F, "kWh", "energy exported (rooftop solar)"),
        _c("quality", S, "", "measured | estimated | edited | missing"),
        _c("rule", S, "", "the VEE rule or estimation method behind the value"),
    ), time_column="interval_end"),
    TableSchema("quarantine", "rejected input row", (
        _c("meter_id", S, "", "as received"),
        _c("interval_end", S, "", "as received"),
        _c("kwh_import", S, "kWh", "as received (text)"),
        _c("kwh_export", S, "kWh", "as received (text)"),
        _c("rule", S, "", "the rule that rejected the row"),
        _c("reason", S, "", "what is wrong and what to do"),
        _c("_file", S, "", "landing file (or API load)"),
        _c("_row", I64, "", "row number in the file (1 = first data row)"),
        _c("_dlt_load_id", S, "", "the load that delivered the row"),
    )),
    TableSchema("findings", "finding (a run of intervals, a meter-day, a transformer-day)", (
        _c("level", S, "", "meter | transformer | province"),
        _c("node_id", S, "", "meter or transformer id"),
        _c("rule", S, "", "the VEE rule"),
        _c("first_interval_end", UTC_US, "UTC", "first interval concerned"),
        _c("last_interval_end", UTC_US, "UTC", "last interval concerned"),
        _c("n_intervals", I32, "", "intervals concerned"),
        _c("action", S, "", "rejected | flagged | quarantined | dropped | estimated | …"),
        _c("evidence", S, "", "the numbers behind the finding"),
    )),
    TableSchema("events", "meter event (local day of the event: the partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("event_at", UTC_US, "UTC", "when the meter logged it"),
        _c("event_code", S, "", "the head-end's code, normalised (ami.vocabulary)"),
        _c("category", S, "", "tamper | reverse | power_off | clock (empty: none)"),
    ), time_column="event_at"),
    TableSchema("registers", "meter × register read bounding or inside the local day", (
        _c("meter_id", S, "", "meter id"),
        _c("read_at", UTC_US, "UTC", "instant of the read (both midnights of the day "
                                     "included: a day's delta needs them)"),
        _c("register_kwh_import", F, "kWh", "cumulative import register"),
        _c("register_kwh_export", F, "kWh", "cumulative export register"),
    ), time_column="read_at"),
    TableSchema("quality_day", "meter or transformer × day", (
        _c("level", S, "", "meter | transformer"),
        _c("node_id", S, "", "meter or transformer id"),
        *_COUNTS,
        _c("completeness", F, "0-1", "(measured + edited) / intervals"),
        _c("estimated_share", F, "0-1", "estimated / intervals"),
        _c("kwh_import", F, "kWh", "energy of the day"),
        _c("kwh_measured", F, "kWh", "of it measured"),
        _c("kwh_per_interval", F, "kWh", "mean measured interval energy"),
        _c("kwh_p25", F, "kWh", "25th percentile of the measured interval energy (the "
                                "meter's base load; empty for transformers)"),
        _c("kwh_max", F, "kWh", "largest measured interval energy (empty for transformers)"),
        _c("n_findings", I64, "", "findings of the day"),
        _c("rules", S, "", "rules that found something, comma-separated"),
    ), version=2),
    TableSchema("edits", "manual correction", (
        _c("edit_id", S, "", "id of the edit"),
        _c("meter_id", S, "", "meter corrected"),
        _c("first_interval_end", UTC_US, "UTC", "first interval corrected"),
        _c("last_interval_end", UTC_US, "UTC", "last interval corrected"),
        _c("kwh_import", F, "kWh", "new import per interval"),
        _c("kwh_export", F, "kWh", "new export per interval"),
        _c("edited_by", S, "", "who"),
        _c("edited_at", UTC_US, "UTC", "when"),
        _c("reason", S, "", "why"),
    )),
    TableSchema("edit_log", "edited interval", (
        _c("edit_id", S, "", "the edit applied"),
        _c("meter_id", S, "", "meter"),
        _c("interval_end", UTC_US, "UTC", "interval"),
        _c("original_kwh_import", F, "kWh", "value before the edit"),
        _c("original_kwh_export", F, "kWh", "value before the edit"),
        _c("original_quality", S, "", "quality before the edit"),
        _c("original_rule", S, "", "rule before the edit"),
        _c("new_kwh_import", F, "kWh", "value after the edit"),
        _c("new_kwh_export", F, "kWh", "value after the edit"),
        _c("edited_by", S, "", "who"),
        _c("edited_at", UTC_US, "UTC", "when"),
        _c("reason", S, "", "why"),
    )),
    TableSchema("meters", "meter × validity period", (
        _c("meter_id", S, "", "meter id"),
        _c("customer_id", S, "", "customer (empty for grid meters)"),
        _c("meter_role", S, "", "customer | transformer_total | feeder_head | boundary"),
        _c("customer_group", S, "", "residential | commercial | production | …"),
        _c("transformer_id", S, "", "transformer (TBA) the meter is below"),
        _c("feeder_id", S, "", "feeder"),
        _c("branch_id", S, "", "branch (Điện lực)"),
        _c("commune", S, "", "commune (xã)"),
        _c("contracted_kw", F, "kW", "contracted capacity"),
        _c("solar_kwp", F, "kWp", "rooftop solar peak power"),
        _c("dr_participant", B, "", "takes part in demand response"),
        _c("valid_from", UTC_US, "UTC", "validity start"),
        _c("valid_to", UTC_US, "UTC", "validity end (empty: still valid)"),
        _c("network_node", S, "", "bus in the low-voltage network model"),
        _c("tags", S, "", "customer-system tags, comma-separated (e.g. advertising: "
                          "outdoor advertising lighting)"),
    ), version=2),
    TableSchema("transformers", "distribution transformer (TBA)", (
        _c("transformer_id", S, "", "transformer id"),
        _c("rated_kva", F, "kVA", "rating"),
        _c("fixed_loss_kw", F, "kW", "technical loss below the total meter at no load"),
        _c("load_loss_kw", F, "kW", "technical loss below the total meter at rated load, "
                                    "less the fixed part"),
    )),
    TableSchema("meter_day", "meter × local day", (
        _c("meter_id", S, "", "meter id"),
        _c("kwh_import", F, "kWh", "energy imported in the day"),
        _c("kwh_export", F, "kWh", "energy exported in the day"),
        *_COUNTS,
        _c("measured_share", F, "0-1", "measured / intervals (of this meter's day; the "
                                       "balances' measured share is energy-weighted)"),
    )),
    TableSchema("balance_interval", "node × interval", (
        *_BALANCE[:3], _c("interval_end", UTC_US, "UTC", "end of the interval"),
        *_BALANCE[3:]), version=2, time_column="interval_end"),
    TableSchema("balance_day", "node × local day", _BALANCE, version=3),
    TableSchema("balance_month", "node × month", _BALANCE, version=3),
    TableSchema("anomaly_hours", "meter × local hour of the day (the partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("hour", I32, "h", "local start hour of the bin, 0-23"),
        _c("interval_minutes", I32, "min", "interval length"),
        _c("n_valid", I32, "", "intervals with a value"),
        _c("n_measured", I32, "", "of them measured"),
        _c("kwh", F, "kWh", "energy imported (null: the transformer was off)"),
        _c("hours_valid", F, "h", "hours the values cover"),
        _c("kwh_peak", F, "kWh", "of it in the evening peak 17:30-22:30"),
        _c("n_peak", I32, "", "intervals with a value in the evening peak"),
        _c("export", F, "kWh", "energy exported"),
        _c("kw_max", F, "kW", "highest interval power"),
        _c("kwh_spread", F, "kWh", "largest minus smallest interval energy in the hour"),
    ), row_group_rows=24 * 2500),
    TableSchema("anomaly_days", "customer meter × local day (the partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("n_valid", I32, "", "measured intervals of the day"),
        _c("kwh", F, "kWh", "measured energy imported"),
        _c("level", F, "-", "log day energy minus its peers' median that day"),
        _c("zero_share", F, "0-1", "share of intervals at zero"),
        _c("roughness", F, "-", "median |Δ log energy| between consecutive intervals"),
        _c("smoothness", F, "-", "lag-1 rank autocorrelation of the energy"),
        _c("repeat_share", F, "0-1", "share of intervals equal to the one before (non-zero)"),
        _c("peer_shape", F, "-", "rank correlation of its hours with its peers' (±2 h)"),
        _c("evening_share", F, "0-1", "share of the energy 17:00-22:00 local"),
        _c("morning_share", F, "0-1", "share of the energy 04:00-09:00 local"),
    # Sorted by meter, in row groups of a few thousand meters: the change point reads the
    # whole history a block of meters at a time, and each block's filter then skips the
    # other row groups of every day (a day in one row group was read whole ~15 times).
    ), row_group_rows=10_000),
    TableSchema("anomaly_scores", "customer meter", (
        _c("meter_id", S, "", "meter id"),
        _c("score", F, "0-1", "calibrated suspicion"),
        _c("rank", I64, "", "1 = most suspicious"),
        _c("reasons", S, "", "reasons in Vietnamese"),
        _c("reason_codes", pl.List(S), "", "reason codes"),
        _c("reasons_en", S, "", "reasons in English"),
        _c("est_unbilled_kwh_month", F, "kWh", "energy at stake per month"),
        _c("est_unbilled_vnd_month", F, "VND", "its value at the customer's tariff, "
                                               "excluding VAT"),
        _c("customer_group", S, "", "customer group"),
        _c("model", S, "", "unsupervised | supervised (learnt from inspections)"),
        _c("change_day", pl.Date(), "", "first local day after the meter's most significant "
                                        "change (empty: none found)"),
    ), version=3),
    TableSchema("temperature", "local day", (
        _c("date", pl.Date(), "", "local day"),
        _c("temp_c_mean", F, "°C", "daily mean air temperature"),
    )),
    TableSchema("dr_events", "demand-response event × participant", (
        _c("event_id", S, "", "event id"),
        _c("start_at", UTC_US, "UTC", "window start"),
        _c("end_at", UTC_US, "UTC", "window end"),
        _c("meter_id", S, "", "participating meter"),
        _c("target_kw", F, "kW", "reduction asked of the event (empty: not given)"),
    )),
    TableSchema("savings_groups", "level × node × customer group (month partition)", (
        _c("level", S, "", "province | branch | commune"),
        _c("node_id", S, "", "province, branch id or commune name"),
        _c("customer_group", S, "", "customer group, or all"),
        _c("period", S, "", "YYYY-MM"),
        _c("consumption_kwh", F, "kWh", "energy taken from the grid in the month"),
        _c("baseline_kwh", F, "kWh", "the same month last year (empty: no history)"),
        _c("savings_pct", F, "%", "(baseline − consumption) / baseline; positive = saved"),
        _c("ytd_kwh", F, "kWh", "year to date"),
        _c("ytd_baseline_kwh", F, "kWh", "the same part of last year"),
        _c("ytd_savings_pct", F, "%", "year-to-date savings"),
        _c("target_pct", F, "%", "the plan's savings target"),
        _c("met", B, "", "savings ≥ target (empty: no baseline)"),
        _c("export_kwh", F, "kWh", "rooftop-solar export in the month (not savings)"),
        _c("meters", pl.UInt32(), "", "meters with consumption in the month"),
        _c("new_meters", I64, "", "of them without data in the same month last year"),
        _c("note", S, "", "no_history | new_meters | empty"),
    )),
    TableSchema("savings_normalised", "customer group (month partition)", (
        _c("customer_group", S, "", "customer group, or all"),
        _c("period", S, "", "YYYY-MM"),
        _c("meters", I64, "", "meters of the group"),
        _c("meters_sampled", I64, "", "of them in the seeded sample"),
        _c("meters_fitted", I64, "", "of them with a sufficient CalTRACK baseline"),
        _c("consumption_kwh", F, "kWh", "the fitted meters' consumption in the month"),
        _c("baseline_kwh", F, "kWh", "their weather-normalised baseline"),
        _c("savings_pct", F, "%", "ratio estimate; positive = saved"),
        _c("verdict", S, "", "ok | insufficient_data"),
        _c("reasons", S, "", "why the baseline is not usable"),
    )),
    TableSchema("savings_baselines", "customer meter (baseline-year partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("verdict", S, "", "ok | insufficient_data"),
        _c("reasons", S, "", "data-sufficiency disqualifications (JSON list)"),
        _c("model_json", S, "", "the fitted opendsm daily model"),
        _c("holiday_factor", F, "", "actual / predicted on the baseline's holidays"),
        _c("cvrmse", F, "", "in-sample CV(RMSE)"),
        _c("nmbe", F, "", "in-sample NMBE"),
    )),
    TableSchema("savings_peak_day", "level × node × local day (month partition)", (
        _c("level", S, "", "province | branch"),
        _c("node_id", S, "", "province id or branch id"),
        _c("date", pl.Date(), "", "local day"),
        _c("peak_mw", F, "MW", "highest coincident customer demand in 17:30–22:30"),
        _c("peak_at", UTC_US, "UTC", "end of that half hour"),
        _c("n_meters", I64, "", "customer meters with a value in the window"),
        _c("measured_share", F, "0-1", "minutes with a value / minutes of the window's rows"),
    )),
    TableSchema("savings_peak_month", "level × node (month partition)", (
        _c("level", S, "", "province | branch"),
        _c("node_id", S, "", "province id or branch id"),
        _c("period", S, "", "YYYY-MM"),
        _c("peak_mw", F, "MW", "the month's highest evening peak"),
        _c("peak_date", pl.Date(), "", "its local day"),
        _c("peak_at", UTC_US, "UTC", "end of its half hour"),
        _c("mean_daily_peak_mw", F, "MW", "mean of the daily evening peaks"),
        _c("days", I64, "d", "days with a peak"),
        _c("last_year_peak_mw", F, "MW", "the same month last year (empty: no data)"),
        _c("change_pct", F, "%", "change against last year"),
    )),
    TableSchema("savings_dr", "DR event × participant (month partition)", (
        _c("event_id", S, "", "event id"),
        _c("meter_id", S, "", "participant"),
        _c("date", pl.Date(), "", "local day of the event"),
        _c("start_at", UTC_US, "UTC", "window start"),
        _c("end_at", UTC_US, "UTC", "window end"),
        _c("window_hours", F, "h", "window length"),
        _c("actual_kwh", F, "kWh", "energy in the window"),
        _c("baseline_kwh", F, "kWh", "mean of the same window on up to 10 preceding "
                                     "non-event days of the same day type"),
        _c("baseline_days_used", I64, "d", "days in that mean"),
        _c("adjustment", F, "", "day-of adjustment: the hours before the event over the "
                                "like days' (capped 0.6–1.4; baseline_kwh includes it)"),
        _c("reduction_kw", F, "kW", "(baseline − actual) / window hours"),
        _c("target_kw", F, "kW", "reduction asked of the event"),
        _c("verdict", S, "", "ok | insufficient_data"),
        _c("reason", S, "", "why the reduction is not given"),
    )),
    TableSchema("savings_dr_events", "DR event (month partition)", (
        _c("event_id", S, "", "event id"),
        _c("start_at", UTC_US, "UTC", "window start"),
        _c("end_at", UTC_US, "UTC", "window end"),
        _c("participants", I64, "", "participating meters"),
        _c("participants_ok", I64, "", "of them with a trusted reduction"),
        _c("reduction_mw", F, "MW", "Σ trusted reductions"),
        _c("committed_mw", F, "MW", "Σ target_kw"),
        _c("target_mw", F, "MW", "the plan's 30 MW"),
        _c("met", B, "", "reduction ≥ target"),
    )),
    TableSchema("savings_solar", "level × node (month partition)", (
        _c("level", S, "", "province | branch"),
        _c("node_id", S, "", "province id or branch id"),
        _c("solar_meters", I64, "", "customer meters with rooftop solar at month end"),
        _c("solar_kwp", F, "kWp", "their capacity"),
        _c("export_kwh", F, "kWh", "their export in the month (not savings)"),
        _c("households", I64, "", "residential meters"),
        _c("households_with_solar", I64, "", "of them with solar"),
        _c("household_share", F, "0-1", "share of households with solar"),
        _c("household_share_pct", F, "%", "the same in %"),
        _c("offices", I64, "", "state-office meters"),
        _c("offices_with_solar", I64, "", "of them with solar"),
        _c("office_share", F, "0-1", "share of offices with solar"),
        _c("office_share_pct", F, "%", "the same in %"),
        _c("new_kwp_this_year", F, "kWp", "solar first appearing this year, to month end"),
        _c("new_kwp_target", F, "kWp", "the plan's 20 MW (province row)"),
        _c("new_kwp_met", B, "", "new ≥ target (province row)"),
        _c("share_target", F, "0-1", "the plan's ~10 % (province row)"),
        _c("household_share_met", B, "", "household share ≥ target (province row)"),
        _c("office_share_met", B, "", "office share ≥ target (province row)"),
    )),
    TableSchema("savings_lighting", "public-lighting meter (month partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("period", S, "", "YYYY-MM"),
        _c("night_kw", F, "kW", "mean power 23:00–04:00"),
        _c("evening_kw", F, "kW", "mean power 19:00–23:00"),
        _c("night_ratio", F, "", "night_kw / evening_kw"),
        _c("compliant", B, "", "night_ratio ≤ 0.55 (50 % + 5 points of tolerance)"),
        _c("reason", S, "", "why no ratio"),
        _c("lit_kw", F, "kW", "mean power while lit"),
        _c("last_year_evening_kw", F, "kW", "evening power, same month last year"),
        _c("all_hours_ratio", F, "", "lit_kw / last year's evening power (May–July)"),
        _c("all_hours_compliant", B, "", "all_hours_ratio ≤ 0.55"),
        _c("all_hours_reason", S, "", "why no all-hours verdict"),
    )),
    TableSchema("savings_advertising", "advertising-lighting meter (month partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("period", S, "", "YYYY-MM"),
        _c("peak_kw", F, "kW", "mean power in the evening peak 17:30–22:30"),
        _c("last_year_peak_kw", F, "kW", "the same, same month last year"),
        _c("cut_pct", F, "%", "cut against last year"),
        _c("compliant", B, "", "cut ≥ 50 % (May–July)"),
        _c("verdict", S, "", "compliant | not_compliant | not_applicable | "
                             "insufficient_data"),
    )),
    TableSchema("savings_plan", "target × scope × method (month partition)", (
        _c("target_id", S, "", "target id"),
        _c("target", S, "", "the plan's target, in Vietnamese"),
        _c("scope", S, "", "customer group, province or tag"),
        _c("period", S, "", "YYYY-MM"),
        _c("figure", F, "", "the month's figure (empty: insufficient data)"),
        _c("unit", S, "", "unit of figure and threshold"),
        _c("threshold", F, "", "the plan's threshold (empty: watched, no threshold)"),
        _c("comparison", S, "", ">= | <= | empty"),
        _c("verdict", S, "", "met | not_met | insufficient_data | not_applicable | info"),
        _c("method", S, "", "same_period | caltrack_daily | … (how the figure is made)"),
        _c("note", S, "", "what is missing or what the figure covers"),
    )),
    TableSchema("savings_large", "consumer ≥ 500,000 kWh a year (month partition)", (
        _c("meter_id", S, "", "meter id"),
        _c("customer_group", S, "", "customer group"),
        _c("branch_id", S, "", "branch"),
        _c("period", S, "", "YYYY-MM"),
        _c("annual_kwh", F, "kWh", "the 12 months to the month's end (annualised if less)"),
        _c("annualised", B, "", "less than a year of data"),
        _c("consumption_kwh", F, "kWh", "the month"),
        _c("baseline_kwh", F, "kWh", "the same month last year"),
        _c("savings_pct", F, "%", "positive = saved"),
        _c("target_pct", F, "%", "the plan's target"),
        _c("met", B, "", "savings ≥ target (empty: no baseline)"),
    )),
    # Entered by loss-reduction teams (README: inspections), not derived from bronze: the only
    # copy of what the crews found. Unpartitioned, like the other small tables.
    TableSchema("inspections", "meter × inspection", (
        _c("meter_id", S, "", "meter inspected"),
        _c("inspected_at", UTC_US, "UTC", "when the crew inspected it"),
        _c("outcome", S, "", "theft | meter_fault | billing_error | no_issue"),
        _c("recovered_kwh", F, "kWh", "energy recovered (back-billed); empty when not given"),
        _c("note", S, "", "the crew's note"),
        _c("source", S, "", "landing file name, cli, or web"),
        _c("recorded_at", UTC_US, "UTC", "when this version of the row was recorded"),
        _c("recorded_by", S, "", "the app user who recorded it (empty: file or cli)"),
        _c("photo_ref", S, "", "reference of the crew's photo (empty: none)"),
    ), version=2, time_column="inspected_at"),
)}


def schema_of(table: str) -> TableSchema:
    """The declared schema of a table."""
    return TABLES[table]
