"""What the review app reads from the warehouse, cached until the tables change.

Province-wide frames (the scored meters with their place in the grid, the losses of a
month at one level, the monthly trend) are built once and kept in memory; each knows the
tables it came from and is rebuilt when one of them changes (``_signature``: the data
files' names, sizes and modification times, looked at most every ``CHECK_SECONDS``). A
meter's own history (its days, events, VEE findings, inspections) is read on demand.
``anomaly_days`` (one row per meter and day, every meter every day) has the two columns
the page shows copied into a local file of fixed-size records (``DayValues``): a meter's
days are then a few bytes read per day, not a row group decoded per day. Events and
findings hold few meters each day: a cached index (each meter's days, ``_meter_index``)
names the day partitions to read, none for most meters.

Only gold and silver are read (the layering test keeps bronze out of ``app/``).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ami.errors import NoDataError
from ami.settings import Settings
from ami.vocabulary import MeterRole
from models.anomaly.inspections import read_inspections
from models.losses import read_losses
from warehouse import Warehouse
from warehouse.layout import DATA_FILE
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


def _increasing(ids: pl.Series) -> bool:
    """Whether ids are strictly increasing (sorted, none twice) and none is null."""
    if ids.null_count():
        return False
    return ids.len() < 2 or bool((ids.slice(1) > ids.slice(0, ids.len() - 1)).all())


@dataclass(frozen=True)
class DayValues:
    """A table's values by meter and day, copied into a local file of fixed-size records.

    For a table with one row per meter and day (``anomaly_days``): day ``d``'s record of
    the ``i``-th of ``meters`` is at ``(d × len(meters) + i) × itemsize`` of ``file``, so
    a meter's history is one read of a few bytes per day (``os.pread``), where filtering
    the table decodes a row group of every day. The file is an unnamed temporary file
    (gone with the process); its pages stay in the page cache, not in the app's memory.
    """

    meters: pl.Series              # every meter of the table, sorted
    days: tuple[str, ...]          # the days (partitions), sorted
    columns: tuple[str, ...]       # the values copied (as Float64)
    file: Any                      # the records (a TemporaryFile, closed when dropped)
    dtype: np.dtype                # a record: the columns, then bit flags

    @classmethod
    def build(cls, paths: dict[str, str], key: str, columns: tuple[str, ...]
              ) -> DayValues | None:
        """Copy ``columns`` of the day files (day → path).

        None when a meter has two rows in a day: only filtering the table gives them all.
        """
        meters = (pl.scan_parquet(list(paths.values())).select(key).unique().sort(key)
                  .collect()[key] if paths else pl.Series(key, [], pl.String))
        # Flags: bit 0 the meter has a row that day, bit k+1 column k is null.
        dtype = np.dtype([*((c, "<f8") for c in columns), ("flags", "u1")])
        file = tempfile.TemporaryFile()  # noqa: SIM115 (kept open as long as the index)
        try:
            for path in paths.values():
                frame = pl.read_parquet(path, columns=[key, *columns])
                if not _increasing(frame[key]):     # written sorted: checked in O(n)
                    frame = frame.sort(key)
                    if not _increasing(frame[key]):
                        file.close()
                        return None
                at = meters.search_sorted(frame[key]).to_numpy()
                records = np.zeros(meters.len(), dtype)
                flags = np.ones(frame.height, np.uint8)
                for bit, column in enumerate(columns, start=1):
                    values = frame[column].cast(pl.Float64)
                    records[column][at] = values.fill_null(0.0).to_numpy()
                    flags |= values.is_null().to_numpy().astype(np.uint8) << bit
                records["flags"][at] = flags
                file.write(records.tobytes())
            file.flush()
        except BaseException:
            file.close()
            raise
        index = cls(meters, tuple(paths), columns, file, dtype)
        weakref.finalize(index, file.close)  # closed (and gone) once no reader holds it
        return index

    def read(self, meter_id: str) -> pl.DataFrame:
        """``date`` and the columns of the meter's rows, by day."""
        schema = {"date": pl.String, **dict.fromkeys(self.columns, pl.Float64)}
        i = self.meters.search_sorted(meter_id)
        if i >= self.meters.len() or self.meters[i] != meter_id:
            return pl.DataFrame(schema=schema)
        size, count, fd = self.dtype.itemsize, self.meters.len(), self.file.fileno()
        data = b"".join(os.pread(fd, size, (day * count + i) * size)
                        for day in range(len(self.days)))
        if len(data) != size * len(self.days):
            raise OSError(f"short read of the {len(self.days)} days' values")
        records = np.frombuffer(data, self.dtype)
        flags = records["flags"]
        frame = pl.DataFrame({"date": list(self.days), **{
            c: pl.Series(c, records[c]).scatter(np.flatnonzero(flags & (2 << k)), None)
            for k, c in enumerate(self.columns)}}, schema=schema)
        return frame.filter(pl.Series(flags & 1 == 1))


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
                         pl.col("meter_id").filter(pl.col("meter_role") == MeterRole.CUSTOMER)
                         .len().alias("n_meters"))
                    .sort("transformer_id"))
        return self._cached(("places",), ("meters",), build)

    def branches(self) -> list[str]:
        """Every branch id, sorted."""
        return self._cached(("branches",), ("meters",), lambda: sorted(
            b for b in self.meters()["branch_id"].unique().to_list() if b))

    def feeders(self, branches: tuple[str, ...] | None = None) -> list[str]:
        """Feeder ids (of ``branches`` when given), sorted."""
        def build() -> dict[str | None, list[str]]:
            places = self.transformer_places().filter(pl.col("feeder_id").is_not_null()
                                                      & (pl.col("feeder_id") != ""))
            by_branch: dict[str | None, list[str]] = {
                branch: sorted(set(feeders)) for branch, feeders in places.group_by(
                    "branch_id").agg("feeder_id").iter_rows()}
            by_branch[None] = sorted(set(places["feeder_id"].to_list()))
            return by_branch
        # Each page asks for them: listed once per branch, not per request.
        by_branch = self._cached(("feeders",), ("meters",), build)
        if branches is None:
            return by_branch[None]
        return sorted({f for b in branches if b is not None for f in by_branch.get(b, [])})

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
        # Filtering keeps the order, and (VND, rank) is a total order: sorting the cached
        # frame once gives the same rows as sorting each filtered one.
        frame = self._scores_by_vnd() if where.sort == "vnd" else self.scores()
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
        return frame

    def _scores_by_vnd(self) -> pl.DataFrame:
        """The scores by VND at stake (unknown last), then rank: sorted once, not per page."""
        return self._cached(("scores", "vnd"), ("anomaly_scores", "meters"), lambda: (
            self.scores().sort(pl.col("est_unbilled_vnd_month").fill_null(-1.0), "rank",
                               descending=[True, False])))

    def reason_codes(self) -> list[str]:
        """Reason codes that occur in the scores, sorted."""
        return self._cached(("codes",), ("anomaly_scores",), lambda: sorted(
            self.scores()["reason_codes"].explode().drop_nulls().unique().to_list()))

    def groups(self) -> list[str]:
        """Customer groups that occur in the scores, sorted."""
        return self._cached(("groups",), ("anomaly_scores", "meters"), lambda: sorted(
            g for g in self.scores()["customer_group"].unique().to_list() if g))

    # --- one meter ---------------------------------------------------------------------
    def meter(self, meter_id: str) -> dict[str, Any] | None:
        """The meter's current row in the meters table, or None."""
        rows = self.meters().filter(pl.col("meter_id") == meter_id)
        return rows.row(0, named=True) if rows.height else None

    def meter_score(self, meter_id: str) -> dict[str, Any] | None:
        """The meter's row of the anomaly scores, or None (not scored)."""
        rows = self.scores().filter(pl.col("meter_id") == meter_id)
        return rows.row(0, named=True) if rows.height else None

    def _meter_index(self, table: str, column: str, level: str | None
                     ) -> tuple[pl.DataFrame, pl.Schema] | None:
        """The days holding each meter's rows of ``table``, and the table's schema.

        ``column, date`` sorted, for tables not sorted by meter (events, findings): a
        meter's read then opens its own few days instead of every day of the province.
        None when the table has no data.
        """
        def build() -> tuple[pl.DataFrame, pl.Schema] | None:
            try:
                scan = self.warehouse.scan(table)
            except FileNotFoundError:
                return None
            if level is not None:
                scan = scan.filter(pl.col("level") == level)
            index = (scan.select(column, "date").drop_nulls().unique()
                     .sort(column, "date").collect())
            return index, scan.collect_schema()
        return self._cached(("meter_index", table, column, level), (table,), build)

    def _meter_rows(self, table: str, column: str, meter_id: str,
                    level: str | None = None) -> pl.DataFrame:
        """A meter's rows of a day-partitioned table (at ``level`` for node tables)."""
        found = self._meter_index(table, column, level)
        if found is None:
            return pl.DataFrame()
        index, schema = found
        ids = index[column]
        first = ids.search_sorted(meter_id, side="left")
        last = ids.search_sorted(meter_id, side="right")
        days = index["date"].slice(first, last - first).to_list()
        if not days:
            return pl.DataFrame(schema=schema)
        condition = pl.col("date").is_in(days) & (pl.col(column) == meter_id)
        if level is not None:
            condition &= pl.col("level") == level
        try:
            return self.warehouse.scan(table).filter(condition).collect()
        except FileNotFoundError:  # the table was removed since the index was built
            return pl.DataFrame(schema=schema)

    def _day_values(self, table: str, columns: tuple[str, ...]) -> DayValues | None:
        """The cached ``DayValues`` of a local table with one row per meter and day."""
        def build() -> DayValues | None:
            if not self.warehouse.local:
                return None
            paths = {f.rsplit("/", 2)[-2].split("=", 1)[1]: f for f in self.warehouse.glob(
                f"{self.warehouse.table_dir(table)}/date=*/{DATA_FILE}")}
            try:
                return DayValues.build(dict(sorted(paths.items())), "meter_id", columns)
            except (OSError, pl.exceptions.PolarsError):  # replaced meanwhile, disk full
                return None
        return self._cached(("day_values", table, columns), (table,), build)

    def meter_days(self, meter_id: str) -> pl.DataFrame:
        """The meter's days: measured kWh and its peers' median kWh that day.

        ``level`` in ``anomaly_days`` is the log of the day's energy over the peers'
        median, so the median is ``kwh / exp(level)``.
        """
        values = self._day_values("anomaly_days", ("kwh", "level"))
        days = values.read(meter_id) if values is not None else None
        if days is None:    # a bucket, or a meter twice in a day
            try:
                # Only the columns shown: the other eight would be decoded for nothing.
                days = (self.warehouse.scan("anomaly_days")
                        .filter(pl.col("meter_id") == meter_id)
                        .select("date", "kwh", "level").collect())
            except FileNotFoundError:
                days = pl.DataFrame()
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
        frame = self._meter_rows("findings", "node_id", meter_id, level="meter")
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
                                      & (pl.col("meter_role") == MeterRole.CUSTOMER))
        # The transformer's few scores first: a join on all the province's would hash them all.
        scores = self.scores().filter(pl.col("meter_id").is_in(meters["meter_id"].implode())) \
            .select("meter_id", "rank", "score", "est_unbilled_vnd_month", "reason_codes")
        return meters.join(scores, on="meter_id", how="left").sort(
            pl.col("rank").is_null(), "rank", "meter_id")

