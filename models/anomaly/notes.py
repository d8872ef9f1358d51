"""The anomaly scoring's notes: what an optional enrichment left out, and how to add it.

Prices, events, register reads, the meters table and inspection outcomes never withhold
the ranking; when one does not cover the scored window, one line per cause is appended
to the caller's ``notes`` (``add_note``). The notes about the topology, the inspection
outcomes and the transformer loss series are here; the evidence and the prices add
theirs where they are read.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ami.vocabulary import InspectionOutcome
from models.anomaly.labels import MIN_CLASS_LABELS, labels_in_memory, latest_labels
from models.anomaly.tables import MIN_LOSS_DAYS


def add_note(notes: list[str] | None, text: str) -> None:
    """Append ``text`` to the caller's ``notes`` once (nothing when no list was given).

    Notes are the anomaly scoring's lines for people about an optional enrichment
    (prices, events, register reads, topology, inspection outcomes) that did not cover
    the scored window and was left out: the ranking is still produced, and the note says
    once what is missing and how to add it.
    """
    if notes is not None and text not in notes:
        notes.append(text)


def note_unlisted_meters(
    signals: pl.DataFrame, meters: pl.DataFrame | None, notes: list[str] | None
) -> None:
    """Note the scored meters a given meters table does not list (scored without topology).

    An empty table is no table (readings only, as without ``--meters``): nothing to note.
    """
    if meters is None or meters.is_empty() or notes is None or "meter_id" not in meters.columns:
        return
    listed = meters.select(pl.col("meter_id").cast(pl.String))
    unlisted = signals.select("meter_id").join(listed, on="meter_id", how="anti")["meter_id"]
    if unlisted.len():
        examples = ", ".join(unlisted.head(3).to_list()) + (", …" if unlisted.len() > 3 else "")
        add_note(notes, f"{unlisted.len()} scored meter(s) are not in the meters table "
                 f"({examples}): ranked without topology (peer group 'other', no transformer) "
                 "and priced as households; add them to the meters table to use theirs")


def note_too_few_labels(signals: pl.DataFrame, labels: pl.DataFrame, memory: int,
                        *, on: date, notes: list[str] | None) -> None:
    """Note why inspection outcomes that were given trained no supervised model.

    ``memory``: the scorer's ``label_memory_days``, inspections older than that are ignored.
    """
    inspected = labels_in_memory(signals.select("meter_id", "window_end"),
                                 latest_labels(labels), timedelta(days=memory))
    thefts = int((inspected["outcome"] == InspectionOutcome.THEFT).sum())
    others = inspected.height - thefts
    add_note(notes, f"model unsupervised: among the scored meters, {thefts} theft(s) and "
             f"{others} other outcome(s) were inspected in the {memory} days up to {on}; "
             f"learning from inspections needs at least {MIN_CLASS_LABELS} of each")


def note_no_loss_link(signals: pl.DataFrame, *, on: date, notes: list[str] | None) -> None:
    """Note a topology whose transformer day losses do not reach the window (no LOSS_LINK)."""
    if "loss_corr" not in signals.columns or "transformer_id" not in signals.columns:
        return
    if signals["transformer_id"].is_not_null().any() and signals["loss_corr"].is_null().all():
        add_note(notes, "LOSS_LINK left out: no meter has "
                 f"{MIN_LOSS_DAYS} days with both its energy and its transformer's day loss in "
                 f"the window up to {on} (day losses come from the transformer total meters' "
                 "readings, in the warehouse from the gold day balances)")
