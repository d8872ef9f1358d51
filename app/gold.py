"""What the review app reads from the warehouse, cached until the tables change.

Province-wide frames (the scored meters with their place in the grid, the losses of a
month at one level, the monthly trend) are built once and kept in memory; each knows the
tables it came from and is rebuilt when one of them changes (``_signature``: the data
files' names, sizes and modification times, looked at most every ``CHECK_SECONDS``). A
meter's own history (its days, events, VEE findings, inspections) is read on demand with
a filter on the meter, which Parquet's row-group statistics turn into a few small reads.

Only gold and silver are read (the layering test keeps bronze out of ``app/``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from ami.errors import NoDataError
from ami.settings import Settings
from models.anomaly.inspections import read_inspections
from models.losses import read_losses
from warehouse import Warehouse
from warehouse.schemas import schema_of

#: How often a cached frame checks whether its tables changed [s].
CHECK_SECONDS = 5.0
#: Months of the trend charts.
TREND_MONTHS = 13
LEVELS = ("province", "branch", "feeder", "transformer")

# Score bands of the queue filter: (label, lowest score, highest score exclusive).
BANDS: dict[str, tuple[str, float, float]] = {
    "high": ("Cao (≥ 0,8)", 0.8, 1.01),
    "medium": ("Trung bình (0,5–0,8)", 0.5, 0.8),
    "low": ("Thấp (< 0,5)", 0.0, 0.5),
}
PLACE_COLUMNS = ("meter_id", "customer_id", "meter_role", "customer_group", "transformer_id",
                 "feeder_id", "branch_id", "commune")


@dataclass
class _Entry:
    signature: tuple[Any, ...]
    checked: float
    value: Any


@dataclass(frozen=True)
class QueueFilter:
    """The anomaly queue's filter; ``branches`` None = every branch the user sees."""

    branches: tuple[str, ...] | None = None
    branch: str | None = None
    transformer: str | None = None
    group: str | None = None
    reason: str | None = None
    band: str | None = None
    sort: str = "score"


