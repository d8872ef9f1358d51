"""The inputs of the anomaly signals as they are read: the window, readings and topology.

The analysed window of local days (``Window``: the history, the recent days and the same
season last year), interval readings in canonical dtypes (``normalise_readings``: any
regular resolution, naive instants taken as UTC), each meter's resolution when the
readings do not give it, one row per meter and instant, and the meters table row valid at
an instant (``current_topology``, ``topology_on``). ``signals.py`` and the evidence
modules read their inputs through these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from ami.errors import InputError, NoDataError
from ami.settings import Settings
from ami.vocabulary import MeterRole, Quality

# --- module constants (candidates for Settings; not there yet) ------------------------
# Days of history before the recent window that form the baseline [d].
HISTORY_DAYS = 90
# The same season last year: the recent window 52 weeks earlier, so weekdays line up.
LAST_YEAR = timedelta(weeks=52)

REQUIRED_COLUMNS = ("meter_id", "interval_end", "kwh_import")


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


# --- input checks and normalisation ---------------------------------------------------


def normalise_readings(readings: pl.LazyFrame) -> pl.LazyFrame:
    """Canonical dtypes: UTC timestamps, Float64 energies; optional columns filled."""
    schema = readings.collect_schema()
    for column in REQUIRED_COLUMNS:
        if column not in schema:
            raise InputError(
                "readings lack a required column",
                column=column,
                fix=f"provide {', '.join(REQUIRED_COLUMNS)} (the canonical names of the "
                f"README's data contract); "
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
    # transformer-wide zero vote (bins.blank_common_outages), not by the readings' rule.
    return readings.select(columns)


def resolve_as_of(lf: pl.LazyFrame, as_of: datetime | None) -> datetime:
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


def with_interval_minutes(lf: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
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


def is_measured() -> pl.Expr:
    """An interval without data fault: measured, with a value."""
    return (pl.col("quality") == Quality.MEASURED) & pl.col("kwh_import").is_not_null()


def deduplicate(lf: pl.LazyFrame) -> pl.LazyFrame:
    """One row per meter and instant: duplicated rows never double-count energy."""
    return lf.group_by("meter_id", "interval_end").agg(
        pl.col("interval_minutes").max(),
        pl.col("kwh_import").mean(),
        pl.col("kwh_export").mean(),
        measured=is_measured().all(),
    )


def current_topology(
    meters: pl.DataFrame, as_of: datetime, *, strict: bool = False
) -> pl.DataFrame:
    """The meters row valid at ``as_of`` (else the latest one, unless ``strict``), per meter."""
    if "meter_id" not in meters.columns:
        raise InputError(
            "meters table lacks a required column",
            column="meter_id",
            fix="provide the CMIS meters export with the canonical columns of the README's "
            "data contract",
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


def topology_on(meters: pl.DataFrame | None, instant: datetime) -> pl.DataFrame | None:
    """The meter rows valid at ``instant`` (none for meters not yet or no longer valid)."""
    if meters is None:
        return None
    return current_topology(meters, instant, strict=True).sort("meter_id")


def topology_digest(meters: pl.DataFrame | None, instant: datetime) -> str:
    """A checksum of the topology valid at ``instant``: day bins depend on nothing else."""
    topo = topology_on(meters, instant)
    if topo is None:
        return ""
    return hashlib.sha256(topo.write_csv().encode()).hexdigest()
