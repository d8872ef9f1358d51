"""The JSON API (``/api/…``): the same views as the pages, for tools and scripts.

Authentication is the session cookie of ``/login``; ``GET /api/me`` returns the user and
the CSRF token that ``POST`` calls send in ``X-CSRF-Token``. A viewer reads aggregates
only; meter routes answer 404 for meters outside the user's branches.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, Field

from ami.vocabulary import InspectionOutcome
from app import views
from app.gold import Gold
from app.security import CSRF_HEADER, Access, access, check_csrf
from app.users import Role

router = APIRouter(prefix="/api", tags=["api"])

MonthParam = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$",
                                         description="YYYY-MM; the latest month by default")]
IdParam = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._-]*$")]
PageParam = Annotated[int, Query(ge=1, le=1_000_000, description="1 = first page")]
MeterId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Auth = Annotated[Access, Depends(access)]


def _gold(request: Request) -> Gold:
    return request.app.state.gold


class Me(BaseModel):
    """The logged-in user."""

    username: str
    role: Literal["viewer", "inspector", "admin"]
    branches: list[str] = Field(description="Branches whose meters the user sees "
                                            "(empty: every branch for admins, none for viewers)")
    csrf_token: str = Field(description="Send in X-CSRF-Token with POST calls")


class Page(BaseModel):
    """One page of a ranked list."""

    total: int
    page: int
    pages: int
    page_size: int
    rows: list[dict[str, Any]]


class Inspection(BaseModel):
    """What the crew found at a meter."""

    outcome: InspectionOutcome
    inspected_on: date = Field(description="Day of the inspection (not in the future)")
    recovered_kwh: float | None = Field(None, ge=0, le=1e9, description="Energy back-billed")
    note: str | None = Field(None, max_length=2000)
    photo_ref: str | None = Field(None, max_length=300,
                                  description="Reference of the crew's photo")


class Recorded(BaseModel):
    """An inspection recorded in gold ``inspections``."""

    meter_id: str
    inspected_at: str
    outcome: str
    outcome_vi: str
    recorded_by: str
    added: int
    total: int


@router.get("/me", response_model=Me, summary="The logged-in user and the CSRF token")
def me(auth: Auth) -> Me:
    """Who is logged in."""
    user = auth.user
    return Me(username=user.username, role=user.role.value, branches=list(user.branches),
              csrf_token=auth.session.csrf_token)


@router.get("/months", summary="Months with balances")
def months(request: Request, auth: Auth) -> list[str]:
    """Months with balances, oldest first."""
    return _gold(request).months()


@router.get("/dashboard", summary="Province and branch losses of a month, with the trend")
def dashboard(request: Request, auth: Auth, month: MonthParam = None) -> dict[str, Any]:
    """Losses of the month, year to date and last year, against the 6 % and 3 % goals."""
    view = views.dashboard(_gold(request), month, request.app.state.settings)
    view.pop("figure")
    return view


@router.get("/transformers", response_model=Page,
            summary="Transformers ranked by recoverable kWh")
def transformers(request: Request, auth: Auth, month: MonthParam = None,
                 branch: IdParam = None, feeder: IdParam = None,
                 page: PageParam = 1) -> dict[str, Any]:
    """One page of the transformers of a month, filtered by branch and feeder."""
    view = views.transformers(_gold(request), month=month, branch=branch, feeder=feeder,
                              page=page)
    return {k: view[k] for k in ("total", "page", "pages", "page_size", "rows")}


@router.get("/transformers/{transformer_id}", summary="One transformer's balances")
def transformer(request: Request, auth: Auth, transformer_id: MeterId,
                month: MonthParam = None) -> dict[str, Any]:
    """Its month, daily balances, loss jump and — for its branch's inspectors — meters."""
    view = views.transformer(_gold(request), auth, transformer_id, month=month,
                             settings=request.app.state.settings)
    view.pop("figure")
    return view


@router.get("/anomalies", response_model=Page, summary="The anomaly queue (inspectors)")
def anomalies(request: Request, auth: Auth, branch: IdParam = None,
              transformer: IdParam = None, group: IdParam = None, reason: IdParam = None,
              band: Literal["high", "medium", "low"] | None = None,
              sort: Literal["score", "vnd"] = "score", page: PageParam = 1) -> dict[str, Any]:
    """One page of the scored meters of the user's branches, filtered and sorted."""
    where = views.queue_filter(auth, branch=branch, transformer=transformer, group=group,
                               reason=reason, band=band, sort=sort)
    view = views.queue(_gold(request), auth, where, page)
    return {k: view[k] for k in ("total", "page", "pages", "page_size", "rows")}


@router.get("/meters/{meter_id}", summary="One meter's evidence (inspectors of its branch)")
def meter(request: Request, auth: Auth, meter_id: MeterId) -> dict[str, Any]:
    """Its days against its peers, change point, events, VEE findings, reasons, visits."""
    view = views.meter(_gold(request), auth, meter_id)
    view.pop("figure")
    return view


@router.post("/meters/{meter_id}/inspections", response_model=Recorded, status_code=201,
             summary="Record what the crew found (inspectors of its branch)")
def record(request: Request, auth: Auth, meter_id: MeterId, body: Inspection,
           csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> dict[str, Any]:
    """Append the outcome to gold ``inspections``; the next scoring uses it."""
    check_csrf(csrf, auth.session)
    return views.record_visit(_gold(request), auth, meter_id, outcome=body.outcome,
                              inspected_on=body.inspected_on,
                              recovered_kwh=body.recovered_kwh, note=body.note,
                              photo_ref=body.photo_ref,
                              settings=request.app.state.settings)


@router.get("/users", summary="The users (admins)")
def users(request: Request, auth: Auth) -> list[dict[str, Any]]:
    """Every user with role and branches."""
    auth.require(Role.ADMIN)
    return [{"username": u.username, "role": u.role.value, "branches": list(u.branches),
             "full_name": u.full_name} for u in request.app.state.users.users()]
