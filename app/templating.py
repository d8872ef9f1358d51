"""Jinja2 templates with the Vietnamese formats as filters (``reports.formats``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from ami.reference import CUSTOMER_GROUP_NAMES
from ami.settings import Settings
from app.users import ROLE_VI
from app.views import clean
from models.anomaly.reasons import OUTCOME_VI
from reports.formats import (
    vi_date,
    vi_datetime,
    vi_month,
    vi_number,
    vi_percent,
    vi_share,
)


def _chart_json(figure: dict[str, Any]) -> Markup:
    """A figure as JSON safe inside ``<script type="application/json">``."""
    text = json.dumps(clean(figure), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def templates(settings: Settings) -> Jinja2Templates:
    """The app's templates with its filters."""
    env = Jinja2Templates(directory=Path(__file__).parent / "templates")
    zone = settings.tz
    env.env.filters.update({
        "num": vi_number, "pct": vi_percent, "share": vi_share, "month": vi_month,
        "day": lambda v: vi_date(v, zone=zone),
        "instant": lambda v: vi_datetime(_instant(v), zone=zone) if v else "—",
        "group": lambda g: CUSTOMER_GROUP_NAMES.get(g or "", g or "—"),
        "outcome": lambda o: OUTCOME_VI.get(o, o or "—"),
        "role": lambda r: ROLE_VI.get(r, r),
        "chart": _chart_json,
    })
    return env


def _instant(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value