class Gold:
    """Cached reads of the warehouse for the app (one per app process, thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.warehouse = Warehouse.at(settings.warehouse)
        self._cache: dict[tuple[Any, ...], _Entry] = {}
        self._lock = threading.RLock()  # a build may read another cached frame

    # --- caching -----------------------------------------------------------------------
    def _signature(self, tables: tuple[str, ...]) -> tuple[Any, ...]:
        """Names, sizes and modification times of the tables' data files."""
        fs = self.warehouse.fs
        parts: list[Any] = []
        for table in tables:
            folder = self.warehouse.table_dir(table)
            try:
                found = fs.find(folder, detail=True) if fs.exists(folder) else {}
            except FileNotFoundError:
                found = {}
            parts.extend(sorted(
                (name, info.get("size"), str(info.get("mtime") or info.get("LastModified")))
                for name, info in found.items() if name.endswith(".parquet")))
        return tuple(parts)

    def _cached(self, key: tuple[Any, ...], tables: tuple[str, ...],
                build: Callable[[], Any]) -> Any:
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is not None and now - entry.checked < CHECK_SECONDS:
            return entry.value
        signature = self._signature(tables)
        if entry is not None and entry.signature == signature:
            entry.checked = now
            return entry.value
        with self._lock:  # one build at a time; others wait for it rather than repeat it
            entry = self._cache.get(key)
            if entry is not None and entry.signature == signature:
                return entry.value
            value = build()
            self._cache[key] = _Entry(signature, time.monotonic(), value)
            return value

    def _exists(self, table: str) -> bool:
        return bool(self.warehouse.glob(self.warehouse.table_dir(table) + "/**/*.parquet")) \
            or self.warehouse.exists(self.warehouse.data_file(table))

    # --- the grid ----------------------------------------------------------------------
    def meters(self) -> pl.DataFrame:
        """Each meter's current row (latest validity) with its place in the grid."""
        def build() -> pl.DataFrame:
            if not self._exists("meters"):
                return pl.DataFrame(schema=dict.fromkeys(PLACE_COLUMNS, pl.String))
            return (self.warehouse.scan("meters")
                    .sort("meter_id", pl.col("valid_from"))
                    .group_by("meter_id", maintain_order=True).last()
                    .select(PLACE_COLUMNS).collect())
        return self._cached(("meters",), ("meters",), build)

    def transformer_places(self) -> pl.DataFrame:
        """transformer_id → feeder_id, branch_id (from the meters below it)."""
        def build() -> pl.DataFrame:
            return (self.meters().drop_nulls("transformer_id")
                    .group_by("transformer_id")
                    .agg(pl.col("feeder_id").mode().first(), pl.col("branch_id").mode().first(),
                         pl.col("meter_id").filter(pl.col("meter_role") == "customer")
                         .len().alias("n_meters"))
                    .sort("transformer_id"))
        return self._cached(("places",), ("meters",), build)

    def branches(self) -> list[str]:
        """Every branch id, sorted."""
        return sorted(b for b in self.meters()["branch_id"].unique().to_list() if b)

    def feeders(self, branches: tuple[str, ...] | None = None) -> list[str]:
        """Feeder ids (of ``branches`` when given), sorted."""
        places = self.transformer_places()
        if branches is not None:
            places = places.filter(pl.col("branch_id").is_in(branches))
        return sorted(f for f in places["feeder_id"].unique().to_list() if f)

    # --- losses ------------------------------------------------------------------------
    def months(self) -> list[str]:
        """Months with balances, oldest first."""
        return self._cached(("months",), ("balance_month",),
                            lambda: self.warehouse.partitions("balance_month", "month"))

    def month_or_latest(self, month: str | None) -> str:
        """``month`` when it has balances, else the latest; NoDataError when none has."""
        months = self.months()
        if not months:
            raise NoDataError("no balances yet", fix="run `ami ingest` or `make demo`")
        if month is None:
            return months[-1]
        if month not in months:
            raise NoDataError(f"no balances for {month}",
                              fix=f"pick one of {', '.join(months)}")
        return month

    def losses(self, month: str, level: str) -> pl.DataFrame:
        """``models.losses.read_losses`` of the month and level (transformers with place)."""
        def build() -> pl.DataFrame:
            frame = read_losses(month, level, settings=self.settings)
            if level == "transformer":
                frame = frame.join(self.transformer_places(), left_on="node_id",
                                   right_on="transformer_id", how="left")
            return frame
        return self._cached(("losses", month, level),
                            ("balance_month", "balance_day", "meters"), build)

    def trend(self, level: str, nodes: tuple[str, ...] | None = None) -> pl.DataFrame:
        """The last ``TREND_MONTHS`` months' loss rate of a level's nodes."""
        def build() -> pl.DataFrame:
            months = self.months()[-TREND_MONTHS:]
            if not months:
                return pl.DataFrame(schema={"node_id": pl.String, "month": pl.String,
                                            "loss_pct": pl.Float64})
            return (self.warehouse.scan("balance_month")
                    .filter((pl.col("level") == level) & pl.col("month").is_in(months))
                    .select("node_id", "month", "loss_pct", "energy_in_kwh", "loss_kwh",
                            "reliable")
                    .sort("node_id", "month").collect())
        frame = self._cached(("trend", level), ("balance_month",), build)
        return frame if nodes is None else frame.filter(pl.col("node_id").is_in(nodes))

    def transformer_days(self, transformer_id: str) -> pl.DataFrame:
        """A transformer's daily balances, oldest first."""
        def build() -> pl.DataFrame:
            return (self.warehouse.scan("balance_day")
                    .filter(pl.col("level") == "transformer")
                    .select("node_id", "date", "energy_in_kwh", "energy_out_kwh", "loss_kwh",
                            "loss_pct", "technical_loss_kwh", "non_technical_kwh",
                            "measured_share", "reliable")
                    .sort("node_id", "date").collect())
        days = self._cached(("transformer_days",), ("balance_day",), build)
        return days.filter(pl.col("node_id") == transformer_id)

    # --- the anomaly queue -------------------------------------------------------------
    def scores(self) -> pl.DataFrame:
        """Scored meters with their transformer, feeder and branch, by rank."""
        def build() -> pl.DataFrame:
            if not self._exists("anomaly_scores"):
                return pl.DataFrame(schema={"meter_id": pl.String, "rank": pl.Int64,
                                            "score": pl.Float64, "branch_id": pl.String,
                                            "transformer_id": pl.String,
                                            "feeder_id": pl.String,
                                            "customer_group": pl.String,
                                            "reason_codes": pl.List(pl.String),
                                            "est_unbilled_vnd_month": pl.Float64,
                                            "est_unbilled_kwh_month": pl.Float64,
                                            "reasons": pl.String, "customer_id": pl.String,
                                            "change_day": pl.Date})
            places = self.meters().select("meter_id", "customer_id", "transformer_id",
                                          "feeder_id", "branch_id", "commune")
            scores = self.warehouse.scan("anomaly_scores").collect()
            # A table written under an older schema lacks the newer columns until rescored.
            scores = scores.with_columns(
                pl.lit(None, dtype).alias(name)
                for name, dtype in schema_of("anomaly_scores").polars.items()
                if name not in scores.columns)
            return scores.join(places, on="meter_id", how="left").sort("rank")
        return self._cached(("scores",), ("anomaly_scores", "meters"), build)

    def queue(self, where: QueueFilter) -> pl.DataFrame:
        """The scored meters passing ``where``, sorted as it says."""
        frame = self.scores()
        conditions: list[pl.Expr] = []
        if where.branches is not None:
            conditions.append(pl.col("branch_id").is_in(where.branches))
        for column, value in (("branch_id", where.branch),
                              ("transformer_id", where.transformer),
                              ("customer_group", where.group)):
            if value:
                conditions.append(pl.col(column) == value)
        if where.reason:
            conditions.append(pl.col("reason_codes").list.contains(where.reason))
        if where.band in BANDS:
            _, low, high = BANDS[where.band]
            conditions.append(pl.col("score").is_between(low, high, closed="left"))
        if conditions:
            frame = frame.filter(pl.all_horizontal(conditions))
        if where.sort == "vnd":
            frame = frame.sort(pl.col("est_unbilled_vnd_month").fill_null(-1.0), "rank",
                               descending=[True, False])
        return frame

    def reason_codes(self) -> list[str]:
        """Reason codes that occur in the scores, sorted."""
        return self._cached(("codes",), ("anomaly_scores",), lambda: sorted(
            self.scores()["reason_codes"].explode().drop_nulls().unique().to_list()))

    def groups(self) -> list[str]:
        """Customer groups that occur in the scores, sorted."""
        return sorted(g for g in self.scores()["customer_group"].unique().to_list() if g)

    # --- one meter ---------------------------------------------------------------------
    def meter(self, meter_id: str) -> dict[str, Any] | None:
        """The meter's current row in the meters table, or None."""
        rows = self.meters().filter(pl.col("meter_id") == meter_id)
        return rows.row(0, named=True) if rows.height else None

    def meter_score(self, meter_id: str) -> dict[str, Any] | None:
        """The meter's row of the anomaly scores, or None (not scored)."""
        rows = self.scores().filter(pl.col("meter_id") == meter_id)
        return rows.row(0, named=True) if rows.height else None

    def _meter_rows(self, table: str, column: str, meter_id: str,
                    extra: pl.Expr | None = None) -> pl.DataFrame:
        if not self._exists(table):
            return pl.DataFrame()
        condition = pl.col(column) == meter_id
        if extra is not None:
            condition &= extra
        return self.warehouse.scan(table).filter(condition).collect()

    def meter_days(self, meter_id: str) -> pl.DataFrame:
        """The meter's days: measured kWh and its peers' median kWh that day.

        ``level`` in ``anomaly_days`` is the log of the day's energy over the peers'
        median, so the median is ``kwh / exp(level)``.
        """
        days = self._meter_rows("anomaly_days", "meter_id", meter_id)
        if days.is_empty():
            return pl.DataFrame(schema={"date": pl.String, "kwh": pl.Float64,
                                        "peer_kwh": pl.Float64})
        return days.select(
            "date", "kwh",
            peer_kwh=pl.when(pl.col("kwh") > 0).then(pl.col("kwh") / pl.col("level").exp()),
        ).sort("date")

    def meter_events(self, meter_id: str) -> pl.DataFrame:
        """The meter's events, latest first."""
        frame = self._meter_rows("events", "meter_id", meter_id)
        return frame.sort("event_at", descending=True) if frame.height else frame

    def meter_findings(self, meter_id: str) -> pl.DataFrame:
        """The VEE findings of the meter, latest first."""
        frame = self._meter_rows("findings", "node_id", meter_id, pl.col("level") == "meter")
        return frame.sort("first_interval_end", descending=True) if frame.height else frame

    def meter_inspections(self, meter_id: str) -> pl.DataFrame:
        """What crews found at the meter, latest first."""
        table = read_inspections(self.warehouse)
        if table is None:
            return pl.DataFrame()
        return table.filter(pl.col("meter_id") == meter_id).sort("inspected_at",
                                                                 descending=True)

    def transformer_meters(self, transformer_id: str) -> pl.DataFrame:
        """The customer meters below a transformer with their score, by rank."""
        meters = self.meters().filter((pl.col("transformer_id") == transformer_id)
                                      & (pl.col("meter_role") == "customer"))
        scores = self.scores().select("meter_id", "rank", "score", "est_unbilled_vnd_month",
                                      "reason_codes")
        return meters.join(scores, on="meter_id", how="left").sort(
            pl.col("rank").is_null(), "rank", "meter_id")


def last_day(frame: pl.DataFrame, column: str = "date") -> date | None:
    """The latest ISO day of a frame's column (None when empty)."""
    if frame.is_empty():
        return None
    return date.fromisoformat(str(frame[column].max())[:10])
