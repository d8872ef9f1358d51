"""Jinja2 templates with the Vietnamese formats as filters (``reports.formats``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from ami.reference import (
    BRANCH_NAMES,
    CUSTOMER_GROUP_NAMES,
    EVENT_CATEGORY_NAMES,
    VEE_ACTION_NAMES,
    VEE_RULE_NAMES,
)
from ami.settings import Settings
from app.users import ROLE_VI
from app.views import clean
from models.anomaly.reasons import OUTCOME_VI, split_reasons
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
        "outcome": lambda o: OUTCOME_VI.get(o, o or "—").capitalize(),
        "rule": lambda r: VEE_RULE_NAMES.get(r, r),
        "action": lambda a: VEE_ACTION_NAMES.get(a, a),
        "category": lambda c: EVENT_CATEGORY_NAMES.get(c, c) if c else "",
        "branch": lambda b: f"{b} — {BRANCH_NAMES[b]}" if b in BRANCH_NAMES else (b or "—"),
        "first_reason": _first_reason,
        "role": lambda r: ROLE_VI.get(r, r),
        "chart": _chart_json,
    })
    return env


def _first_reason(reasons: str | None) -> str:
    """The leading reason's Vietnamese text, without its code."""
    found = split_reasons(reasons)
    return found[0][1] if found else ""


def _instant(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value
