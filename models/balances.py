"""Gold meter-day energy and energy balances per transformer, feeder, branch, province.

For a node N (README "Losses"): energy_in = Σ import of its incoming (transformer total)
meters + Σ solar export of the customers below; energy_out = Σ import of the customer
meters below + Σ export of the incoming meters; loss = in − out; loss % = 100·loss/in.
Aggregates are sums of energy (in whole micro-kWh, so in any order the same), never means
of percentages; every figure (loss, loss %, measured share, reliable) is the one definition
of ``models.figures``, at every level and period. Topology is taken as valid at each
reading: a reading ending at t belongs to the meter row with valid_from < t ≤ valid_to;
a transformer's feeder and branch are those of its latest meter row (``feeders_of``), for
the day and the month alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from ami.errors import NoDataError
from ami.settings import Settings
from ami.vocabulary import MeterRole, Quality
from models import figures
from models.figures import from_micro_kwh, kwh_sum, micro_kwh
from models.technical import transformer_technical
from pipelines.networks import current_networks, load_network
from warehouse import Warehouse, is_stale, partition_meta, source, source_key, write_partition
from warehouse.catalog import get_text
from warehouse.schemas import schema_of
from warehouse.state import Manifest, read_manifest

LEVELS = ("transformer", "feeder", "branch", "province")
LEVEL_COLUMN = {"transformer": "transformer_id", "feeder": "feeder_id", "branch": "branch_id"}
PROVINCE_ID = "LS"

BALANCE_COLUMNS = list(schema_of("balance_day").polars)
#: Energy columns a group of balances sums, and the counts it adds up.
ENERGY_SUMS = ("energy_in_kwh", "energy_out_kwh", "measured_kwh")
COUNT_SUMS = ("n_intervals", "n_measured", "n_missing")


def technical_sum() -> pl.Expr:
    """Σ technical loss of a group, only when every member has one (else null)."""
    return pl.when(pl.col("technical_loss_kwh").null_count() == 0).then(
        kwh_sum("technical_loss_kwh")).alias("technical_loss_kwh")


def balance_sums() -> list[pl.Expr]:
    """Σ of the additive columns of a group of balances (energy in micro-kWh, counts)."""
    return [*(kwh_sum(c).alias(c) for c in ENERGY_SUMS), pl.col(*COUNT_SUMS).sum()]


def technical_method() -> pl.Expr:
    """The group's technical-loss method, or ``mixed`` when its members differ."""
    return pl.when(pl.col("technical_method").n_unique() == 1).then(
        pl.col("technical_method").first()).otherwise(pl.lit("mixed")).alias("technical_method")


def attach_topology(readings: pl.DataFrame, meters: pl.DataFrame) -> pl.DataFrame:
    """Each reading with the meter row valid at its instant (inner: unknown meters drop)."""
    return readings.join(meters, on="meter_id", how="inner").filter(
        (pl.col("valid_from") < pl.col("interval_end"))
        & (pl.col("valid_to").is_null() | (pl.col("interval_end") <= pl.col("valid_to")))
    )


def meter_day(readings: pl.DataFrame) -> pl.DataFrame:
    """Energy per meter for one day with the counts behind its quality."""
    # Columns first, then plain sums: the grouping of a province day stays on Polars'
    # fast path (an expression inside the aggregation takes the slow one).
    return readings.select(
        "meter_id",
        micro_kwh("kwh_import").alias("kwh_import"),
        micro_kwh("kwh_export").alias("kwh_export"),
        *[(pl.col("quality") == q).alias(f"n_{q}") for q in Quality],
    ).group_by("meter_id").agg(
        pl.col("kwh_import", "kwh_export").sum(),
        pl.len().cast(pl.Int64).alias("n_intervals"),
        pl.col(*[f"n_{q}" for q in Quality]).sum().cast(pl.Int64),
    ).with_columns(
        from_micro_kwh(pl.col("kwh_import")), from_micro_kwh(pl.col("kwh_export")),
        (pl.col("n_measured") / pl.col("n_intervals")).alias("measured_share"),
    ).sort("meter_id")


