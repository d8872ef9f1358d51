"""Silver meters: the customer-system dimension typed, with validity periods (SCD 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from ami.errors import InputError
from ami.instants import HINT, instant, problem
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole, texts
from quality.parse import flag, number, optional
from quality.sources import current_files, scan_bronze
from warehouse import Warehouse, write_table
from warehouse.layout import CMIS_DATASET, CMIS_METERS_TABLE
from warehouse.schemas import schema_of
from warehouse.state import read_manifest

#: Start of validity for rows that give none [UTC].
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)

METER_ROLES = texts(MeterRole)
CUSTOMER_GROUPS = texts(CustomerGroup)

SCHEMA = schema_of("meters").polars


def parse_meters(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed meters from raw bronze rows; raises on rows that would corrupt balances.

    Raises:
        InputError: unknown role, missing meter id or transformer, bad validity period or
            overlapping periods of one meter — naming the file, row and column.

    """
    typed = raw.select(
        pl.col("meter_id").str.strip_chars(),
        optional(raw, "customer_id"),
        pl.col("meter_role").str.strip_chars().str.to_lowercase(),
        optional(raw, "customer_group").str.strip_chars().str.to_lowercase(),
        pl.col("transformer_id").str.strip_chars(),
        optional(raw, "feeder_id"), optional(raw, "branch_id"), optional(raw, "commune"),
        number("contracted_kw") if "contracted_kw" in raw.columns
        else pl.lit(None, pl.Float64).alias("contracted_kw"),
        number("solar_kwp") if "solar_kwp" in raw.columns
        else pl.lit(None, pl.Float64).alias("solar_kwp"),
        flag("dr_participant").fill_null(False) if "dr_participant" in raw.columns
        else pl.lit(False).alias("dr_participant"),
        instant("valid_from").fill_null(BEGINNING) if "valid_from" in raw.columns
        else pl.lit(BEGINNING).alias("valid_from"),
        instant("valid_to") if "valid_to" in raw.columns
        else pl.lit(None, pl.Datetime("us", "UTC")).alias("valid_to"),
        optional(raw, "network_node"),
        optional(raw, "tags").str.strip_chars().str.to_lowercase(),
        pl.col("_file"), pl.col("_row"), optional(raw, "_invalid"),
    )
    for column in ("valid_from", "valid_to"):  # an unreadable period is never guessed
        if column not in raw.columns:
            continue
        given = raw.with_columns(instant(column).alias("_at")).filter(
            pl.col(column).str.strip_chars().fill_null("") != "")
        bad = given.filter(pl.col("_at").is_null())
        if bad.height:
            first = bad.row(0, named=True)
            raise InputError(f"{column} {problem(first[column])} ({bad.height} row(s))",
                             file=first["_file"], row=first["_row"], column=column, fix=HINT)
    malformed = typed.filter(pl.col("_invalid").is_not_null())
    if malformed.height:
        first = malformed.row(0, named=True)
        raise InputError(f"{first['_invalid']} ({malformed.height} row(s))",
                         file=first["_file"], row=first["_row"])
    problems = [
        (pl.col("meter_id").fill_null("") == "", "meter_id",
         "meter_id is empty", "give every row a meter id"),
        (~pl.col("meter_role").is_in(METER_ROLES), "meter_role",
         "unknown meter_role", f"use one of {', '.join(METER_ROLES)}"),
        (pl.col("transformer_id").fill_null("") == "", "transformer_id",
         "transformer_id is empty", "name the transformer (TBA) the meter hangs on"),
        ((pl.col("meter_role") == MeterRole.CUSTOMER)
         & ~pl.col("customer_group").is_in(CUSTOMER_GROUPS), "customer_group",
         "unknown customer_group", f"use one of {', '.join(CUSTOMER_GROUPS)}"),
        (pl.col("valid_to").is_not_null() & (pl.col("valid_to") <= pl.col("valid_from")),
         "valid_to", "valid_to is not after valid_from", "fix the validity period"),
    ]
    for failed, column, message, fix in problems:
        bad = typed.filter(failed)
        if bad.height:
            first = bad.row(0, named=True)
            raise InputError(f"{message} ({bad.height} row(s))", file=first["_file"],
                             row=first["_row"], column=column, fix=fix)
    typed = typed.sort("meter_id", "valid_from")
    overlap = typed.filter(
        (pl.col("meter_id") == pl.col("meter_id").shift(1))
        & (pl.col("valid_to").shift(1).is_null()
           | (pl.col("valid_to").shift(1) > pl.col("valid_from")))
    )
    if overlap.height:
        first = overlap.row(0, named=True)
        raise InputError(
            f"meter {first['meter_id']} has overlapping validity periods",
            file=first["_file"], row=first["_row"], column="valid_from",
            fix="close the earlier period (valid_to) at or before the next valid_from",
        )
    return typed.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]


