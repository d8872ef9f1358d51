"""A real readings file for the VEE evaluation: read, typed, and cut to complete local days.

Used by both real-data modes of ``ami vee evaluate --readings``: the fault injection
(``quality.inject``) and the clean measurement (``quality.evaluate_clean``). A text that
is not a number or an instant is refused with the file, row and column named: the
evaluation measures VEE's rules, not the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from ami.errors import ConfigError, InputError
from ami.instants import HINT, instant, problem
from ami.settings import Settings
from quality.days import day_bounds

#: The canonical readings columns a real file must have (``interval_minutes`` optional).
READING_COLUMNS = ("meter_id", "interval_end", "interval_minutes", "kwh_import")


@dataclass(frozen=True)
class DataWindow:
    """The complete local days of a real readings file that an evaluation used."""

    source: str            # file name
    meters: int            # meters with a row in the window
    first_day: date
    last_day: date
    rows: int              # rows of the file inside the window
    interval_minutes: int

    @property
    def days(self) -> int:
        """Local days of the window."""
        return (self.last_day - self.first_day).days + 1


def _read_raw(path: Path) -> pl.DataFrame:
    """A readings file as stored: CSV (optionally gzip) as text, Parquet as typed."""
    name = path.name.lower()
    fix = "give a readings file (.csv, .csv.gz or .parquet) in the canonical columns " \
          f"{', '.join(READING_COLUMNS)}"
    if not path.is_file():
        raise InputError("no such file", file=str(path), fix=fix)
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read ({exc})", file=str(path), fix=fix) from None
    raise InputError("is neither CSV nor Parquet", file=str(path), fix=fix)


def first_bad(frame: pl.DataFrame, bad: pl.Expr, column: str, message: str, *, path: Path,
              fix: str) -> None:
    """Raise an ``InputError`` naming the first row where ``bad`` holds, if any."""
    rows = frame.filter(bad)
    if rows.height:
        first = rows.row(0, named=True)
        raise InputError(f"{message} ({rows.height:,} row(s))", file=str(path),
                         row=int(first["_row"]), column=column, fix=fix)


def _typed_readings(raw: pl.DataFrame, path: Path) -> pl.DataFrame:
    """``meter_id``, ``interval_end`` (UTC), ``interval_minutes``, ``kwh_import`` and ``_row``.

    An empty ``kwh_import`` is a gap; a text that is not a number or an instant is refused
    (the evaluation measures VEE's rules, not the parser). ``interval_minutes`` is taken
    from the column, or else from the most common step between a meter's readings.
    """
    missing = [c for c in READING_COLUMNS if c != "interval_minutes" and c not in raw.columns]
    if missing:
        raise InputError(f"has no column {', '.join(map(repr, missing))}", file=str(path),
                         column=missing[0], fix="give the canonical columns "
                         f"{', '.join(READING_COLUMNS)} (interval_minutes may be left out)")

    def text(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.String).str.strip_chars()

    kwh = pl.col("kwh_import")
    if raw.schema["kwh_import"] == pl.String:
        kwh = pl.when(text("kwh_import") != "").then(text("kwh_import"))
    minutes = (text("interval_minutes").cast(pl.Int64, strict=False)
               if "interval_minutes" in raw.columns else pl.lit(None, pl.Int64))
    typed = raw.with_row_index("_row", offset=1).select(
        "_row", text("meter_id").alias("meter_id"),
        instant("interval_end").alias("interval_end"),
        text("interval_end").alias("_ts_text"),
        kwh.cast(pl.Float64, strict=False).alias("kwh_import"),
        kwh.is_not_null().alias("_has_kwh"),
        minutes.alias("interval_minutes"),
        (text("interval_minutes").fill_null("") != "").alias("_has_minutes")
        if "interval_minutes" in raw.columns else pl.lit(False).alias("_has_minutes"),
    )
    first_bad(typed, pl.col("meter_id").fill_null("") == "", "meter_id", "meter_id is empty",
              path=path, fix="give every row a meter id")
    bad = typed.filter(pl.col("interval_end").is_null())
    if bad.height:
        first = bad.row(0, named=True)
        raise InputError(f"{problem(first['_ts_text'])} ({bad.height:,} row(s))",
                         file=str(path), row=int(first["_row"]), column="interval_end", fix=HINT)
    first_bad(typed, pl.col("_has_kwh") & pl.col("kwh_import").is_null(), "kwh_import",
              "kwh_import is not a number", path=path,
              fix="write the energy as a decimal number [kWh] with a point, or leave it empty "
                   "for a gap")
    first_bad(typed, pl.col("_has_minutes") & ~(pl.col("interval_minutes") > 0),
              "interval_minutes", "interval_minutes is not a positive whole number",
              path=path, fix="give the interval length in minutes, e.g. 30")
    if not typed["_has_minutes"].all():
        steps = typed.sort("meter_id", "interval_end").select(
            pl.col("interval_end").diff().over("meter_id").dt.total_minutes()
            .alias("step")).filter(pl.col("step") > 0)["step"]
        step = int(steps.mode().min()) if steps.len() else None  # type: ignore[arg-type]
        typed = typed.with_columns(pl.col("interval_minutes").fill_null(step))
    return typed.drop("_ts_text", "_has_kwh", "_has_minutes")


def _cadence(typed: pl.DataFrame, path: Path, *, required: int | None) -> int:
    """The file's one interval length [min]; ``required`` refuses any other."""
    found = typed["interval_minutes"].drop_nulls().unique().sort().to_list()
    if len(found) != 1:
        raise InputError(
            f"holds {'no' if not found else 'mixed'} interval lengths {found} [min]",
            file=str(path), column="interval_minutes",
            fix="give one meter cadence per file (split the file by interval_minutes)")
    minutes = int(found[0])
    if required is not None and minutes != required:
        raise InputError(
            f"holds {minutes}-minute readings: the fault injection supports only "
            f"{required}-minute data for now", file=str(path), column="interval_minutes",
            fix=f"resample the file to {required} minutes (sum the energy of each "
                f"{required}-minute interval), or measure it as delivered with --clean")
    return minutes


def _window(typed: pl.DataFrame, minutes: int, days: int | None, path: Path, *,
            settings: Settings) -> tuple[date, date]:
    """First and last complete local day of the file, the last ``days`` of them.

    A day is complete when the file spans it from local midnight to midnight (intervals
    are labelled by their end: the interval ending at midnight belongs to the day before).
    """
    if days is not None and days < 1:
        raise ConfigError(f"days must be at least 1, got {days}",
                          fix="give --days N with N ≥ 1, or leave it out for every day")
    earliest, covered_to = typed.select(pl.col("interval_end").min().alias("a"),
                                        pl.col("interval_end").max().alias("b")).row(0)
    covered_from = earliest - timedelta(minutes=minutes)
    first = covered_from.astimezone(settings.tz).date()
    if day_bounds(first.isoformat(), settings)[0] < covered_from:
        first += timedelta(days=1)
    last = (covered_to - timedelta(microseconds=1)).astimezone(settings.tz).date()
    if day_bounds(last.isoformat(), settings)[1] > covered_to:
        last -= timedelta(days=1)
    if days is not None:
        first = max(first, last - timedelta(days=days - 1))
    if last < first:
        raise InputError(f"spans no complete local day in {settings.timezone} "
                         f"({covered_from:%Y-%m-%d %H:%M} – {covered_to:%Y-%m-%d %H:%M} UTC)",
                         file=str(path), fix="give a file that covers at least one local day "
                         "from midnight to midnight, or set AMI_TIMEZONE to the data's zone")
    return first, last


def _in_window(first: date, last: date, *, settings: Settings) -> pl.Expr:
    """Rows whose interval ends inside the local days ``first`` … ``last``."""
    start, end = day_bounds(first.isoformat(), settings)[0], day_bounds(last.isoformat(),
                                                                        settings)[1]
    return (pl.col("interval_end") > start) & (pl.col("interval_end") <= end)


def read_real_window(path: Path, *, days: int | None, settings: Settings,
                     required_minutes: int | None) -> tuple[pl.DataFrame, pl.DataFrame, DataWindow]:
    """A real readings file: its raw rows and its typed rows inside the window, and the window."""
    path = Path(path)
    raw = _read_raw(path)
    typed = _typed_readings(raw, path)
    if typed.height == 0:
        raise InputError("holds no readings", file=str(path),
                         fix="give a file with at least one day of readings")
    minutes = _cadence(typed, path, required=required_minutes)
    first, last = _window(typed, minutes, days, path, settings=settings)
    mask = typed.select(_in_window(first, last, settings=settings)).to_series()
    inside = typed.filter(mask)
    window = DataWindow(source=path.name, meters=inside["meter_id"].n_unique(),
                        first_day=first, last_day=last, rows=inside.height,
                        interval_minutes=minutes)
    return raw.filter(mask), inside, window
