"""Numbers and dates for people, Vietnamese style: ``1.234.567``, ``3,66 %``, ``07/12/2026``.

One place for the notation the monthly report's text and the review app both show
(Excel cells keep their own number formats).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

#: Shown where a figure is unknown.
MISSING = "—"


def vi_number(value: float | None, decimals: int = 0) -> str:
    """``1234567.891`` → ``1.234.567,89`` (``decimals`` places); None or NaN → ``—``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def vi_percent(value: float | None, decimals: int = 2) -> str:
    """``3.664`` (already in %) → ``3,66 %``."""
    text = vi_number(value, decimals)
    return text if text == MISSING else f"{text} %"


def vi_share(value: float | None, decimals: int = 1) -> str:
    """A share 0-1 as a percentage: ``0.9731`` → ``97,3 %``."""
    return vi_percent(None if value is None else value * 100, decimals)


def vi_date(value: date | datetime | str | None, *, zone: ZoneInfo | None = None) -> str:
    """A day as ``dd/mm/yyyy`` (an instant first in ``zone``); ISO text is accepted."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, str):  # an ISO day, or an instant (its zone then counts)
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    if isinstance(value, datetime) and zone is not None and value.tzinfo is not None:
        value = value.astimezone(zone)
    return value.strftime("%d/%m/%Y")


def vi_datetime(value: datetime | None, *, zone: ZoneInfo) -> str:
    """An instant in the local zone as ``dd/mm/yyyy HH:MM``."""
    return MISSING if value is None else value.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def parse_vi_date(text: str) -> date:
    """``07/12/2026`` (or ISO ``2026-12-07``) → the date; ValueError when it is neither."""
    text = text.strip()
    for layout in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date dd/mm/yyyy")


def vi_month(value: str | None) -> str:
    """``2026-10`` → ``10/2026``."""
    return MISSING if not value else f"{value[5:7]}/{value[:4]}"