def meters_valid_on(meters: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Meter rows whose validity overlaps the half-open period [start, end)."""
    return meters.filter(
        (pl.col("valid_from") < end)
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") > start))
    )


def build_meters(*, settings: Settings) -> int:
    """Rebuild silver meters; returns the row count.

    The customer system (CMIS, bronze ``cmis/meters``) is the authority when it has been
    loaded: the latest version of each (meter, validity start) counts. Otherwise the
    current ``meters*`` files of the landing zone are used. With neither, the table is
    written empty: the warehouse runs on readings alone (every meter that reports is
    taken as a customer meter of unknown group, and no balance has a topology).
    """
    warehouse = Warehouse.at(settings.warehouse)
    cmis = warehouse.bronze_parts(CMIS_DATASET, CMIS_METERS_TABLE)
    raw: pl.DataFrame | None
    if cmis:
        raw = latest_versions(warehouse.scan_files(cmis).collect())
        sources = {"cmis": str(raw["_dlt_load_id"].max())}
    else:
        files = current_files(read_manifest(warehouse), "meters")
        raw = scan_bronze(warehouse, "meters", files).collect() if files else None
        sources = files
    meters = parse_meters(raw) if raw is not None else pl.DataFrame(schema=SCHEMA)
    write_table(meters, "meters", warehouse=warehouse, sort_by=("meter_id", "valid_from"),
                sources=sources)
    build_transformers(warehouse)
    return meters.height


def build_transformers(warehouse: Warehouse) -> int:
    """Silver transformers from the current ``transformers*`` files (latest row wins).

    Returns the row count (0, and no table, when none has been delivered).
    """
    files = current_files(read_manifest(warehouse), "transformers")
    if not files:
        return 0
    raw = scan_bronze(warehouse, "transformers", files).collect()
    typed = raw.select(
        pl.col("transformer_id").str.strip_chars(), number("rated_kva"),
        *[number(c) if c in raw.columns else pl.lit(None, pl.Float64).alias(c)
          for c in ("fixed_loss_kw", "load_loss_kw")],
        pl.col("_file"), pl.col("_row"), pl.col("_dlt_load_id").cast(pl.String))
    checks = {
        "transformer_id": pl.col("transformer_id").fill_null("") == "",
        "rated_kva": ~(pl.col("rated_kva") > 0).fill_null(value=False),
        "fixed_loss_kw": (pl.col("fixed_loss_kw") < 0).fill_null(value=False),
        "load_loss_kw": (pl.col("load_loss_kw") < 0).fill_null(value=False),
    }
    for column, failed in checks.items():
        bad = typed.filter(failed)
        if bad.height:
            first = bad.row(0, named=True)
            raise InputError(
                f"{bad.height} transformer row(s) with a bad {column}", file=str(first["_file"]),
                row=int(first["_row"]), column=column,
                fix="give transformer_id, rated_kva > 0 (a number) and losses in kW ≥ 0")
    latest = typed.sort("_dlt_load_id", "_row").unique("transformer_id", keep="last")
    frame = latest.select("transformer_id", "rated_kva", "fixed_loss_kw", "load_loss_kw")
    write_table(frame, "transformers", warehouse=warehouse, sort_by=("transformer_id",),
                sources=files)
    return frame.height


def latest_versions(raw: pl.DataFrame) -> pl.DataFrame:
    """The last loaded version of each (meter_id, valid_from) of incremental CMIS rows."""
    return (
        raw.with_columns(pl.col(c).cast(pl.String) for c in ("_dlt_load_id", "_source", "_file")
                         if c in raw.columns)
        .sort("_dlt_load_id", "_row")
        .unique(["meter_id", "valid_from"], keep="last", maintain_order=True)
    )
