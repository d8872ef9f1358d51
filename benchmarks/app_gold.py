"""The warehouse tables the web app reads, at province size, by tiling a small warehouse.

    python -m benchmarks.app_gold SOURCE TARGET [--factor 100]

Running the real chain for a 300,000-meter province takes hours; the app only reads the
small silver tables and gold, so this module copies a real-pipeline warehouse (the demo's
3,000 meters, say) ``factor`` times into another warehouse, partition by partition, through
the project's writer (schemas checked, catalog records written).

Ids, for copy ``k`` in ``0 .. factor-1`` (copy 0 keeps the original ids):

- meter, transformer, feeder and customer ids (``meter_id``, ``transformer_id``,
  ``feeder_id``, ``customer_id``, and ``node_id`` at level meter / transformer / feeder)
  are renumbered: an id's trailing number ``n`` becomes ``n + k × span``, zero-padded to
  its original width, where ``span`` is the range of the numbers of that kind in the
  source (``PC000002838`` → ``PC000302838`` for k = 100 and 3,000 meters numbered 1–3,000;
  ``LS01-T0001`` → ``LS01-T0051`` for k = 1 and 50 transformers): the copies read like the
  generator's own numbering of a larger province. An id without a trailing number gets
  ``-k`` appended (k ≥ 1). A meter whose id ends with its own transformer's (or feeder's)
  id (the total meter ``TT-LS01-T0001``) keeps embedding it: ``TT-`` + the copy's
  transformer id. The renumbering is checked to be one-to-one for every kind.
- branch ids and the province stay as they are. Their balance rows (``balance_day``,
  ``balance_month``; level branch and province) are written once, with the additive kWh and
  count columns multiplied by ``factor`` and the ratios (``loss_pct``, ``measured_share``)
  unchanged; other rows at those levels (a province finding) are written once, unchanged.
- ``anomaly_scores.rank`` is recomputed 1..N over all copies (score descending, then
  meter id). Nothing else changes: every copy's values are the source's values.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from warehouse import Warehouse, partition_meta, source_key, write_partition, write_table
from warehouse.layout import DATA_FILE, PARTITION_KEYS
from warehouse.migrations import MIGRATIONS
from warehouse.schemas import TABLES as SCHEMAS
from warehouse.schemas import SchemaError

#: Levels (``level`` column of tables with ``node_id``) whose nodes are repeated per copy.
TILED_LEVELS = ("meter", "transformer", "feeder")

#: Balance columns that add up over the copies (multiplied by the factor at branch and
#: province level); the ratios loss_pct and measured_share stay as they are.
ADDITIVE = ("energy_in_kwh", "energy_out_kwh", "loss_kwh", "technical_loss_kwh",
            "non_technical_kwh", "n_intervals", "n_measured", "n_missing", "measured_kwh")

#: A trailing number and what comes before it.
NUMBERED = r"^(.*?)(\d+)$"

#: Digits a trailing number may have to be renumbered (longer ones get ``-k`` appended).
MAX_DIGITS = 15


@dataclass(frozen=True)
class Spec:
    """How a table is tiled: its id columns (column → id kind), its node ids, its order."""

    columns: dict[str, str] = field(default_factory=dict)
    nodes: bool = False                 # level + node_id columns
    balances: bool = False              # branch / province rows aggregated
    sort_by: tuple[str, ...] = ()       # as the producer writes it
    optional: bool = False              # may be absent from the source


#: The tables the app reads, in the order they are written.
TABLES: dict[str, Spec] = {
    "meters": Spec({"meter_id": "meter", "customer_id": "customer",
                    "transformer_id": "transformer", "feeder_id": "feeder"},
                   sort_by=("meter_id", "valid_from")),
    "transformers": Spec({"transformer_id": "transformer"}, sort_by=("transformer_id",)),
    "events": Spec({"meter_id": "meter"}),
    "findings": Spec(nodes=True),
    "quality_day": Spec(nodes=True, sort_by=("level", "node_id")),
    "anomaly_scores": Spec({"meter_id": "meter"}, sort_by=("rank",)),
    "anomaly_days": Spec({"meter_id": "meter"}, sort_by=("meter_id",)),
    "balance_day": Spec(nodes=True, balances=True),
    "balance_month": Spec(nodes=True, balances=True),
    "meter_day": Spec({"meter_id": "meter"}, sort_by=("meter_id",)),
    "inspections": Spec({"meter_id": "meter"}, sort_by=("meter_id", "inspected_at"),
                        optional=True),
}


def tile_warehouse(source: str | Path, target: str | Path, factor: int) -> dict[str, int]:
    """Copy `source` warehouse's app tables into `target`, each meter-level table repeated
    `factor` times with ids made unique per copy; returns rows written per table.

    The target's copies of these tables are replaced whole (other tables are left alone).
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, not {factor}")
    src, dst = Warehouse.at(source), Warehouse.at(target)
    if src.root == dst.root:
        raise ValueError(f"source and target are the same warehouse: {src.root}")
    present = {t: s for t, s in TABLES.items() if _has(src, t)}
    missing = [t for t, s in TABLES.items() if t not in present and not s.optional]
    if missing:
        raise FileNotFoundError(f"{src.root} has no {', '.join(missing)}")
    mapping = id_mapping(src, present, factor)
    rows: dict[str, int] = {}
    for table, spec in TABLES.items():
        folder = dst.table_dir(table)
        if dst.fs.exists(folder):
            dst.fs.rm(folder, recursive=True)
        if table not in present:
            continue
        keys = PARTITION_KEYS.get(table, ())
        partitions = ([{keys[0]: v} for v in src.partitions(table, keys[0])] if keys
                      else [{}])
        rows[table] = 0
        for partition in partitions:
            meta = partition_meta(src, table, partition or None)
            frame = upgrade(src.read(table, partition or None), table,
                            meta.schema_version if meta else SCHEMAS[table].version)
            frame = tile_frame(frame, spec, mapping, factor)
            if table == "anomaly_scores":
                frame = rerank(frame)
            sources = {source_key(table, partition or None): meta.checksum if meta else "",
                       "tiled_from": src.root, "tile_factor": str(factor)}
            if partition:
                write_partition(frame, table, partition, warehouse=dst,
                                sort_by=spec.sort_by, sources=sources)
            else:
                write_table(frame, table, warehouse=dst, sort_by=spec.sort_by,
                            sources=sources)
            rows[table] += frame.height
    return rows