def transformer_balance(joined: pl.DataFrame, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Energy in/out per transformer (and ``by``) and what its measured share is made of."""
    is_total = pl.col("meter_role") == MeterRole.TRANSFORMER_TOTAL
    is_customer = pl.col("meter_role") == MeterRole.CUSTOMER
    imp, exp = micro_kwh(pl.col("kwh_import").fill_null(0.0)), \
        micro_kwh(pl.col("kwh_export").fill_null(0.0))
    measured = pl.col("quality") == Quality.MEASURED
    # each reading's part of the energy in and out, in whole micro-kWh; columns first,
    # then plain sums (the fast path of the grouping, as in ``meter_day``)
    parts = joined.select(
        "transformer_id", *by,
        energy_in_kwh=imp * is_total + exp * is_customer,
        energy_out_kwh=imp * is_customer + exp * is_total,
        has_total_meter=is_total,
        n_measured=measured,
        n_missing=pl.col("quality") == Quality.MISSING,
    ).with_columns(
        measured_kwh=pl.when(pl.col("n_measured"))
        .then(pl.col("energy_in_kwh") + pl.col("energy_out_kwh")).otherwise(0),
    )
    return parts.group_by("transformer_id", *by).agg(
        pl.col("energy_in_kwh", "energy_out_kwh", "measured_kwh").sum(),
        pl.col("has_total_meter").any(),
        pl.len().cast(pl.Int64).alias("n_intervals"),
        pl.col("n_measured", "n_missing").sum().cast(pl.Int64),
    ).with_columns(from_micro_kwh(pl.col(c)) for c in ENERGY_SUMS).select(
        "transformer_id", *by, *ENERGY_SUMS, "has_total_meter", "n_intervals", "n_measured",
        "n_missing")


def feeders_of(meters: pl.DataFrame) -> pl.DataFrame:
    """Feeder and branch of each transformer: those of its latest meter row.

    Latest by ``valid_from``, ties broken by meter id, so the same meters table always
    gives the same answer; the day and the month balances both place transformers so.
    """
    return meters.filter(pl.col("transformer_id").is_not_null()).sort(
        "valid_from", "meter_id", maintain_order=True).group_by(
        "transformer_id").agg(pl.col("feeder_id").drop_nulls().last(),
                              pl.col("branch_id").drop_nulls().last())


def roll_up(transformers: pl.DataFrame, *, period: str, settings: Settings,
            days_in_period: int = 1, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Balances of every level from transformer sums; only metered transformers count.

    ``transformers`` holds per transformer (and ``by``, e.g. ``interval_end``) the energy
    sums, ``technical_loss_kwh`` and ``technical_method``; flags name what makes a
    balance doubtful.
    """
    metered = transformers.filter(pl.col("has_total_meter"))
    frames = [transformers.rename({"transformer_id": "node_id"}).with_columns(
        pl.lit("transformer").alias("level"))]
    for level in ("feeder", "branch", "province"):
        key = pl.col(LEVEL_COLUMN[level]) if level != "province" else pl.lit(PROVINCE_ID)
        frames.append(
            metered.with_columns(key.alias("node_id")).group_by("node_id", *by).agg(
                *balance_sums(), technical_sum(), technical_method(),
                pl.col("days").max(),
                pl.lit(True).alias("has_total_meter"),
            ).with_columns(pl.lit(level).alias("level"))
        )
    out = pl.concat([f.select("level", "node_id", *by, *ENERGY_SUMS, "technical_loss_kwh",
                              "technical_method", *COUNT_SUMS, "has_total_meter", "days")
                     for f in frames])
    return out.with_columns(
        pl.lit(period).alias("period"),
        figures.loss_kwh(),
        pl.when(pl.col("has_total_meter")).then(pl.col("technical_loss_kwh"))
        .alias("technical_loss_kwh"),
        pl.when(pl.col("has_total_meter")).then(pl.col("technical_method"))
        .alias("technical_method"),
        figures.measured_share(),
    ).with_columns(
        figures.loss_pct().alias("loss_pct"),
        figures.reliable(settings.completeness_threshold),
        from_micro_kwh(micro_kwh("loss_kwh") - micro_kwh("technical_loss_kwh"))
        .alias("non_technical_kwh"),
    ).with_columns(
        pl.concat_str(
            pl.when(~pl.col("has_total_meter")).then(pl.lit("no_total_meter")),
            pl.when(pl.col("loss_kwh") < 0).then(pl.lit("negative_loss")),
            pl.when((pl.col("loss_kwh") >= 0) & (pl.col("non_technical_kwh") < 0))
            .then(pl.lit("negative_non_technical")),
            pl.when(pl.col("days") < days_in_period).then(pl.lit("partial_period")),
            separator=",", ignore_nulls=True).alias("flags"),
    ).select(*BALANCE_COLUMNS[:3], *by, *BALANCE_COLUMNS[3:]).sort(
        pl.col("level").replace_strict({lv: i for i, lv in enumerate(LEVELS)}), "node_id", *by
    )


def _gold_sources(warehouse: Warehouse, day: str,
                  manifest: Manifest) -> dict[str, str]:
    """What a gold day is built from.

    Its silver day, the meters (the topology: which transformer, feeder and branch a
    meter belongs to), transformer data, network models and the figures' definitions.
    """
    return {"readings": source(warehouse, "readings", {"date": day}),
            "meters": source(warehouse, "meters"),
            "transformers": source(warehouse, "transformers"),
            "figures": f"definitions v{figures.DEFINITIONS_VERSION}",
            **{f"network:{t}": sha for t, sha in current_networks(manifest).items()}}


def _networks(warehouse: Warehouse, manifest: Manifest) -> dict[str, Any]:
    """The current network model of each transformer that has one (pandapower nets)."""
    nets = {}
    for transformer_id in current_networks(manifest):
        text = get_text(warehouse, warehouse.network_file(transformer_id))
        if text is not None:
            nets[transformer_id] = load_network(text, f"networks/{transformer_id}.json")
    return nets


def build_day(day: str, *, settings: Settings) -> int:
    """Gold meter-day energy and day balances of one local day; returns node count."""
    warehouse = Warehouse.at(settings.warehouse)
    if partition_meta(warehouse, "readings", {"date": day}) is None:
        raise NoDataError(f"no silver readings for {day}", fix="run VEE for that day first")
    manifest = read_manifest(warehouse)
    readings = warehouse.scan("readings", date=day).drop("date").collect()
    meters = warehouse.scan("meters").collect()
    sources = _gold_sources(warehouse, day, manifest)
    write_partition(meter_day(readings), "meter_day", {"date": day}, warehouse=warehouse,
                    sort_by=("meter_id",), sources=sources)
    # only the meter columns balances need ride along the day's millions of readings
    joined = attach_topology(readings, meters.select(
        "meter_id", "valid_from", "valid_to", "meter_role", "transformer_id", "network_node"))
    params = warehouse.read("transformers") if sources["transformers"] else None
    technical = transformer_technical(joined, params, _networks(warehouse, manifest),
                                      settings=settings)
    by = ("interval_end",)
    topology = feeders_of(meters)
    intervals = transformer_balance(joined, by).join(
        technical, on=["transformer_id", *by], how="left").join(
        topology, on="transformer_id", how="left").with_columns(
        pl.lit(1).alias("days"),
        # to the micro-kWh the sums count in: the day is exactly the sum of its intervals
        from_micro_kwh(micro_kwh("technical_loss_kwh")).alias("technical_loss_kwh"))
    write_partition(roll_up(intervals, period=day, settings=settings, by=by),
                    "balance_interval", {"date": day}, warehouse=warehouse,
                    sort_by=("level", "node_id", *by), sources=sources)
    # The day from its intervals (a few thousand transformers × 48 rows). An interval
    # without a total-meter row (another cadence) has no technical loss of its own.
    technical_known = pl.col("technical_loss_kwh").is_not_null().any()
    transformers = intervals.group_by("transformer_id").agg(
        *balance_sums(),
        pl.col("has_total_meter").any(),
        pl.when(technical_known).then(kwh_sum("technical_loss_kwh"))
        .alias("technical_loss_kwh"),
        pl.col("technical_method").drop_nulls().first(),
        pl.col("feeder_id", "branch_id").first(),
    ).with_columns(pl.lit(1).alias("days"))
    balances = roll_up(transformers, period=day, settings=settings)
    write_partition(balances, "balance_day", {"date": day}, warehouse=warehouse,
                    sources=sources)
    return balances.height


def pending_gold_days(*, settings: Settings) -> list[str]:
    """Days whose gold was not built from their current sources (``_gold_sources``)."""
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    return [day for day in warehouse.partitions("readings", "date")
            if is_stale(warehouse, "balance_day", {"date": day},
                        _gold_sources(warehouse, day, manifest))]


def _month_days(warehouse: Warehouse, month: str) -> list[str]:
    """The days of ``month`` (YYYY-MM) that have day balances."""
    return [d for d in warehouse.partitions("balance_day", "date") if d.startswith(month)]


def _month_sources(warehouse: Warehouse, month: str) -> dict[str, str]:
    """What a month's balances are built from.

    Its day balances, the meters (a transformer's feeder and branch) and the figures'
    definitions.
    """
    return {**{source_key("balance_day", {"date": d}): source(warehouse, "balance_day",
                                                                {"date": d})
               for d in _month_days(warehouse, month)},
            "meters": source(warehouse, "meters"),
            "figures": f"definitions v{figures.DEFINITIONS_VERSION}"}


def pending_months(*, settings: Settings) -> list[str]:
    """Months whose balances were not built from their current day balances."""
    warehouse = Warehouse.at(settings.warehouse)
    return [month for month in months_of(warehouse.partitions("balance_day", "date"))
            if is_stale(warehouse, "balance_month", {"month": month},
                        _month_sources(warehouse, month))]


def build_month(month: str, *, settings: Settings) -> int:
    """Month balances from the day balances of that month; returns node count."""
    warehouse = Warehouse.at(settings.warehouse)
    days = _month_days(warehouse, month)
    if not days:
        raise NoDataError(f"no day balances for {month}",
                          fix="check the month (YYYY-MM) or ingest data for it first")
    daily = warehouse.scan("balance_day").filter(pl.col("date").is_in(days)).collect()
    transformers = daily.filter(pl.col("level") == "transformer")
    # the same rule as the day's: the transformer's latest meter row
    topo = feeders_of(warehouse.scan("meters").collect())
    summed = transformers.group_by(pl.col("node_id").alias("transformer_id")).agg(
        *balance_sums(), technical_sum(), technical_method(),
        pl.col("has_total_meter").all(),
        pl.col("days").sum(),
    ).join(topo, on="transformer_id", how="left")
    first = dt.date.fromisoformat(f"{month}-01")
    length = ((first + dt.timedelta(days=32)).replace(day=1) - first).days
    balances = roll_up(summed, period=month, settings=settings, days_in_period=length)
    write_partition(balances, "balance_month", {"month": month}, warehouse=warehouse,
                    sources=_month_sources(warehouse, month))
    return balances.height


def months_of(days: list[str]) -> list[str]:
    """Distinct months (YYYY-MM) of a list of days."""
    return sorted({d[:7] for d in days})
