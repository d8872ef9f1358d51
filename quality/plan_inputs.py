"""Silver inputs of the savings plan: daily temperature and demand-response events.

``temperature*`` files give the daily mean air temperature by local date (°C), for the
weather-normalised baseline; ``dr_events*`` files give each demand-response window and its
participants. Both are reference data: a row that would corrupt a verdict (an unreadable
date or instant, a temperature outside −30…50 °C, a window that ends before it starts, a
participant the customer system does not know, two windows of one participant that
overlap) stops the build with a message naming the file, row and column, as the meters do.
Several files may cover the same date or event: the latest delivered row wins.
"""

from __future__ import annotations

import polars as pl

from ami.errors import InputError
from ami.instants import HINT, instant
from ami.settings import Settings
from quality.parse import number, optional
from quality.sources import current_files, scan_bronze
from warehouse import Warehouse, write_table
from warehouse.state import read_manifest

#: Plausible daily mean air temperature in Vietnam, with margin [°C].
TEMPERATURE_RANGE = (-30.0, 50.0)
#: Separators of the participants list of a DR event.
PARTICIPANT_SEPARATORS = r"[;, ]+"


def _first_problem(frame: pl.DataFrame, failed: pl.Expr, *, column: str, message: str,
                   fix: str) -> None:
    """Raise for the first row of ``frame`` where ``failed`` holds."""
    bad = frame.filter(failed)
    if bad.height:
        first = bad.row(0, named=True)
        raise InputError(f"{message} ({bad.height} row(s))", file=str(first["_file"]),
                         row=int(first["_row"]), column=column, fix=fix)


def _latest(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The latest delivered row per key (load id, then row number)."""
    return frame.sort("_dlt_load_id", "_row").unique(key, keep="last", maintain_order=True)


def build_temperature(warehouse: Warehouse) -> int:
    """Silver ``temperature`` from the current ``temperature*`` files; returns its rows."""
    files = current_files(read_manifest(warehouse), "temperature")
    if not files:
        return 0
    raw = scan_bronze(warehouse, "temperature", files).collect()
    typed = raw.select(
        pl.col("date").cast(pl.String).str.strip_chars().alias("text"),
        pl.col("date").cast(pl.String).str.strip_chars()
        .str.to_date("%Y-%m-%d", strict=False).alias("date"),
        number("temp_c_mean"), pl.col("_file"), pl.col("_row"),
        pl.col("_dlt_load_id").cast(pl.String))
    _first_problem(typed, pl.col("date").is_null(), column="date",
                   message="date is not a YYYY-MM-DD day", fix="write the local day, e.g. "
                                                               "2026-10-01")
    low, high = TEMPERATURE_RANGE
    _first_problem(typed, ~pl.col("temp_c_mean").is_between(low, high).fill_null(value=False),
                   column="temp_c_mean",
                   message=f"temp_c_mean is missing or outside {low:g}…{high:g} °C",
                   fix="give the daily mean air temperature in °C (a number); leave a day "
                       "out rather than guess it")
    frame = _latest(typed, ["date"]).select("date", "temp_c_mean").sort("date")
    write_table(frame, "temperature", warehouse=warehouse, sort_by=("date",), sources=files)
    return frame.height


def build_dr_events(warehouse: Warehouse) -> int:
    """Silver ``dr_events`` (event × participant) from the current ``dr_events*`` files.

    Participants come from the file's ``participants`` column (meter ids separated by
    ``;``, ``,`` or spaces); an event without that column or with it empty takes every
    meter the customer system marks ``dr_participant``. Returns the row count.
    """
    files = current_files(read_manifest(warehouse), "dr_events")
    if not files:
        return 0
    raw = scan_bronze(warehouse, "dr_events", files).collect()
    typed = raw.select(
        pl.col("event_id").cast(pl.String).str.strip_chars(),
        instant("start_at"), instant("end_at"),
        optional(raw, "participants").cast(pl.String).str.strip_chars().alias("participants"),
        (number("target_kw") if "target_kw" in raw.columns
         else pl.lit(None, pl.Float64).alias("target_kw")),
        pl.col("_file"), pl.col("_row"), pl.col("_dlt_load_id").cast(pl.String))
    _first_problem(typed, pl.col("event_id").fill_null("") == "", column="event_id",
                   message="event_id is empty", fix="give every DR event an id")
    for column in ("start_at", "end_at"):
        _first_problem(typed, pl.col(column).is_null(), column=column,
                       message=f"{column} is not an instant with its zone", fix=HINT)
    _first_problem(typed, pl.col("end_at") <= pl.col("start_at"), column="end_at",
                   message="end_at is not after start_at", fix="fix the DR window")
    events = _latest(typed, ["event_id"])
    meters = warehouse.scan("meters").select("meter_id", "dr_participant").collect()
    enrolled = meters.filter(pl.col("dr_participant"))["meter_id"].unique().sort()
    rows = events.with_columns(
        pl.when(pl.col("participants").fill_null("") == "")
        .then(pl.lit(enrolled.to_list(), pl.List(pl.String)))
        .otherwise(pl.col("participants").str.replace_all(PARTICIPANT_SEPARATORS, ";")
                   .str.split(";"))
        .alias("meter_id")).explode("meter_id").filter(pl.col("meter_id").fill_null("") != "")
    known = set(meters["meter_id"].to_list())
    _first_problem(rows, ~pl.col("meter_id").is_in(list(known)), column="participants",
                   message="a DR participant is not a meter of the customer system",
                   fix="list meter ids that the meters file (or CMIS) has, or correct the id")
    ordered = rows.sort("meter_id", "start_at")
    _first_problem(
        ordered,
        (pl.col("meter_id") == pl.col("meter_id").shift(1))
        & (pl.col("start_at") < pl.col("end_at").shift(1)),
        column="start_at", message="two DR windows of one participant overlap",
        fix="merge the events or correct their windows (a meter takes part in one event "
            "at a time)")
    frame = ordered.select("event_id", "start_at", "end_at", "meter_id", "target_kw") \
        .sort("event_id", "meter_id")
    write_table(frame, "dr_events", warehouse=warehouse, sort_by=("event_id", "meter_id"),
                sources=files)
    return frame.height


def build_plan_inputs(*, settings: Settings) -> dict[str, int]:
    """Silver temperature and DR events from the landing zone; the row count of each."""
    warehouse = Warehouse.at(settings.warehouse)
    return {"temperature": build_temperature(warehouse),
            "dr_events": build_dr_events(warehouse)}

