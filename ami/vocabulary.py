"""The domain's words, defined once: every module imports them from here.

Silver ``quality`` and ``rule`` values, meter roles, customer groups, categories of
head-end events and inspection outcomes are ``StrEnum``s: a member is its text, so it
compares equal to the stored string (``pl.col("quality") == Quality.MEASURED``) and
``pl.lit(Quality.MEASURED)`` is a String literal. A *collection* of members is another
matter: Polars reads a list of enum members as its own Enum dtype, which fails as soon as
a value outside the members turns up. Give Polars collections (``is_in``, ``replace``
mappings, Series, frame columns) as plain text: :func:`texts`.

Head-end event codes are free text from many vendors; :func:`event_category` is the one
place that normalises a code and names its category, for VEE (``quality.channels``) and
for the anomaly evidence (``models.anomaly.evidence``) alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import polars as pl

__all__ = [
    "COUNTED_EVENTS",
    "EVENT_CODES",
    "CustomerGroup",
    "EventCategory",
    "Finding",
    "InspectionOutcome",
    "MeterRole",
    "Quality",
    "Rule",
    "event_category",
    "normalise_event_code",
    "texts",
]


class Quality(StrEnum):
    """Quality of a silver interval value (silver ``quality``)."""

    MEASURED = "measured"
    ESTIMATED = "estimated"
    EDITED = "edited"
    MISSING = "missing"


class Rule(StrEnum):
    """Rule or method VEE names in silver ``rule`` (null: a plain measured value).

    Validation rules flag or reject values; estimation methods say how a value was filled.
    A manual edit writes ``manual_edit:<edit id>`` instead (``quality.edits``). No rule
    marks a supply outage: VEE reports one as a transformer finding
    (``transformer_outage``), and the interval keeps what the meter delivered.
    """

    # why a value is missing or was rejected
    NO_READING = "no_reading"
    NEGATIVE_VALUE = "negative_value"
    OFF_GRID_TIMESTAMP = "off_grid_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNPARSABLE = "unparsable"
    ABSURD_VALUE = "absurd_value"
    SPIKE = "spike"
    OUTSIDE_ACTIVE_PERIOD = "outside_active_period"
    # estimation methods
    LINEAR_INTERPOLATION = "linear_interpolation"
    LINEAR_REGISTER = "linear_register"
    LIKE_DAY = "like_day"
    LIKE_DAY_REGISTER = "like_day_register"
    # flags on measured values (the value is kept)
    FLAT_LINE = "flat_line"
    ZERO_RUN = "zero_run"
    UNKNOWN_METER = "unknown_meter"
    HIGH_VALUE = "high_value"


class Finding(StrEnum):
    """Rules VEE names in ``findings`` and the day's ``quality_day.rules``, not in silver.

    They judge a run of intervals, a meter-day or a transformer-day (the duplicates also
    name quarantined rows), so silver ``rule`` does not carry them. Other layers read them
    there: the anomaly scorer leaves out the days a meter over-registered
    (``MULTIPLIER_JUMP``).
    """

    MISSING_INTERVAL = "missing_interval"
    NO_READINGS_DAY = "no_readings_day"
    NEVER_REPORTING = "never_reporting"
    DUPLICATE_EQUAL = "duplicate_equal"
    DUPLICATE_CONFLICTING = "duplicate_conflicting"
    REVERSE_ENERGY = "reverse_energy"
    REGISTER_MISMATCH = "register_mismatch"
    CLOCK_ADJUSTED = "clock_adjusted"
    MULTIPLIER_JUMP = "multiplier_jump"
    GROUP_HIGH = "group_high"
    GROUP_LOW = "group_low"
    TRANSFORMER_OUTAGE = "transformer_outage"
    TRANSFORMER_DATA_FAULT = "transformer_data_fault"


class MeterRole(StrEnum):
    """What a meter measures (CMIS ``meter_role``): a customer, or a point of the grid."""

    CUSTOMER = "customer"
    TRANSFORMER_TOTAL = "transformer_total"
    FEEDER_HEAD = "feeder_head"
    BOUNDARY = "boundary"


class CustomerGroup(StrEnum):
    """Tariff group of a customer (CMIS ``customer_group``)."""

    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"
    PRODUCTION = "production"
    PUBLIC_ADMIN = "public_admin"
    PUBLIC_LIGHTING = "public_lighting"
    OTHER = "other"


class EventCategory(StrEnum):
    """What a head-end event tells about the meter (the category of its code)."""

    TAMPER = "tamper"
    REVERSE = "reverse"
    POWER_OFF = "power_off"
    CLOCK = "clock"


class InspectionOutcome(StrEnum):
    """What a loss team's inspection found (inspection ``outcome``)."""

    THEFT = "theft"
    METER_FAULT = "meter_fault"
    BILLING_ERROR = "billing_error"
    NO_ISSUE = "no_issue"