def upgrade(frame: pl.DataFrame, table: str, version: int) -> pl.DataFrame:
    """A partition written under an older schema version, through the project's migrations."""
    for step in range(version, SCHEMAS[table].version):
        if (table, step) not in MIGRATIONS:
            raise SchemaError(f"no migration of table {table} from schema version {step}",
                              fix="add the step to warehouse/migrations.py")
        frame = MIGRATIONS[(table, step)](frame)
    return frame


def _has(warehouse: Warehouse, table: str) -> bool:
    keys = PARTITION_KEYS.get(table, ())
    return bool(warehouse.glob(f"{warehouse.table_dir(table)}/{'*/' * len(keys)}{DATA_FILE}"))


def id_mapping(warehouse: Warehouse, tables: dict[str, Spec], factor: int) -> pl.DataFrame:
    """Every id of the source's tiled kinds in every copy: ``kind, old, k, new``.

    Raises ValueError when two (id, copy) pairs of a kind would get the same new id.
    """
    ids = pl.concat([_ids_of(warehouse, t, s) for t, s in tables.items()]).unique()
    copies = pl.DataFrame({"k": pl.int_range(factor, eager=True, dtype=pl.Int64)})
    # meters whose id embeds their own transformer's (or feeder's) id: the total meters
    meters = warehouse.scan("meters").collect()
    embedded = pl.concat([
        meters.filter(pl.col("meter_id").str.ends_with(pl.col(column))
                      & (pl.col("meter_id") != pl.col(column)))
        .select(pl.lit("meter").alias("kind"), pl.col("meter_id").alias("old"),
                pl.col("meter_id").str.head(pl.col("meter_id").str.len_chars()
                                            - pl.col(column).str.len_chars()).alias("prefix"),
                pl.lit(kind).alias("via_kind"), pl.col(column).alias("via"))
        for column, kind in (("transformer_id", "transformer"), ("feeder_id", "feeder"))
    ]).unique("old", keep="first", maintain_order=True)
    plain = ids.join(embedded, on=["kind", "old"], how="anti").with_columns(
        pl.col("old").str.extract(NUMBERED, 1).alias("head"),
        pl.col("old").str.extract(NUMBERED, 2).alias("digits"),
    ).with_columns(
        pl.when(pl.col("digits").str.len_chars() <= MAX_DIGITS)
        .then(pl.col("digits").cast(pl.Int64)).alias("n"))
    spans = plain.group_by("kind").agg(
        (pl.col("n").max() - pl.col("n").min() + 1).fill_null(1).alias("span"))
    numbered = pl.concat_str(
        pl.col("head"),
        (pl.col("n") + pl.col("k") * pl.col("span")).cast(pl.String)
        .str.zfill(pl.col("digits").str.len_chars()))
    suffixed = pl.when(pl.col("k") == 0).then(pl.col("old")) \
        .otherwise(pl.concat_str(pl.col("old"), pl.lit("-"), pl.col("k").cast(pl.String)))
    mapping = plain.join(spans, on="kind").join(copies, how="cross").select(
        "kind", "old", "k",
        pl.when(pl.col("n").is_not_null()).then(numbered).otherwise(suffixed).alias("new"))
    via = embedded.join(copies, how="cross").join(
        mapping.rename({"kind": "via_kind", "old": "via", "new": "via_new"}),
        on=["via_kind", "via", "k"], how="left")
    mapping = pl.concat([mapping, via.select(
        "kind", "old", "k", pl.concat_str("prefix", "via_new").alias("new"))])
    clashes = mapping.group_by("kind").agg(
        (pl.len() - pl.col("new").n_unique()).alias("clashes"),
        pl.col("new").null_count().alias("unmapped")) \
        .filter((pl.col("clashes") > 0) | (pl.col("unmapped") > 0))
    if clashes.height:
        raise ValueError(f"renumbered ids are not one-to-one: {clashes.to_dicts()}")
    return mapping


