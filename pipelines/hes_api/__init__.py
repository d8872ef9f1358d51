"""dlt source for the head-end (HES) REST API: interval readings paged by a since-cursor.

The cursor (the server's opaque row index) lives in dlt resource state and is committed
with each load package, so a run that fails between pages loads nothing of that run and
the next run starts again from the last committed cursor: no loss, no doubles. A page
whose cursor is below the committed one (the server repeated it) is skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from pipelines.hes_api.helpers import iter_pages, make_session, page_to_arrow
from pipelines.hes_api.settings import (
    DEFAULT_BACKOFF,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    RESOURCE,
)


@dlt.source(name="hes_api", max_table_nesting=0)
def hes_api_source(base_url: str, token: str = dlt.secrets.value,
                   page_size: int = DEFAULT_PAGE_SIZE, *, retries: int = DEFAULT_RETRIES,
                   backoff: float = DEFAULT_BACKOFF, timeout: float = DEFAULT_TIMEOUT,
                   max_pages: int | None = None,
                   counts: dict[str, int] | None = None) -> list[DltResource]:
    """Readings of a HES API; ``token`` from secrets (``sources.hes_api.token``) or the caller.

    ``timeout`` is per request [s]; a read that takes longer is retried. ``max_pages``
    (optional) stops after that many new pages so that the caller can commit
    the cursor every few pages. ``counts`` (optional) receives ``rows_seen``,
    ``rows_loaded``, ``pages``, ``duplicates_skipped`` and ``exhausted`` (1 when the
    server said there is no more) for reconciliation.
    """
    tally = counts if counts is not None else {}

    @dlt.resource(name=RESOURCE, write_disposition="append", file_format="parquet")
    def readings() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        committed = int(state.get("cursor", 0))
        new_pages = 0
        tally["exhausted"] = 0
        with make_session(token, retries=retries, backoff=backoff) as session:
            for page in iter_pages(session, base_url, str(committed), page_size,
                                   timeout=timeout):
                tally["pages"] = tally.get("pages", 0) + 1
                tally["rows_seen"] = tally.get("rows_seen", 0) + len(page.items)
                if int(page.cursor) < committed:
                    tally["duplicates_skipped"] = (tally.get("duplicates_skipped", 0)
                                                   + len(page.items))
                    continue
                committed = int(page.next_cursor) if page.next_cursor is not None else (
                    committed + len(page.items))
                state["cursor"] = str(committed)
                new_pages += 1
                if not page.has_more:
                    tally["exhausted"] = 1
                if page.items:
                    tally["rows_loaded"] = tally.get("rows_loaded", 0) + len(page.items)
                    yield page_to_arrow(page)
                if max_pages is not None and new_pages >= max_pages:
                    return

    return [readings]
