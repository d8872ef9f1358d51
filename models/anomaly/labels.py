"""Inspection outcomes as the theft scorer reads them: validated, latest, remembered.

``validate_labels`` types a table of outcomes (``meter_id``, ``inspected_at``,
``outcome``; optionally ``recovered_kwh`` and ``note``) or raises ``InputError`` naming the
bad row; the scorer keeps each meter's latest outcome (``latest_labels``) and reads only
those inspected within its memory up to the window's end (``labels_in_memory``).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ami.errors import InputError
from ami.instants import instant
from ami.vocabulary import InspectionOutcome

LABEL_OUTCOMES = tuple(str(outcome) for outcome in InspectionOutcome)
# The supervised model needs at least this many thefts and as many other outcomes.
MIN_CLASS_LABELS = 5


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
                "billing_error / no_issue) as in the README's 'Landing zone and data contract'",
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


def latest_labels(labels: pl.DataFrame) -> pl.DataFrame:
    """The latest validated inspection outcome of each meter."""
    return (
        validate_labels(labels)
        .sort("meter_id", "inspected_at")
        .unique(subset="meter_id", keep="last", maintain_order=True)
    )


def labels_in_memory(frame: pl.DataFrame, labels: pl.DataFrame,
                     memory: timedelta) -> pl.DataFrame:
    """Rows of ``frame`` with their meter's outcome inspected in ``memory`` up to window_end."""
    return frame.join(labels, on="meter_id", how="inner").filter(
        (pl.col("inspected_at") <= pl.col("window_end"))
        & (pl.col("inspected_at") > pl.col("window_end") - memory)
    )
