"""HTTP and parsing of the HES REST API source.

HTTP goes through a ``requests.Session`` with a urllib3 ``Retry`` mounted on it: 429 (the
``Retry-After`` header is honoured), 5xx, connection errors and read timeouts are retried
with exponential backoff. What retrying cannot fix (401/403/404, other 4xx) raises
``TerminalError``; a server still failing after the retries raises ``TransientError``.
Pages become Arrow tables of strings, as received, plus lineage columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ami.errors import TerminalError, TransientError
from pipelines.hes_api.settings import (
    COLUMNS,
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    READINGS_PATH,
    RETRY_STATUSES,
    SOURCE_TAG,
)


@dataclass(frozen=True)
class Page:
    """One page of readings: where it starts, its rows and where the next one starts."""

    cursor: str
    items: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool


def make_session(token: str, *, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF) -> requests.Session:
    """A session sending the bearer token and retrying transient failures."""
    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  backoff_factor=backoff, status_forcelist=RETRY_STATUSES,
                  allowed_methods=frozenset({"GET"}), respect_retry_after_header=True,
                  raise_on_status=False)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get_page(session: requests.Session, base_url: str, since: str, limit: int, *,
             timeout: float = DEFAULT_TIMEOUT) -> Page:
    """Fetch the page of readings starting at cursor ``since``."""
    url = base_url.rstrip("/") + READINGS_PATH
    try:
        response = session.get(url, params={"since": since, "limit": str(limit)}, timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise TransientError(f"HES API {url} could not be reached after retries: {exc}",
                             fix="check that the head-end is up, then run again") from exc
    status = response.status_code
    if status in (401, 403):
        raise TerminalError(f"HES API {url} refused the token (HTTP {status})",
                            fix="set sources.hes_api.token to a valid bearer token")
    if status in RETRY_STATUSES:
        raise TransientError(f"HES API {url} still answers HTTP {status} after retries",
                             fix="wait for the head-end to recover, then run again; "
                             "the run resumes from the last committed cursor")
    if status >= 400:
        raise TerminalError(f"HES API {url} answered HTTP {status}: {response.text[:200]}",
                            fix="check the base URL and the request parameters")
    return parse_page(response.json(), since=since, url=url)


def parse_page(body: Any, *, since: str, url: str) -> Page:
    """Check the shape of a readings response and turn it into a ``Page``."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise TerminalError(f"HES API {url} returned no 'items' list",
                            fix="point base_url at a HES readings API (GET /api/v1/readings)")
    next_cursor = body.get("next_cursor")
    return Page(cursor=str(body.get("cursor", since)), items=body["items"],
                next_cursor=None if next_cursor is None else str(next_cursor),
                has_more=bool(body.get("has_more", False)))


def iter_pages(session: requests.Session, base_url: str, since: str,
               limit: int, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Page]:
    """Pages from cursor ``since`` until the server says there is no more."""
    while True:
        page = get_page(session, base_url, since, limit, timeout=timeout)
        yield page
        if not page.has_more or page.next_cursor is None:
            return
        since = page.next_cursor


def page_to_arrow(page: Page) -> pa.Table:
    """Arrow table of the page's rows as strings, plus ``_source``, ``_file``, ``_row``."""
    columns: dict[str, pa.Array] = {
        name: pa.array([_text(item.get(name)) for item in page.items], type=pa.string())
        for name in COLUMNS
    }
    rows = len(page.items)
    columns["_source"] = pa.array([SOURCE_TAG] * rows, type=pa.string()).dictionary_encode()
    columns["_file"] = pa.array([f"page:{page.cursor}"] * rows,
                                type=pa.string()).dictionary_encode()
    columns["_row"] = pa.array(range(rows), type=pa.int64())
    return pa.table(columns)


def _text(value: Any) -> str | None:
    """A received value as text (None stays None)."""
    return None if value is None else str(value)
