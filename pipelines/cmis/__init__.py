"""dlt source for the billing / customer system (CMIS): meters and topology from SQL.

Incremental on ``updated_at``, kept in dlt resource state: a second run loads nothing; a
row written again in CMIS (a meter moved, a period closed) loads again. Bronze keeps every
version as text with lineage; silver takes the latest version of each
(meter_id, valid_from), so both periods of a moved meter stay valid (SCD 2).
"""

from __future__ import annotations

from collections.abc import Iterator

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from pipelines.cmis.helpers import read_changed
from pipelines.cmis.settings import CURSOR_COLUMN, METERS_TABLE


@dlt.source(name="cmis", max_table_nesting=0)
def cmis_source(url: str = dlt.secrets.value, table: str = METERS_TABLE,
                counts: dict[str, int] | None = None,
                timezone: str = "UTC") -> list[DltResource]:
    """The CMIS meters table; ``url`` from secrets (``sources.cmis.url``) or the caller.

    ``counts`` (optional) receives ``rows_seen`` for reconciliation; ``timezone`` is the
    zone of the database's timestamps stored without one.
    """
    tally = counts if counts is not None else {}

    @dlt.resource(name="meters", write_disposition="append", file_format="parquet")
    def meters() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        cursor = state.get(CURSOR_COLUMN)
        first_row = int(state.get("rows", 0)) + 1
        at_cursor = frozenset(state.get("at_cursor", []))
        for arrow, last, boundary in read_changed(url, table, cursor, first_row=first_row,
                                                  at_cursor=at_cursor, timezone=timezone):
            tally["rows_seen"] = tally.get("rows_seen", 0) + arrow.num_rows
            state[CURSOR_COLUMN], state["at_cursor"] = last, boundary
            state["rows"] = int(state.get("rows", 0)) + arrow.num_rows
            yield arrow

    return [meters]