def _ids_of(warehouse: Warehouse, table: str, spec: Spec) -> pl.DataFrame:
    """The distinct ids of the tiled kinds in one table: ``kind, old``."""
    scan = warehouse.scan(table)
    parts = [scan.select(pl.lit(kind).alias("kind"), pl.col(column).alias("old"))
             for column, kind in spec.columns.items()]
    if spec.nodes:
        parts.append(scan.filter(pl.col("level").is_in(TILED_LEVELS))
                     .select(pl.col("level").alias("kind"), pl.col("node_id").alias("old")))
    return pl.concat(parts).drop_nulls().unique().collect()


def tile_frame(frame: pl.DataFrame, spec: Spec, mapping: pl.DataFrame,
               factor: int) -> pl.DataFrame:
    """One partition's rows repeated per copy with the copy's ids (see the module doc)."""
    fixed = frame.clear()
    if spec.nodes:
        tiled_rows = pl.col("level").is_in(TILED_LEVELS)
        fixed, frame = frame.filter(~tiled_rows), frame.filter(tiled_rows)
    columns = frame.columns
    copies = pl.DataFrame({"k": pl.int_range(factor, eager=True, dtype=pl.Int64)})
    out = copies.join(frame, how="cross")   # copy-major: copy 0's rows, then copy 1's, …
    renames = [(column, pl.lit(kind)) for column, kind in spec.columns.items()]
    if spec.nodes:
        renames.append(("node_id", pl.col("level")))
    for column, kind in renames:
        expected = out[column].null_count()
        out = out.with_columns(kind.alias("kind")).join(
            mapping.rename({"old": column, "new": "_new"}), on=["kind", column, "k"],
            how="left", maintain_order="left",
        ).with_columns(pl.col("_new").alias(column)).drop("_new", "kind")
        if out[column].null_count() != expected:
            raise ValueError(f"ids of {column} without a renumbering (not in the mapping)")
    out = out.select(columns)
    if spec.balances:
        fixed = fixed.with_columns([pl.col(c) * factor for c in ADDITIVE])
    return pl.concat([out, fixed])


def rerank(scores: pl.DataFrame) -> pl.DataFrame:
    """Ranks 1..N over all copies: score descending, ties by meter id."""
    return scores.sort(["score", "meter_id"], descending=[True, False],
                       nulls_last=True).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.app_gold",
        description="Tile a warehouse's app tables FACTOR times into another warehouse.")
    parser.add_argument("source", help="warehouse to copy (e.g. data/warehouse)")
    parser.add_argument("target", help="warehouse to write (its copies of the tables are "
                                       "replaced)")
    parser.add_argument("--factor", type=int, default=100,
                        help="copies of every meter-level table (default 100)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = tile_warehouse(args.source, args.target, args.factor)
    seconds = time.perf_counter() - started
    width = max(len(t) for t in rows)
    for table, count in rows.items():
        print(f"{table:<{width}}  {count:>12,}")
    print(f"{'seconds':<{width}}  {seconds:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