def texts(members: Iterable[StrEnum]) -> tuple[str, ...]:
    """The plain text of members, for collections handed to Polars (see the module doc)."""
    return tuple(member.value for member in members)


#: Event code (normalised, see ``normalise_event_code``) → its category. The first code
#: of each group is the canonical one (README: data contract), which the synthetic
#: generator writes (cover_open, magnetic_tamper at a bypass theft's onset; power_off at an outage;
#: clock_adjusted); the others are the text names head-ends commonly export (the DLMS/IDIS
#: fraud-detection log's "terminal cover removed", "meter cover removed", "strong DC field
#: detected"; "power down", "power failure"; DLMS/COSEM "clock adjusted" and kin).
#: Vendor-specific numeric codes (IDIS 40/42/44, 1 = power down) are mapped to these names
#: in the vendor's source profile at ingestion, not here, where they could collide with
#: another vendor's numbers. Every other code has no category: power_on (the end of an
#: outage already told by its power_off), phase_loss (a supply fault as often as
#: tampering) and unknown codes.
EVENT_CODES: dict[str, EventCategory] = {
    **dict.fromkeys(
        (
            "cover_open", "meter_cover_open", "meter_cover_removed", "terminal_cover_open",
            "terminal_cover_removed", "cover_opened", "cover_removed",
            "magnetic_tamper", "magnetic_field", "magnetic_field_detected",
            "magnetic_interference", "strong_dc_field", "strong_dc_field_detected", "tamper",
        ),
        EventCategory.TAMPER,
    ),
    **dict.fromkeys(
        (
            "reverse_current", "reverse_energy", "reverse_power", "reverse_flow",
            "current_reversal", "energy_reversal",
        ),
        EventCategory.REVERSE,
    ),
    **dict.fromkeys(
        ("power_off", "power_down", "power_failure", "power_outage", "outage"),
        EventCategory.POWER_OFF,
    ),
    **dict.fromkeys(
        ("clock_adjusted", "clock_adjust", "time_sync", "clock_set"), EventCategory.CLOCK,
    ),
}

#: Categories that count as theft evidence: a clock set is a data matter, not a crime.
COUNTED_EVENTS = (EventCategory.TAMPER, EventCategory.REVERSE, EventCategory.POWER_OFF)

_CATEGORY_OF_CODE = {code: category.value for code, category in EVENT_CODES.items()}


def normalise_event_code(code: pl.Expr) -> pl.Expr:
    """The comparable form of an event code: trimmed, lower case, words joined by ``_``.

    "Power Down" = "power-down" = "POWER_DOWN" = ``power_down``.
    """
    return (
        code.cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace_all(r"[\s\-]+", "_")
    )


def event_category(code: pl.Expr) -> pl.Expr:
    """The ``EventCategory`` text of a raw event code (normalised here); null when unknown."""
    return normalise_event_code(code).replace_strict(
        _CATEGORY_OF_CODE, default=None, return_dtype=pl.String
    )
